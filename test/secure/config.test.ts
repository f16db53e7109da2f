import { describe, expect, it } from 'vitest';
import { FedsecError } from '../../src/core/errors.js';
import { createSession } from '../../src/secure/config.js';
import { makeRoster } from './helpers.js';

function configError(fn: () => unknown): FedsecError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(FedsecError);
    expect((err as FedsecError).code).toBe('config');
    return err as FedsecError;
  }
  throw new Error('expected a config error');
}

describe('secure-aggregation session config', () => {
  it('resolves defaults: k = 2⌈log₂ n⌉, t = ⌊k/2⌋ + 1, 32-bit field, d + 1 words', () => {
    const { session } = makeRoster(12, { vectorLength: 5 });
    expect(session.degree).toBe(8);
    expect(session.threshold).toBe(5);
    expect(session.modulusBits).toBe(32);
    expect(session.fieldLength).toBe(6);
    expect(session.minSurvivors).toBe(6);
    expect(session.quantisation).toEqual({ clip: 8, maxWeight: 1, participants: 12, modulusBits: 32 });
  });

  it('fails closed when t ≤ k/2, naming the secure minimum', () => {
    const { config } = makeRoster(10);
    const err = configError(() => createSession({ ...config, degree: 8, threshold: 4 }));
    expect(err.message).toMatch(/threshold t=4 must exceed k\/2 = 4.*use t ≥ 5/);
  });

  it('rejects degrees the Shamir library or the graph cannot support', () => {
    const { config } = makeRoster(9);
    expect(configError(() => createSession({ ...config, degree: 9 })).message).toMatch(/exceeds n − 1 = 8/);
    expect(configError(() => createSession({ ...config, degree: 3 })).message).toMatch(/n·k must be even/);
    expect(configError(() => createSession({ ...config, degree: 256 })).message).toMatch(/degree/);
    expect(configError(() => createSession({ ...config, degree: 4, threshold: 5 })).message).toMatch(/exceeds the degree/);
  });

  it('caps classic SecAgg at 256 participants (255 Shamir shares) but lets SecAgg+ go beyond', () => {
    const { config } = makeRoster(300, { degree: 20 });
    expect(createSession(config).n).toBe(300);
    expect(configError(() => createSession({ ...config, degree: 299 })).message).toMatch(/at most 255 shares/);
  });

  it('rejects malformed identities and rosters', () => {
    const { config } = makeRoster(4);
    const ps = config.participants;
    expect(configError(() => createSession({ ...config, sessionId: new Uint8Array(16) })).message).toMatch(/sessionId.*32 bytes/);
    expect(configError(() => createSession({ ...config, participants: [...ps, { ...ps[0]!, identityPublicKey: ps[1]!.identityPublicKey }] })).message).toMatch(
      /appears twice|reuses another participant's identity key/,
    );
    expect(configError(() => createSession({ ...config, participants: [...ps.slice(1), { id: 'x', identityPublicKey: ps[1]!.identityPublicKey }] })).message).toMatch(
      /reuses another participant's identity key/,
    );
    expect(configError(() => createSession({ ...config, participants: ps.slice(0, 2) })).message).toMatch(/at least 3 participants/);
    expect(configError(() => createSession({ ...config, round: -1 })).message).toMatch(/round/);
    expect(configError(() => createSession({ ...config, vectorLength: 0 })).message).toMatch(/vectorLength/);
  });

  it('rejects weights and field sizes whose sum could wrap', () => {
    const { config } = makeRoster(10);
    expect(configError(() => createSession({ ...config, modulusBits: 8, maxWeight: 26 })).message).toMatch(/use maxWeight ≤ 25/);
    expect(createSession({ ...config, modulusBits: 8, maxWeight: 25 }).quantisation.maxWeight).toBe(25);
  });

  it('indexes participants by sorted id, so roster order does not change the session', () => {
    const { config } = makeRoster(16);
    const a = createSession(config);
    const b = createSession({ ...config, participants: [...config.participants].reverse() });
    expect(b.ids).toEqual(a.ids);
    expect(b.neighbours).toEqual(a.neighbours);
    expect(() => a.indexOf('nobody')).toThrow(/not a participant/);
  });
});
