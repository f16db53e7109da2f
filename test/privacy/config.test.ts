import { describe, expect, it } from 'vitest';
import { FedsecError } from '../../src/core/errors.js';
import { updateNoiseMultiplier } from '../../src/privacy/adaptive-clipping.js';
import { parseDpConfig, resolveDpConfig } from '../../src/privacy/config.js';
import { RdpAccountant } from '../../src/privacy/rdp-accountant.js';

function messageOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(FedsecError);
    return (e as Error).message;
  }
  throw new Error('expected an error');
}

describe('parseDpConfig', () => {
  it('accepts a minimal client-level config and fills adaptive-clipping defaults', () => {
    const c = parseDpConfig({ mode: 'client', delta: 1e-5, noiseMultiplier: 1, clipNorm: 0.5, adaptiveClipping: {} });
    expect(c.adaptiveClipping).toEqual({ targetQuantile: 0.5, learningRate: 0.2 });
  });

  it('needs noiseMultiplier or epsilon, and says how to choose', () => {
    const msg = messageOf(() => parseDpConfig({ mode: 'client', delta: 1e-5, clipNorm: 1 }));
    expect(msg).toMatch(/privacy\.noiseMultiplier: give noiseMultiplier .* or epsilon/);
  });

  it('lists every problem with its path', () => {
    const msg = messageOf(() =>
      parseDpConfig({ mode: 'central', delta: 0, clipNorm: -1, epsilon: 'a lot', samplingRate: 2, extra: true }),
    );
    expect(msg).toMatch(/privacy\.mode: mode must be 'client' .* or 'sample'/);
    expect(msg).toMatch(/privacy\.delta: delta must be in \(0, 1\)/);
    expect(msg).toMatch(/privacy\.clipNorm: clipNorm must be a positive number/);
    expect(msg).toMatch(/privacy\.epsilon: epsilon must be a number/);
    expect(msg).toMatch(/privacy\.samplingRate: samplingRate must be in \(0, 1\]/);
    expect(msg).toMatch(/extra/);
  });

  it('rejects adaptive clipping for sample-level DP and bad quantiles', () => {
    expect(
      messageOf(() => parseDpConfig({ mode: 'sample', delta: 1e-5, noiseMultiplier: 1, clipNorm: 1, adaptiveClipping: {} })),
    ).toMatch(/privacy\.adaptiveClipping: adaptiveClipping applies to client-level DP/);
    expect(
      messageOf(() =>
        parseDpConfig({ mode: 'client', delta: 1e-5, noiseMultiplier: 1, clipNorm: 1, adaptiveClipping: { targetQuantile: 1.2 } }),
      ),
    ).toMatch(/privacy\.adaptiveClipping\.targetQuantile: targetQuantile must be in \(0, 1\)/);
  });
});

describe('resolveDpConfig', () => {
  it('calibrates z from ε over the planned rounds (q = participants per round / population)', () => {
    const c = parseDpConfig({ mode: 'client', delta: 1e-5, epsilon: 4, clipNorm: 1 });
    const r = resolveDpConfig(c, { rounds: 200, samplingRate: 20 / 1000, population: 1000 });
    expect(r.calibrated).toBe(true);
    expect(r.expectedParticipants).toBeCloseTo(20, 12);
    expect(r.steps).toBe(200);
    expect(r.epsilonBudget).toBe(4);
    expect(r.plannedEpsilon).toBeLessThanOrEqual(4);
    const eps = new RdpAccountant().compose({ noiseMultiplier: r.noiseMultiplier, samplingRate: 0.02, steps: 200 }).epsilon(1e-5);
    expect(eps.epsilon).toBe(r.plannedEpsilon);
    expect(eps.epsilon).toBeGreaterThan(3.99);
  });

  it('uses a given z, reports the planned ε, and resolves adaptive clipping with σ_b = m/20', () => {
    const c = parseDpConfig({
      mode: 'client',
      delta: 1e-5,
      noiseMultiplier: 1.1,
      clipNorm: 0.1,
      samplingRate: 0.05,
      adaptiveClipping: { learningRate: 0.1 },
    });
    const r = resolveDpConfig(c, { rounds: 100, samplingRate: 0.5, population: 2000 });
    expect(r.samplingRate).toBe(0.05); // config wins over the plan
    expect(r.calibrated).toBe(false);
    expect(r.epsilonBudget).toBeUndefined();
    expect(r.adaptiveClipping).toEqual({
      targetQuantile: 0.5,
      learningRate: 0.1,
      countNoiseStd: 5,
      updateNoiseMultiplier: updateNoiseMultiplier(1.1, 5),
    });
  });

  it('explains what is missing or inconsistent', () => {
    const c = parseDpConfig({ mode: 'client', delta: 1e-5, noiseMultiplier: 1, clipNorm: 1 });
    expect(messageOf(() => resolveDpConfig(c, { rounds: 10, population: 100 }))).toMatch(/needs a sampling rate.*privacy\.samplingRate/);
    expect(messageOf(() => resolveDpConfig(c, { rounds: 10, samplingRate: 0.1 }))).toMatch(/m = q·N/);
    expect(messageOf(() => resolveDpConfig(c, { rounds: 0, samplingRate: 0.1, population: 100 }))).toMatch(/planned rounds/);
    const tightCount = parseDpConfig({ mode: 'client', delta: 1e-5, noiseMultiplier: 1, clipNorm: 1, adaptiveClipping: { countNoiseStd: 0.4 } });
    expect(messageOf(() => resolveDpConfig(tightCount, { rounds: 10, samplingRate: 0.1, population: 100 }))).toMatch(
      /need σ_b > z\/2 = 0\.5/,
    );
    const impossible = parseDpConfig({ mode: 'client', delta: 1e-5, epsilon: 1e-4, clipNorm: 1 });
    expect(messageOf(() => resolveDpConfig(impossible, { rounds: 10, samplingRate: 0.1, population: 100 }))).toMatch(/raise ε or δ/);
  });

  it('sample mode counts steps per round', () => {
    const c = parseDpConfig({ mode: 'sample', delta: 1e-5, noiseMultiplier: 1.1, clipNorm: 1 });
    const r = resolveDpConfig(c, { rounds: 5, stepsPerRound: 40, samplingRate: 0.01 });
    expect(r.steps).toBe(200);
    expect(r.expectedParticipants).toBeUndefined();
  });
});
