import { describe, expect, it } from 'vitest';
import { minimizeAdam, minimizeLbfgs, type Objective } from '../../src/attacks/privacy/minimize.js';

const rosenbrock: Objective = (x) => {
  const [a, b] = [x[0]!, x[1]!];
  return { f: (1 - a) ** 2 + 100 * (b - a * a) ** 2, g: Float64Array.from([-2 * (1 - a) - 400 * a * (b - a * a), 200 * (b - a * a)]) };
};

describe('minimisers', () => {
  it('L-BFGS solves Rosenbrock from (−1.2, 1)', () => {
    const r = minimizeLbfgs(rosenbrock, Float64Array.from([-1.2, 1]), { maxIterations: 200 });
    expect(r.x[0]).toBeCloseTo(1, 4);
    expect(r.x[1]).toBeCloseTo(1, 4);
    expect(r.f).toBeLessThan(1e-8);
  });

  it('L-BFGS behaves the same on a rescaled objective (curvature test is relative)', () => {
    const scaled = (s: number): Objective => (x) => {
      const { f, g } = rosenbrock(x);
      return { f: f * s, g: g.map((v) => v * s) };
    };
    for (const s of [1e-6, 1e-3, 1e3]) {
      const r = minimizeLbfgs(scaled(s), Float64Array.from([-1.2, 1]), { maxIterations: 300 });
      expect(r.x[0]).toBeCloseTo(1, 3);
    }
  });

  it('L-BFGS stops on an evaluation budget and reports non-finite objectives', () => {
    const r = minimizeLbfgs(rosenbrock, Float64Array.from([-1.2, 1]), { maxIterations: 200, maxEvaluations: 10 });
    expect(r.evaluations).toBeLessThanOrEqual(10);
    const bad = minimizeLbfgs(() => ({ f: NaN, g: new Float64Array(1) }), new Float64Array(1), { maxIterations: 5 });
    expect(bad.stopReason).toBe('non-finite');
  });

  it('Adam minimises a quadratic and respects a projection', () => {
    const q: Objective = (x) => ({ f: (x[0]! - 3) ** 2 + (x[1]! + 1) ** 2, g: Float64Array.from([2 * (x[0]! - 3), 2 * (x[1]! + 1)]) });
    const free = minimizeAdam(q, Float64Array.from([0, 0]), { iterations: 2000, learningRate: 0.05 });
    expect(free.x[0]).toBeCloseTo(3, 2);
    expect(free.x[1]).toBeCloseTo(-1, 2);
    const boxed = minimizeAdam(q, Float64Array.from([0.5, 0.5]), {
      iterations: 500,
      learningRate: 0.05,
      project: (x) => x.forEach((v, i) => (x[i] = Math.min(1, Math.max(0, v)))),
    });
    expect(boxed.x[0]).toBeCloseTo(1, 6);
    expect(boxed.x[1]).toBeCloseTo(0, 6);
    expect(() => minimizeAdam(q, new Float64Array(2), { iterations: 1, learningRate: 0 })).toThrow(/learning rate/);
  });
});
