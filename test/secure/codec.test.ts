import { beforeAll, describe, expect, it } from 'vitest';
import { FedsecError } from '../../src/core/errors.js';
import { decodeMessage, encodedSize, encodeMessage, verifyMessage } from '../../src/secure/codec.js';
import { runInProcessRound } from '../../src/secure/in-process-round.js';
import type { MaskedInputMessage, SecAggMessage } from '../../src/secure/messages.js';
import { makeRoster } from './helpers.js';

function protocolError(fn: () => unknown): FedsecError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(FedsecError);
    expect((err as FedsecError).code).toBe('protocol');
    return err as FedsecError;
  }
  throw new Error('expected a protocol error');
}

describe('secure-aggregation message codec', () => {
  const seen = new Map<string, SecAggMessage>();
  let roster: ReturnType<typeof makeRoster>;

  beforeAll(async () => {
    roster = makeRoster(5, { vectorLength: 6, modulusBits: 16, maxWeight: 3 });
    const report = await runInProcessRound({
      session: roster.session,
      identities: roster.identities,
      input: () => Uint32Array.from([1, 2, 3, 4, 5, 60000, 1]),
      dropouts: { 'masked-input': ['p004'] }, // so mask-key shares are revealed too
      tamper: ({ message }) => {
        if (!seen.has(message.kind)) seen.set(message.kind, message);
        return undefined;
      },
    });
    expect(report.outcome.type).toBe('done');
  });

  it('round-trips every message kind byte-exactly', () => {
    expect([...seen.keys()].sort()).toEqual(
      ['advertise-keys', 'consistency-request', 'consistency-signature', 'key-relay', 'masked-input', 'share-keys', 'share-relay', 'unmask-request', 'unmask-shares'].sort(),
    );
    for (const msg of seen.values()) {
      const bytes = encodeMessage(msg);
      expect(encodedSize(msg)).toBe(bytes.length);
      const back = decodeMessage(bytes);
      expect(back).toEqual(msg);
      expect(encodeMessage(back)).toEqual(bytes);
    }
    const unmask = seen.get('unmask-shares');
    expect(unmask?.kind === 'unmask-shares' && unmask.maskKeyShares.length + unmask.selfSeedShares.length).toBeGreaterThan(0);
  });

  it('packs a 16-bit field into 2 bytes per word and keeps signatures valid after decoding', () => {
    const masked = seen.get('masked-input') as MaskedInputMessage;
    expect(encodedSize(masked)).toBe(4 + 1 + 32 + 4 + 2 + 1 + 4 + 7 * 2 + 64);
    const back = decodeMessage(encodeMessage(masked)) as MaskedInputMessage;
    expect(verifyMessage(back, roster.session.identityKeys[back.sender]!)).toBe(true);
    expect(verifyMessage({ ...back, round: back.round + 1 }, roster.session.identityKeys[back.sender]!)).toBe(false);
  });

  it('decodes from a Buffer view (as transports deliver) into independent plain Uint8Arrays', () => {
    const masked = seen.get('masked-input') as MaskedInputMessage;
    const bytes = encodeMessage(masked);
    const pool = Buffer.alloc(bytes.length + 13);
    pool.set(bytes, 13);
    const back = decodeMessage(pool.subarray(13)) as MaskedInputMessage;
    expect(back).toEqual(masked);
    expect(Object.getPrototypeOf(back.signature)).toBe(Uint8Array.prototype);
    pool.fill(0);
    expect(back).toEqual(masked); // nothing aliases the transport's buffer
  });

  it('rejects every truncation of every message', () => {
    for (const msg of seen.values()) {
      const bytes = encodeMessage(msg);
      for (let cut = 0; cut < bytes.length; cut += Math.max(1, Math.floor(bytes.length / 97))) {
        expect(protocolError(() => decodeMessage(bytes.subarray(0, cut))).message).toMatch(/truncated|malformed|magic/);
      }
    }
  });

  it('rejects trailing bytes, bad magic, unknown kinds and out-of-field words', () => {
    const bytes = encodeMessage(seen.get('advertise-keys')!);
    expect(protocolError(() => decodeMessage(Uint8Array.from([...bytes, 0]))).message).toMatch(/1 unexpected trailing bytes/);
    const badMagic = bytes.slice();
    badMagic[0] = 0x47;
    expect(protocolError(() => decodeMessage(badMagic)).message).toMatch(/magic/);
    const badKind = bytes.slice();
    badKind[4] = 99;
    expect(protocolError(() => decodeMessage(badKind)).message).toMatch(/unknown secure-aggregation message kind 99/);

    const masked = seen.get('masked-input') as MaskedInputMessage;
    // Claim 12 modulus bits while the words are 16-bit: 60000 is not below 2^12.
    const wide = encodeMessage({ ...masked, modulusBits: 12, masked: Uint32Array.from([60000, 1, 1, 1, 1, 1, 1]) });
    expect(protocolError(() => decodeMessage(wide)).message).toMatch(/not below 2\^12/);
  });

  it('refuses to encode malformed fields', () => {
    const adv = seen.get('advertise-keys')!;
    expect(protocolError(() => encodeMessage({ ...adv, sessionId: new Uint8Array(31) })).message).toMatch(/session id: expected 32 bytes/);
    expect(protocolError(() => encodeMessage({ ...adv, signature: new Uint8Array(10) } as SecAggMessage)).message).toMatch(/signature/);
  });
});
