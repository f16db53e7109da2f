/**
 * Label recovery from the last layer's weight gradient (iDLG, Zhao et al. 2020).
 *
 * For softmax cross-entropy, ∂ℓ/∂z_c = p_c − y_c, so the column of the last dense kernel that
 * feeds logit c is ∂ℓ/∂W[:, c] = h·(p_c − y_c), with h the layer's input. When h ≥ 0 (after
 * ReLU or sigmoid) the true class's column is ≤ 0 and every other column ≥ 0: the label is the
 * column with a negative sum. This is exact for one example; for a batch (Yin et al. 2021) the
 * classes present are, typically, those whose column sums are negative — exact when the labels
 * are distinct; repeated labels are not resolved (the remaining slots get the most negative
 * columns again, in order).
 */
import { fail } from '../../core/errors.js';
import type { LayoutEntry, ParamLayout } from '../../core/params.js';

/** The last dense kernel [inputs, numClasses] in the layout (the logits layer). */
export function lastLayerKernel(layout: ParamLayout, numClasses: number): LayoutEntry {
  for (let i = layout.entries.length - 1; i >= 0; i--) {
    const e = layout.entries[i]!;
    if (e.shape.length === 2 && e.shape[1] === numClasses) return e;
  }
  return fail('model', `no dense kernel with ${numClasses} outputs found in the parameter layout`, 'label recovery needs a model whose last layer is dense and outputs the logits');
}

/** Column sums Σ_i ∂ℓ/∂W[i, c] of the last kernel, one per class. */
export function lastLayerColumnSums(gradient: Float32Array, layout: ParamLayout, numClasses: number): Float64Array {
  if (gradient.length !== layout.size) fail('shape', `gradient has ${gradient.length} values, the model has ${layout.size} parameters`);
  const e = lastLayerKernel(layout, numClasses);
  const inputs = e.shape[0]!;
  const sums = new Float64Array(numClasses);
  for (let i = 0; i < inputs; i++) {
    const row = e.offset + i * numClasses;
    for (let c = 0; c < numClasses; c++) sums[c]! += gradient[row + c]!;
  }
  return sums;
}

/** iDLG: the class whose column of ∂ℓ/∂W_last has the most negative sum. */
export function idlgLabel(gradient: Float32Array, layout: ParamLayout, numClasses: number): number {
  const sums = lastLayerColumnSums(gradient, layout, numClasses);
  let best = 0;
  for (let c = 1; c < numClasses; c++) if (sums[c]! < sums[best]!) best = c;
  return best;
}

/** `batchSize` labels: classes with negative column sums (most negative first), then repeats. */
export function recoverBatchLabels(gradient: Float32Array, layout: ParamLayout, numClasses: number, batchSize: number): number[] {
  if (!Number.isInteger(batchSize) || batchSize < 1) fail('precondition', `batch size must be a whole number ≥ 1, got ${batchSize}`);
  const sums = lastLayerColumnSums(gradient, layout, numClasses);
  const order = Array.from({ length: numClasses }, (_, c) => c).sort((a, b) => sums[a]! - sums[b]!);
  const negative = order.filter((c) => sums[c]! < 0);
  const pool = negative.length > 0 ? negative : [order[0]!];
  return Array.from({ length: batchSize }, (_, i) => pool[i % pool.length]!);
}

/** Fraction of true labels matched by predicted labels, as multisets (order-free). */
export function labelAccuracy(predicted: readonly number[], truth: readonly number[]): number {
  if (truth.length === 0) return NaN;
  const counts = new Map<number, number>();
  for (const p of predicted) counts.set(p, (counts.get(p) ?? 0) + 1);
  let hit = 0;
  for (const t of truth) {
    const c = counts.get(t) ?? 0;
    if (c > 0) {
      hit++;
      counts.set(t, c - 1);
    }
  }
  return hit / truth.length;
}
