/**
 * What the coordinator sees of one participant is indistinguishable from uniform, and no plaintext
 * update ever reaches it. Both checks are run against deliberately broken variants (no mask, a
 * 16-bit mask, a participant that sends its plaintext) to show they can fail.
 */
import { createCipheriv, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SeededRng } from '../../src/core/rng.js';
import { signMessage } from '../../src/secure/codec.js';
import { runInProcessRound } from '../../src/secure/in-process-round.js';
import type { MaskedInputMessage } from '../../src/secure/messages.js';
import { quantiseUpdate } from '../../src/secure/quantise.js';
import { makeRoster } from './helpers.js';

/**
 * Chi-square with 255 degrees of freedom: 380 is the p ≈ 1e-6 critical value (Wilson–Hilferty:
 * 255·(1 − 2/(9·255) + 4.75·√(2/(9·255)))³ ≈ 377), so a uniform source fails about once in a million.
 */
const CHI2_LIMIT = 380;

function chiSquare(counts: Uint32Array, total: number): number {
  const expected = total / counts.length;
  let chi = 0;
  for (const c of counts) chi += (c - expected) ** 2 / expected;
  return chi;
}

function byteChi2(words: Uint32Array): number {
  const bytes = new Uint8Array(words.buffer, words.byteOffset, words.byteLength);
  const counts = new Uint32Array(256);
  for (const b of bytes) counts[b]!++;
  return chiSquare(counts, bytes.length);
}

function topByteChi2(words: Uint32Array): number {
  const counts = new Uint32Array(256);
  for (const w of words) counts[w >>> 24]!++;
  return chiSquare(counts, words.length);
}

function realisticUpdate(d: number, seed: string): Float32Array {
  const rng = SeededRng.from(seed);
  return Float32Array.from({ length: d }, () => 0.01 * rng.normal());
}

describe('SecAgg privacy: the coordinator view', () => {
  it('a single participant\'s masked vector passes byte and top-bit uniformity tests that unmasked and weakly masked vectors fail', async () => {
    const d = 16383; // 16384 words with the weight: 65536 bytes, 256 expected per byte value
    const roster = makeRoster(5, { vectorLength: d, degree: 4, clip: 1 });
    const { session } = roster;
    const plain = new Map(session.ids.map((id) => [id, quantiseUpdate(realisticUpdate(d, id), 1, session.quantisation)]));
    const seen = new Map<string, Uint32Array>();
    const report = await runInProcessRound({
      session,
      identities: roster.identities,
      input: (id) => plain.get(id)!,
      tamper: ({ message, participant }) => {
        if (message.kind === 'masked-input') seen.set(participant, message.masked);
        return undefined;
      },
    });
    expect(report.outcome.type).toBe('done');
    expect(seen.size).toBe(5);
    for (const masked of seen.values()) {
      expect(byteChi2(masked)).toBeLessThan(CHI2_LIMIT);
      expect(topByteChi2(masked)).toBeLessThan(CHI2_LIMIT);
    }
    // Controls: the same statistics on the plaintext and on a 16-bit (weak) mask.
    const q = plain.get('p000')!;
    expect(byteChi2(q)).toBeGreaterThan(10 * CHI2_LIMIT);
    expect(topByteChi2(q)).toBeGreaterThan(10 * CHI2_LIMIT);
    const keystream = createCipheriv('aes-256-ctr', randomBytes(32), new Uint8Array(16)).update(new Uint8Array(q.length * 4));
    const ks = new Uint32Array(keystream.buffer, keystream.byteOffset, q.length);
    const weak = q.map((w, i) => (w + (ks[i]! & 0xffff)) >>> 0);
    expect(topByteChi2(weak)).toBeGreaterThan(10 * CHI2_LIMIT);
    expect(byteChi2(weak)).toBeGreaterThan(CHI2_LIMIT);
  });

  it('no plaintext quantised update (or float update) appears in any byte the coordinator receives', async () => {
    const d = 50;
    const roster = makeRoster(7, { vectorLength: d, degree: 6, clip: 1, maxWeight: 5 });
    const { session } = roster;
    const updates = new Map(session.ids.map((id) => [id, realisticUpdate(d, `leak/${id}`)]));
    const quantised = new Map(session.ids.map((id, u) => [id, quantiseUpdate(updates.get(id)!, 1 + (u % 5), session.quantisation)]));

    const windows = (bytes: Uint8Array) => Array.from({ length: bytes.length / 4 - 3 }, (_, i) => Buffer.from(bytes.subarray(4 * i, 4 * i + 16)));
    const leaks = (inbox: readonly Uint8Array[]) => {
      const haystack = Buffer.concat(inbox);
      let found = 0;
      for (const id of session.ids) {
        const q = quantised.get(id)!;
        const f = updates.get(id)!;
        for (const w of [...windows(new Uint8Array(q.buffer)), ...windows(new Uint8Array(f.buffer))]) if (haystack.indexOf(w) !== -1) found++;
      }
      return found;
    };

    const report = await runInProcessRound({
      session,
      identities: roster.identities,
      input: (id) => quantised.get(id)!,
      dropouts: { 'masked-input': ['p006'] },
      recordCoordinatorInbox: true,
    });
    expect(report.outcome.type).toBe('done');
    expect(report.coordinatorInbox.length).toBeGreaterThanOrEqual(7 * 3);
    expect(leaks(report.coordinatorInbox)).toBe(0);

    // Control: a participant that (wrongly) sends its plaintext is caught by the same scan.
    const broken = await runInProcessRound({
      session,
      identities: roster.identities,
      input: (id) => quantised.get(id)!,
      recordCoordinatorInbox: true,
      tamper: ({ message, participant }) => {
        if (participant !== 'p002' || message.kind !== 'masked-input') return undefined;
        const { signature: _s, ...unsigned } = message;
        return signMessage<MaskedInputMessage>({ ...unsigned, masked: quantised.get('p002')! }, roster.identities.get('p002')!);
      },
    });
    expect(leaks(broken.coordinatorInbox)).toBeGreaterThan(40);
  });
});
