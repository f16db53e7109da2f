import { inflateSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bestAssignment, clipToUnit, cosineSimilarity, mse, psnr, ssim } from '../../src/attacks/privacy/image-metrics.js';
import { crc32, encodeGreyPng } from '../../src/attacks/privacy/png.js';

describe('PSNR', () => {
  it('is 10·log10(1/MSE) for peak 1 and +∞ for identical images', () => {
    const a = new Float32Array(100).fill(0.5);
    expect(psnr(a, a)).toBe(Infinity);
    const b = a.map((v, i) => v + (i % 2 ? 0.1 : -0.1)); // MSE = 0.01 → 20 dB
    expect(mse(a, b)).toBeCloseTo(0.01, 7);
    expect(psnr(a, b)).toBeCloseTo(20, 5);
    // All-black vs all-white: MSE 1 → 0 dB.
    expect(psnr(new Float32Array(10), new Float32Array(10).fill(1))).toBe(0);
    expect(() => psnr(new Float32Array(3), new Float32Array(4))).toThrow(/3 and 4 pixels/);
  });

  it('clipping maps values (and NaN) into [0, 1]', () => {
    expect(Array.from(clipToUnit([-1, 0.25, 2, Number.NaN]))).toEqual([0, 0.25, 1, 0]);
  });
});

describe('SSIM', () => {
  it('is 1 for identical images, symmetric, ≤ 1, and low for unrelated noise', () => {
    const rng = (seed: number) => () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
    const r = rng(7);
    const a = Float32Array.from({ length: 28 * 28 }, () => r());
    const b = Float32Array.from({ length: 28 * 28 }, () => r());
    const shape: [number, number, number] = [28, 28, 1];
    expect(ssim(a, a, shape)).toBeCloseTo(1, 10);
    expect(ssim(a, b, shape)).toBeCloseTo(ssim(b, a, shape), 12);
    expect(ssim(a, b, shape)).toBeLessThan(0.1);
    // Uniform images: only the luminance term remains, (2μaμb + C1)/(μa² + μb² + C1).
    const c1 = 0.01 ** 2;
    const u = new Float32Array(64).fill(0.2);
    const v = new Float32Array(64).fill(0.6);
    expect(ssim(u, v, [8, 8, 1])).toBeCloseTo((2 * 0.2 * 0.6 + c1) / (0.04 + 0.36 + c1), 6);
  });

  it('cosine similarity of parallel vectors is 1', () => {
    expect(cosineSimilarity([1, 2, 3], [2, 4, 6])).toBeCloseTo(1, 12);
    expect(cosineSimilarity([1, 0], [0, 1])).toBe(0);
  });
});

function bruteBest(score: number[][]): number {
  const n = score.length;
  const m = score[0]!.length;
  let best = -Infinity;
  const go = (row: number, used: Set<number>, acc: number): void => {
    if (row === n) {
      best = Math.max(best, acc);
      return;
    }
    for (let c = 0; c < m; c++) {
      if (used.has(c)) continue;
      used.add(c);
      go(row + 1, used, acc + score[row]![c]!);
      used.delete(c);
    }
  };
  go(0, new Set(), 0);
  return best;
}

describe('optimal assignment (Hungarian)', () => {
  it('finds the maximum-total one-to-one assignment (vs brute force)', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 5 }).chain((n) => fc.integer({ min: n, max: 6 }).chain((m) =>
        fc.array(fc.array(fc.integer({ min: -20, max: 20 }), { minLength: m, maxLength: m }), { minLength: n, maxLength: n }))),
      (score) => {
        const a = bestAssignment(score);
        expect(new Set(a).size).toBe(a.length);
        const total = a.reduce((s, c, r) => s + score[r]![c]!, 0);
        expect(total).toBe(bruteBest(score));
      },
    ), { numRuns: 200 });
  });

  it('rejects infinite scores and too few columns', () => {
    expect(() => bestAssignment([[Infinity]])).toThrow(/finite/);
    expect(() => bestAssignment([[1], [2]])).toThrow(/cannot assign 2/);
  });
});

describe('PNG encoder', () => {
  it('CRC-32 matches the standard check value', () => {
    expect(crc32(Buffer.from('123456789', 'ascii'))).toBe(0xcbf43926);
  });

  it('writes a greyscale PNG whose pixels decode back', () => {
    const px = Float32Array.from({ length: 12 }, (_, i) => i / 11);
    const png = encodeGreyPng(px, 4, 3);
    expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    expect(png.readUInt32BE(16)).toBe(4);
    expect(png.readUInt32BE(20)).toBe(3);
    const idatLen = png.readUInt32BE(33);
    expect(png.toString('ascii', 37, 41)).toBe('IDAT');
    const raw = inflateSync(png.subarray(41, 41 + idatLen));
    const rows = [0, 1, 2].map((y) => Array.from(raw.subarray(y * 5 + 1, y * 5 + 5)));
    expect(rows.flat()).toEqual(Array.from(px, (v) => Math.round(v * 255)));
    // Each chunk's CRC covers type + data.
    expect(png.readUInt32BE(41 + idatLen)).toBe(crc32(png.subarray(37, 41 + idatLen)));
  });
});
