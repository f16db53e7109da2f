import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FedsecError } from '../../src/core/errors.js';
import { SeededRng } from '../../src/core/rng.js';
import { l2Norm } from '../../src/core/vector.js';
import type { StageContext } from '../../src/federation/stages.js';
import { chain } from '../../src/federation/stages.js';
import { AdaptiveClipping, updateNoiseMultiplier } from '../../src/privacy/adaptive-clipping.js';
import { centralGaussianNoiseStage, centralNoiseStd } from '../../src/privacy/central-noise-stage.js';
import { l2ClipStage, type ClipRecord } from '../../src/privacy/clip-stage.js';
import { rdpSubsampledGaussian } from '../../src/privacy/rdp-accountant.js';

const client: StageContext = { round: 4, actor: 'p7', numSamples: 100, contributors: 1 };
const server = (contributors: number): StageContext => ({ round: 4, actor: 'coordinator', numSamples: 1000, contributors });

function std(v: Float32Array, mean = 0): number {
  let s = 0;
  for (const x of v) s += (x - mean) ** 2;
  return Math.sqrt(s / v.length);
}

describe('l2ClipStage', () => {
  it('scales long updates onto the ball, keeps short ones, and records the pre-clip norm', async () => {
    const records: ClipRecord[] = [];
    const stage = l2ClipStage({ clipNorm: 1, onClip: (r) => records.push(r) });
    const long = Float32Array.of(3, 4);
    const out = await stage.apply(long, client);
    expect(l2Norm(out)).toBeLessThanOrEqual(1);
    expect(l2Norm(out)).toBeCloseTo(1, 6);
    expect(out[0]! / out[1]!).toBeCloseTo(0.75, 6);
    expect(Array.from(long)).toEqual([3, 4]);
    const short = Float32Array.of(0.3, 0.4);
    expect(await stage.apply(short, client)).toBe(short);
    expect(records).toEqual([
      { round: 4, actor: 'p7', preClipNorm: 5, clipNorm: 1, withinClip: false },
      { round: 4, actor: 'p7', preClipNorm: expect.closeTo(0.5, 6), clipNorm: 1, withinClip: true },
    ]);
  });

  it('property: the clipped norm never exceeds C, even after float32 rounding', () => {
    fc.assert(
      fc.asyncProperty(
        fc.float32Array({ minLength: 1, maxLength: 300, noDefaultInfinity: true, noNaN: true, min: -1e6, max: 1e6 }),
        fc.double({ min: 1e-3, max: 1e3, noNaN: true }),
        async (v, c) => {
          const out = await l2ClipStage({ clipNorm: c }).apply(v, client);
          expect(l2Norm(out)).toBeLessThanOrEqual(c);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('takes C per round from a function and rejects non-finite updates and bad C', async () => {
    const stage = l2ClipStage({ clipNorm: (ctx) => ctx.round / 2 });
    expect(l2Norm(await stage.apply(Float32Array.of(10, 0), client))).toBeCloseTo(2, 6);
    await expect(async () => stage.apply(Float32Array.of(1, Number.NaN), client)).rejects.toThrow(/non-finite entry at index 1/);
    await expect(async () => l2ClipStage({ clipNorm: 0 }).apply(Float32Array.of(1), client)).rejects.toThrow(FedsecError);
  });
});

describe('centralGaussianNoiseStage (DP-FedAvg)', () => {
  it('noise std on the mean is z·C/m with m the expected number of participants', async () => {
    const stage = centralGaussianNoiseStage({ noiseMultiplier: 1.2, clipNorm: 2, expectedParticipants: 8 });
    const out = await stage.apply(new Float32Array(200_000), server(10));
    expect(centralNoiseStd(1.2, 2, 8)).toBeCloseTo(0.3, 15);
    expect(Math.abs(std(out) / 0.3 - 1)).toBeLessThan(0.01);
  });

  it('turns the uniform mean over |S| into Σ/m (fixed denominator), or takes a sum', async () => {
    const tinyNoise = { noiseMultiplier: 1e-9, clipNorm: 1, expectedParticipants: 10 };
    const mean = Float32Array.of(0.5, -1, 2);
    const out = await centralGaussianNoiseStage(tinyNoise).apply(mean, server(6));
    // sum = mean·6, released sum/10
    expect(Array.from(out).map((x) => Number(x.toFixed(6)))).toEqual([0.3, -0.6, 1.2]);
    const fromSum = await centralGaussianNoiseStage({ ...tinyNoise, input: 'sum' }).apply(Float32Array.of(3, -6, 12), server(6));
    expect(Array.from(fromSum).map((x) => Number(x.toFixed(6)))).toEqual([0.3, -0.6, 1.2]);
  });

  it('still adds noise when nobody contributed, uses the round’s C, and refuses bad input', async () => {
    let c = 1;
    const stage = centralGaussianNoiseStage({ noiseMultiplier: 1, clipNorm: () => c, expectedParticipants: 5 });
    const empty = await stage.apply(new Float32Array(50_000), server(0));
    expect(Math.abs(std(empty) / 0.2 - 1)).toBeLessThan(0.03);
    c = 3;
    const wider = await stage.apply(new Float32Array(50_000), server(0));
    expect(Math.abs(std(wider) / 0.6 - 1)).toBeLessThan(0.03);
    await expect(async () => stage.apply(Float32Array.of(Infinity), server(1))).rejects.toThrow(/non-finite/);
    expect(() => centralGaussianNoiseStage({ noiseMultiplier: 1, clipNorm: 1, expectedParticipants: 0 })).toThrow(/q·N/);
  });

  it('chains with clipping: clip on the client, noise on the server', async () => {
    const clip = l2ClipStage({ clipNorm: 1 });
    const clipped = await Promise.all(
      [Float32Array.of(10, 0), Float32Array.of(0, 0.5)].map((u) => chain(clip).apply(u, client)),
    );
    const mean = Float32Array.of((clipped[0]![0]! + clipped[1]![0]!) / 2, (clipped[0]![1]! + clipped[1]![1]!) / 2);
    const out = await centralGaussianNoiseStage({ noiseMultiplier: 1e-9, clipNorm: 1, expectedParticipants: 4 }).apply(mean, server(2));
    expect(out[0]).toBeCloseTo(0.25, 6);
    expect(out[1]).toBeCloseTo(0.125, 6);
  });
});

describe('adaptive clipping (Andrew et al. 2021)', () => {
  it('z_Δ = (z⁻² − (2σ_b)⁻²)^(−½), and z_Δ with the count noise composes to exactly z', () => {
    expect(updateNoiseMultiplier(1, 1)).toBeCloseTo(1 / Math.sqrt(0.75), 14);
    const z = 1.3;
    const sigmaB = 2.5; // m = 50, σ_b = m/20
    const zDelta = updateNoiseMultiplier(z, sigmaB);
    expect(zDelta).toBeGreaterThan(z);
    // Without subsampling the RDP of the pair is α/(2z_Δ²) + α/(2(2σ_b)²) = α/(2z²).
    for (const a of [1.5, 2, 10, 64]) {
      const pair = rdpSubsampledGaussian(1, zDelta, a) + rdpSubsampledGaussian(1, 2 * sigmaB, a);
      expect(pair).toBeCloseTo(rdpSubsampledGaussian(1, z, a), 12);
    }
  });

  it('refuses count noise that would spend the whole budget', () => {
    expect(() => updateNoiseMultiplier(2, 1)).toThrow(/need σ_b > z\/2 = 1.*countNoiseStd/);
    expect(() => updateNoiseMultiplier(2, 0.9)).toThrow(FedsecError);
  });

  it('applies C ← C·exp(−η(b̃ − γ)) with the centred, fixed-denominator fraction', () => {
    // z and σ_b tiny: the count noise (σ_b/m = 1e-4) is negligible at this tolerance.
    const ac = new AdaptiveClipping({
      initialClipNorm: 2,
      targetQuantile: 0.5,
      learningRate: 0.2,
      expectedParticipants: 10,
      noiseMultiplier: 1e-3,
      countNoiseStd: 1e-3,
    });
    const s1 = ac.update([true, true, true, true, true, true, true, false, false, false]);
    expect(s1.noisyFraction).toBeCloseTo(0.7, 3);
    expect(s1.previousClipNorm).toBe(2);
    expect(s1.clipNorm).toBeCloseTo(2 * Math.exp(-0.2 * (0.7 - 0.5)), 3);
    expect(ac.clipNorm).toBe(s1.clipNorm);
    // 8 of an expected 10 came; 5 within: b̃ = (5·½ − 3·½)/10 + ½ = 0.6
    const s2 = ac.update([true, true, true, true, true, false, false, false]);
    expect(s2.noisyFraction).toBeCloseTo(0.6, 3);
    expect(s2.clipNorm).toBeCloseTo(s1.clipNorm * Math.exp(-0.2 * 0.1), 3);
  });

  it('count noise has std σ_b/m on the fraction', () => {
    const ac = new AdaptiveClipping({
      initialClipNorm: 1,
      targetQuantile: 0.5,
      learningRate: 1e-9, // keep C fixed
      expectedParticipants: 20,
      noiseMultiplier: 1,
      countNoiseStd: 1, // σ_b = m/20
    });
    const bits = Array.from({ length: 20 }, (_, i) => i < 10);
    const fr = Float32Array.from({ length: 4000 }, () => ac.update(bits).noisyFraction);
    expect(Math.abs(std(fr, 0.5) / (1 / 20) - 1)).toBeLessThan(0.06);
  });

  it('tracks the target quantile of the norms under the paper’s default noise (σ_b = m/20)', () => {
    const rng = SeededRng.from(7, 'adaptive-clipping-test');
    const m = 100;
    const ac = new AdaptiveClipping({
      initialClipNorm: 0.1,
      targetQuantile: 0.5,
      learningRate: 0.2,
      expectedParticipants: m,
      noiseMultiplier: 1,
    });
    expect(ac.countNoiseStd).toBe(5);
    // Norms are log-normal with median 3.
    const late: number[] = [];
    for (let round = 0; round < 300; round++) {
      const c = ac.clipNorm;
      const bits = Array.from({ length: m }, () => 3 * Math.exp(0.5 * rng.normal()) <= c);
      ac.update(bits);
      if (round >= 200) late.push(ac.clipNorm);
    }
    const avg = late.reduce((a, b) => a + b, 0) / late.length;
    expect(Math.abs(avg / 3 - 1)).toBeLessThan(0.15);
  });

  it('serialises and validates its options', () => {
    const ac = new AdaptiveClipping({ initialClipNorm: 1.5, targetQuantile: 0.3, learningRate: 0.2, expectedParticipants: 40, noiseMultiplier: 1 });
    const back = AdaptiveClipping.fromJSON(JSON.parse(JSON.stringify(ac)));
    expect(back.toJSON()).toEqual(ac.toJSON());
    expect(back.updateNoiseMultiplier).toBe(ac.updateNoiseMultiplier);
    expect(() => new AdaptiveClipping({ ...ac.toJSON(), initialClipNorm: 1, targetQuantile: 1 })).toThrow(/target quantile/);
    expect(() => AdaptiveClipping.fromJSON({ clipNorm: -1 })).toThrow(/clipNorm/);
  });
});
