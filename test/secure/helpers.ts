/** Shared fixtures for the secure-aggregation tests: rosters with fresh identities, inputs, sums. */
import type { KeyObject } from 'node:crypto';
import { createSession, newSessionId, type SecAggConfigInput, type SecAggSession } from '../../src/secure/config.js';
import { generateIdentity } from '../../src/secure/keys.js';

export interface Roster {
  readonly session: SecAggSession;
  readonly identities: Map<string, KeyObject>;
  readonly config: SecAggConfigInput;
}

export function makeRoster(n: number, overrides: Partial<SecAggConfigInput> = {}): Roster {
  const identities = new Map<string, KeyObject>();
  const participants = Array.from({ length: n }, (_, i) => {
    const id = `p${String(i).padStart(3, '0')}`;
    const identity = generateIdentity();
    identities.set(id, identity.privateKey);
    return { id, identityPublicKey: identity.publicKey };
  });
  const config: SecAggConfigInput = { sessionId: newSessionId(), round: 7, participants, vectorLength: 8, ...overrides };
  return { session: createSession(config), identities, config };
}

/** Exact Σ mod 2^m of the given field vectors. */
export function modularSum(vectors: readonly Uint32Array[], length: number, modulusBits = 32): Uint32Array {
  const out = new Uint32Array(length);
  for (const v of vectors) for (let i = 0; i < length; i++) out[i] = out[i]! + v[i]!;
  if (modulusBits < 32) for (let i = 0; i < length; i++) out[i] = out[i]! & (2 ** modulusBits - 1);
  return out;
}
