/**
 * Closed-form input recovery from a dense first layer with a bias (Phong et al. 2017; the
 * observation behind Geiping et al. 2020, §3): for z_j = W[:, j]·x + b_j,
 *   ∂ℓ/∂W[:, j] = x · ∂ℓ/∂b_j,   so   x = ∂ℓ/∂W[:, j] / ∂ℓ/∂b_j   for any unit j with ∂ℓ/∂b_j ≠ 0.
 * For a batch (or a sum of participants' updates) each unit gives Σ_i δ_ij x_i / Σ_i δ_ij, a
 * weighted mix of the inputs; a unit that only one example activates (likely with ReLU, never
 * with sigmoid) still yields that example exactly.
 *
 * The attacker does not know which candidates are pure. Without looking at the data, it groups
 * near-identical candidates (cosine ≥ 0.999 — pure inputs recur across units) and ranks groups by
 * size, then by the fraction of pixels inside the data range [0, 1] (mixes with mixed-sign
 * weights fall outside it); it reports one representative per group, best first.
 */
import { fail } from '../../core/errors.js';
import type { ParamLayout } from '../../core/params.js';

export interface AnalyticCandidate {
  readonly image: Float32Array;
  /** Units whose ratio gave (nearly) this image. */
  readonly units: number;
  /** Fraction of values within [0, 1]. */
  readonly inRange: number;
}

/** Index of the first dense kernel in the layout followed by its bias, or a clear error. */
function firstDense(layout: ParamLayout, inputSize: number): { kernel: number; bias: number; units: number } {
  const k = layout.entries[0];
  const b = layout.entries[1];
  if (!k || !b || k.shape.length !== 2 || k.shape[0] !== inputSize || b.shape.length !== 1 || b.shape[0] !== k.shape[1]) {
    fail('model', 'analytic recovery needs a model whose first layer is dense with a bias, applied to the (flattened) input',
      'use victim.kind "mlp" (or the zoo mlp/logreg), or drop the "analytic" attack');
  }
  return { kernel: k.offset, bias: b.offset, units: k.shape[1]! };
}

/** x = ∂W[:, j] / ∂b_j for every unit with |∂b_j| > relTol·max|∂b| (unranked, unit order). */
export function analyticCandidates(gradient: Float32Array, layout: ParamLayout, inputSize: number, relTol = 1e-4): { unit: number; image: Float32Array }[] {
  if (gradient.length !== layout.size) fail('shape', `gradient has ${gradient.length} values, the model has ${layout.size} parameters`);
  const { kernel, bias, units } = firstDense(layout, inputSize);
  let maxB = 0;
  for (let j = 0; j < units; j++) maxB = Math.max(maxB, Math.abs(gradient[bias + j]!));
  const out: { unit: number; image: Float32Array }[] = [];
  if (maxB === 0 || !Number.isFinite(maxB)) return out;
  for (let j = 0; j < units; j++) {
    const gb = gradient[bias + j]!;
    if (!(Math.abs(gb) > relTol * maxB)) continue;
    const img = new Float32Array(inputSize);
    for (let i = 0; i < inputSize; i++) img[i] = gradient[kernel + i * units + j]! / gb;
    out.push({ unit: j, image: img });
  }
  return out;
}

function cosine(a: Float32Array, b: Float32Array): number {
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i]! * b[i]!;
    aa += a[i]! * a[i]!;
    bb += b[i]! * b[i]!;
  }
  return aa === 0 || bb === 0 ? 0 : ab / Math.sqrt(aa * bb);
}

/** The attacker's `count` best guesses (see the module comment), without using any ground truth. */
export function analyticRecovery(gradient: Float32Array, layout: ParamLayout, inputSize: number, count: number): AnalyticCandidate[] {
  if (!Number.isInteger(count) || count < 1) fail('precondition', `candidate count must be a whole number ≥ 1, got ${count}`);
  const raw = analyticCandidates(gradient, layout, inputSize);
  const groups: { rep: Float32Array; units: number }[] = [];
  for (const { image } of raw) {
    const g = groups.find((gr) => cosine(gr.rep, image) >= 0.999);
    if (g) g.units++;
    else groups.push({ rep: image, units: 1 });
  }
  const ranked = groups.map((g) => {
    let inside = 0;
    for (const v of g.rep) if (v >= -1e-3 && v <= 1 + 1e-3) inside++;
    return { image: g.rep, units: g.units, inRange: inside / g.rep.length };
  });
  ranked.sort((a, b) => b.units - a.units || b.inRange - a.inRange);
  return ranked.slice(0, count);
}
