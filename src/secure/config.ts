/**
 * The session configuration every party of one secure-aggregation round agrees on, validated with
 * zod and resolved into a `SecAggSession`: sorted roster (indices on the wire are positions in it),
 * identity keys, the public neighbour graph, thresholds and the quantisation range.
 *
 * Limits and why:
 * - degree k ≤ 255: secrets are Shamir-shared with `shamir-secret-sharing` over GF(2^8), which
 *   gives at most 255 shares, one per neighbour. Classic SecAgg (k = n − 1) is therefore limited
 *   to 256 participants; SecAgg+ with k ≤ 255 is not limited in n (indices are 16-bit: n ≤ 65535).
 * - 2 ≤ t (the library's minimum) and t > k/2: with fewer, a malicious coordinator could collect
 *   t shares of a participant's self-mask seed *and* t shares of its mask key from disjoint honest
 *   neighbours and unmask it (each honest neighbour reveals only one of the two for a given peer).
 */
import type { KeyObject } from 'node:crypto';
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { fail } from '../core/errors.js';
import { ed25519PublicKey, KEY_BYTES } from './keys.js';
import { defaultDegree, defaultThreshold, randomRegularGraph, type NeighbourGraph } from './neighbour-graph.js';
import { PublicCoin } from './public-coin.js';
import { levelsPerParticipant, type QuantisationParams } from './quantise.js';

export const MAX_DEGREE = 255;
export const MAX_PARTICIPANTS = 65535;
export const MAX_VECTOR_LENGTH = 1 << 27;
export const SESSION_ID_BYTES = 32;

const bytes = (n: number, what: string) =>
  z.custom<Uint8Array>((b) => b instanceof Uint8Array && b.length === n, { message: `${what} must be a Uint8Array of exactly ${n} bytes` });

const configSchema = z
  .object({
    sessionId: bytes(SESSION_ID_BYTES, 'sessionId'),
    round: z.number().int().min(0).max(0xffffffff),
    participants: z
      .array(
        z.object({
          id: z.string().min(1).max(256),
          identityPublicKey: bytes(KEY_BYTES, 'identityPublicKey (raw Ed25519)'),
        }),
      )
      .min(3, { message: 'secure aggregation needs at least 3 participants' })
      .max(MAX_PARTICIPANTS),
    vectorLength: z.number().int().min(1).max(MAX_VECTOR_LENGTH),
    degree: z.number().int().min(2).optional(),
    threshold: z.number().int().min(2).optional(),
    modulusBits: z.number().int().min(8).max(32).optional(),
    clip: z.number().positive().finite().optional(),
    maxWeight: z.number().int().min(1).optional(),
    minSurvivors: z.number().int().min(2).optional(),
  })
  .strict();

export type SecAggConfigInput = z.input<typeof configSchema>;

export interface SecAggSession {
  readonly sessionId: Uint8Array;
  readonly round: number;
  /** Participant ids sorted by code unit; wire indices are positions in this list. */
  readonly ids: readonly string[];
  readonly identityPublicKeys: readonly Uint8Array[];
  readonly identityKeys: readonly KeyObject[];
  readonly n: number;
  /** k: neighbours per participant. */
  readonly degree: number;
  /** t: shares needed to reconstruct a neighbour's secret; also the minimum live neighbours. */
  readonly threshold: number;
  /** The model dimension d; the protocol masks d + 1 words (the last carries the weight). */
  readonly vectorLength: number;
  readonly fieldLength: number;
  readonly modulusBits: number;
  readonly minSurvivors: number;
  readonly quantisation: QuantisationParams;
  readonly neighbours: NeighbourGraph;
  indexOf(id: string): number;
  isNeighbour(u: number, v: number): boolean;
}

export function newSessionId(): Uint8Array {
  return new Uint8Array(randomBytes(SESSION_ID_BYTES));
}

export function createSession(input: SecAggConfigInput): SecAggSession {
  const parsed = configSchema.safeParse(input);
  if (!parsed.success) {
    const details = parsed.error.issues.map((i) => `${i.path.join('.') || '(config)'}: ${i.message}`).join('; ');
    fail('config', `invalid secure-aggregation config: ${details}`);
  }
  const cfg = parsed.data;
  const roster = [...cfg.participants].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const n = roster.length;
  for (let i = 1; i < n; i++) {
    if (roster[i]!.id === roster[i - 1]!.id) fail('config', `participant id "${roster[i]!.id}" appears twice`);
  }
  const keyHex = new Set<string>();
  for (const p of roster) {
    const hex = Buffer.from(p.identityPublicKey).toString('hex');
    if (keyHex.has(hex)) fail('config', `participant "${p.id}" reuses another participant's identity key`, 'every participant needs its own Ed25519 key');
    keyHex.add(hex);
  }

  const degree = cfg.degree ?? defaultDegree(n);
  if (degree > n - 1) fail('config', `degree k=${degree} exceeds n − 1 = ${n - 1}`, `use k ≤ ${n - 1} (k = n − 1 is classic SecAgg)`);
  if (degree > MAX_DEGREE) {
    fail('config', `degree k=${degree} exceeds ${MAX_DEGREE}: Shamir sharing over GF(2^8) allows at most 255 shares`, 'use a sparser graph (SecAgg+) or buckets');
  }
  if ((n * degree) % 2 !== 0) {
    fail('config', `no ${degree}-regular graph exists on ${n} participants (n·k must be even)`, `use degree ${degree - 1} or ${degree + 1}`);
  }
  const threshold = cfg.threshold ?? defaultThreshold(degree);
  if (threshold > degree) fail('config', `threshold t=${threshold} exceeds the degree k=${degree}`, `use 2 ≤ t ≤ ${degree}`);
  if (2 * threshold <= degree) {
    fail(
      'config',
      `threshold t=${threshold} must exceed k/2 = ${degree / 2}: a malicious coordinator could otherwise reconstruct both a participant's self-mask and its mask key`,
      `use t ≥ ${defaultThreshold(degree)}`,
    );
  }
  const modulusBits = cfg.modulusBits ?? 32;
  const clip = cfg.clip ?? 8;
  const maxWeight = cfg.maxWeight ?? 1;
  const levels = levelsPerParticipant(modulusBits, n);
  if (levels < 1) fail('config', `a ${modulusBits}-bit field cannot hold the sum of ${n} participants`, 'use more modulus bits');
  if (maxWeight > levels) {
    fail('config', `maxWeight ${maxWeight} is too large: the sum of ${n} weights must fit below 2^${modulusBits}`, `use maxWeight ≤ ${levels}`);
  }
  const minSurvivors = cfg.minSurvivors ?? threshold + 1;
  if (minSurvivors > n) fail('config', `minSurvivors ${minSurvivors} exceeds the ${n} participants`);

  const ids = roster.map((p) => p.id);
  const identityPublicKeys = roster.map((p) => new Uint8Array(p.identityPublicKey));
  const identityKeys = roster.map((p) => {
    try {
      return ed25519PublicKey(p.identityPublicKey);
    } catch {
      return fail('config', `participant "${p.id}" has an invalid Ed25519 identity key`);
    }
  });
  const coin = PublicCoin.forSession(cfg.sessionId, cfg.round, roster, 'neighbour-graph');
  const neighbours = randomRegularGraph(n, degree, coin);
  const neighbourSets = neighbours.map((nb) => new Set(nb));
  const indexById = new Map(ids.map((id, i) => [id, i]));

  return Object.freeze({
    sessionId: new Uint8Array(cfg.sessionId),
    round: cfg.round,
    ids: Object.freeze(ids),
    identityPublicKeys: Object.freeze(identityPublicKeys),
    identityKeys: Object.freeze(identityKeys),
    n,
    degree,
    threshold,
    vectorLength: cfg.vectorLength,
    fieldLength: cfg.vectorLength + 1,
    modulusBits,
    minSurvivors,
    quantisation: Object.freeze({ clip, maxWeight, participants: n, modulusBits }),
    neighbours,
    indexOf(id: string): number {
      const i = indexById.get(id);
      return i === undefined ? fail('protocol', `"${id}" is not a participant of this session`) : i;
    },
    isNeighbour(u: number, v: number): boolean {
      return neighbourSets[u]?.has(v) ?? false;
    },
  });
}
