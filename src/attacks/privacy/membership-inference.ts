/**
 * Membership inference scores (higher = more likely a training member):
 *  - loss threshold (Yeom, Giacomelli, Fredrikson & Jha 2018): −ℓ(x, y) under the attacked model;
 *  - reference-calibrated loss: ℓ_ref(x, y) − ℓ(x, y), how much the attacked model lowered the loss
 *    relative to a reference model the attacker also has (e.g. the global model before the round
 *    in which a participant's update was computed) — difficulty calibration (Watson et al. 2022);
 *  - LiRA, online variant with a global variance (Carlini, Chien, Nasr, Song, Terzis & Tramèr 2022):
 *    shadow models are trained on random halves of the candidate set; for each example the
 *    logit-scaled confidence φ = log(p_y / (1 − p_y)) under IN shadows and under OUT shadows is
 *    modelled as two Gaussians, with per-example means and one variance each pooled over all
 *    examples (the paper's recommendation for few shadows); the score is the log-likelihood
 *    ratio log N(φ; μ_in, σ_in²) − log N(φ; μ_out, σ_out²). An example that happens to have no IN
 *    (or no OUT) shadow gets the mean of its other side shifted by the average IN − OUT gap.
 */
import { tf } from '../../model/backend.js';
import { fail } from '../../core/errors.js';
import type { Dataset } from '../../data/dataset.js';
import type { LocalModel } from '../../model/local-model.js';

export interface ExampleStats {
  /** Cross-entropy ℓ(x, y) per example. */
  readonly loss: Float32Array;
  /** φ = log p_y − log(1 − p_y) per example (stable: z_y − logsumexp_{j≠y} z_j). */
  readonly phi: Float32Array;
}

/** Per-example loss and logit-scaled confidence of a logits model. */
export function exampleStats(model: LocalModel, data: Dataset, batchSize = 500): ExampleStats {
  const loss = new Float32Array(data.size);
  const phi = new Float32Array(data.size);
  for (let start = 0; start < data.size; start += batchSize) {
    const idx = Array.from({ length: Math.min(batchSize, data.size - start) }, (_, k) => start + k);
    const { x, y } = model.batch(data, idx);
    const [l, p] = tf.tidy(() => {
      const logits = model.model.apply(x, { training: false }) as tf.Tensor2D;
      const logp = tf.logSoftmax(logits);
      const ce = tf.neg(tf.sum(tf.mul(y, logp), -1));
      const zy = tf.sum(tf.mul(y, logits), -1);
      // logsumexp over j ≠ y: mask the true logit with −∞ (via a large negative number).
      const masked = tf.add(logits, tf.mul(y, -1e30));
      const others = tf.logSumExp(masked, -1);
      return [ce, tf.sub(zy, others)];
    });
    loss.set(l.dataSync(), start);
    phi.set(p.dataSync(), start);
    tf.dispose([x, y, l, p]);
  }
  return { loss, phi };
}

export function lossThresholdScores(loss: ArrayLike<number>): Float64Array {
  return Float64Array.from(loss, (l) => -l);
}

export function referenceCalibratedScores(loss: ArrayLike<number>, referenceLoss: ArrayLike<number>): Float64Array {
  if (loss.length !== referenceLoss.length) fail('shape', `${loss.length} losses but ${referenceLoss.length} reference losses`);
  return Float64Array.from(loss, (l, i) => referenceLoss[i]! - l);
}

function logNormal(x: number, mu: number, sigma: number): number {
  const z = (x - mu) / sigma;
  return -0.5 * z * z - Math.log(sigma);
}

/**
 * LiRA scores for the examples of the candidate set. `shadowPhi[s][i]` is φ of example i under
 * shadow s, `shadowIn[s][i]` whether i was in shadow s's training data.
 */
export function liraScores(targetPhi: ArrayLike<number>, shadowPhi: readonly ArrayLike<number>[], shadowIn: readonly ArrayLike<boolean>[]): Float64Array {
  const n = targetPhi.length;
  const s = shadowPhi.length;
  if (s < 2) fail('config', `LiRA needs at least 2 shadow models, got ${s}`, 'set shadows ≥ 2 (the brief suggests 4–8), or 0 to skip LiRA');
  if (shadowIn.length !== s) fail('shape', `${s} shadow φ vectors but ${shadowIn.length} membership masks`);
  for (let k = 0; k < s; k++) {
    if (shadowPhi[k]!.length !== n || shadowIn[k]!.length !== n) fail('shape', `shadow ${k} covers ${shadowPhi[k]!.length} examples, expected ${n}`);
  }
  const muIn = new Float64Array(n).fill(NaN);
  const muOut = new Float64Array(n).fill(NaN);
  let gapSum = 0;
  let gapCount = 0;
  for (let i = 0; i < n; i++) {
    let si = 0, ni = 0, so = 0, no = 0;
    for (let k = 0; k < s; k++) {
      const v = shadowPhi[k]![i]!;
      if (shadowIn[k]![i]) {
        si += v;
        ni++;
      } else {
        so += v;
        no++;
      }
    }
    if (ni > 0) muIn[i] = si / ni;
    if (no > 0) muOut[i] = so / no;
    if (ni > 0 && no > 0) {
      gapSum += muIn[i]! - muOut[i]!;
      gapCount++;
    }
  }
  const gap = gapCount > 0 ? gapSum / gapCount : 0;
  for (let i = 0; i < n; i++) {
    if (Number.isNaN(muIn[i]!)) muIn[i] = muOut[i]! + gap;
    if (Number.isNaN(muOut[i]!)) muOut[i] = muIn[i]! - gap;
  }
  // Pooled (global) standard deviations of the deviations from the per-example means.
  let vin = 0, cin = 0, vout = 0, cout = 0;
  for (let k = 0; k < s; k++) {
    for (let i = 0; i < n; i++) {
      const v = shadowPhi[k]![i]!;
      if (shadowIn[k]![i]) {
        vin += (v - muIn[i]!) ** 2;
        cin++;
      } else {
        vout += (v - muOut[i]!) ** 2;
        cout++;
      }
    }
  }
  const floor = 1e-3;
  const sdIn = Math.max(floor, Math.sqrt(vin / Math.max(1, cin)));
  const sdOut = Math.max(floor, Math.sqrt(vout / Math.max(1, cout)));
  return Float64Array.from({ length: n }, (_, i) => {
    const x = targetPhi[i]!;
    return logNormal(x, muIn[i]!, sdIn) - logNormal(x, muOut[i]!, sdOut);
  });
}
