/**
 * Adaptive clipping (Andrew, Thakkar, McMahan & Ramaswamy 2021, "Differentially private learning
 * with adaptive clipping"): the clip norm C tracks the γ-quantile of the participants' update
 * norms by geometric updates, estimated privately.
 *
 * Each round every sampled participant reports b_k = [‖Δ_k‖ ≤ C]. The coordinator releases the
 * centred count Σ(b_k − ½) + N(0, σ_b²) — centring makes its sensitivity ½ — and forms
 *   b̃ = (Σ(b_k − ½) + N(0, σ_b²)) / m + ½     (m = q·N, the expected participants),
 *   C ← C · exp(−η_C · (b̃ − γ)).
 * The count and the update sum are released from the same sample, so together they are one
 * Gaussian mechanism with noise multipliers z_Δ (sum, sensitivity C) and 2σ_b (count,
 * sensitivity ½); that equals a single Gaussian with z where z⁻² = z_Δ⁻² + (2σ_b)⁻². To keep the
 * accounted z we therefore noise the update with z_Δ = (z⁻² − (2σ_b)⁻²)^(−½) > z, and the
 * accountant records z. The paper suggests σ_b = m/20.
 */
import { z } from 'zod';
import { fail } from '../core/errors.js';
import { secureNormal } from './secure-gaussian.js';

export interface AdaptiveClippingOptions {
  readonly initialClipNorm: number;
  /** γ: the norm quantile to track (0.5 = median). */
  readonly targetQuantile: number;
  /** η_C: geometric learning rate of the clip norm (paper: 0.2). */
  readonly learningRate: number;
  /** m = q·N. */
  readonly expectedParticipants: number;
  /** z: the noise multiplier the accountant records for the whole round. */
  readonly noiseMultiplier: number;
  /** σ_b: std of the noise on the bit count (default m/20). */
  readonly countNoiseStd?: number;
}

export interface ClipNormStep {
  readonly previousClipNorm: number;
  /** b̃: the noised fraction of participants whose norm was ≤ C. */
  readonly noisyFraction: number;
  readonly clipNorm: number;
}

/** z_Δ = (z⁻² − (2σ_b)⁻²)^(−½): the update noise multiplier that keeps the total at z. */
export function updateNoiseMultiplier(noiseMultiplier: number, countNoiseStd: number): number {
  if (!(noiseMultiplier > 0) || !Number.isFinite(noiseMultiplier)) {
    fail('config', `noise multiplier must be a positive number, got ${noiseMultiplier}`);
  }
  if (!(countNoiseStd > 0) || !Number.isFinite(countNoiseStd)) {
    fail('config', `count noise std σ_b must be a positive number, got ${countNoiseStd}`);
  }
  const rest = noiseMultiplier ** -2 - (2 * countNoiseStd) ** -2;
  if (!(rest > 0)) {
    fail(
      'config',
      `adaptive clipping's count noise σ_b = ${countNoiseStd} spends the whole privacy budget of noise multiplier z = ${noiseMultiplier}: need σ_b > z/2 = ${noiseMultiplier / 2}`,
      'raise privacy.adaptiveClipping.countNoiseStd (the paper uses m/20), sample more participants per round, or disable adaptive clipping',
    );
  }
  return rest ** -0.5;
}

const stateSchema = z.object({
  clipNorm: z.number().positive(),
  targetQuantile: z.number().gt(0).lt(1),
  learningRate: z.number().positive(),
  expectedParticipants: z.number().positive(),
  noiseMultiplier: z.number().positive(),
  countNoiseStd: z.number().positive(),
});

export type AdaptiveClippingState = z.infer<typeof stateSchema>;

export class AdaptiveClipping {
  readonly targetQuantile: number;
  readonly learningRate: number;
  readonly expectedParticipants: number;
  readonly noiseMultiplier: number;
  readonly countNoiseStd: number;
  /** z_Δ: give this to the central noise stage. */
  readonly updateNoiseMultiplier: number;
  private current: number;

  constructor(options: AdaptiveClippingOptions) {
    const { initialClipNorm: c, targetQuantile: g, learningRate: eta, expectedParticipants: m } = options;
    if (!(c > 0) || !Number.isFinite(c)) fail('config', `initial clip norm must be a positive number, got ${c}`);
    if (!(g > 0 && g < 1)) fail('config', `adaptive clipping target quantile must be in (0, 1), got ${g}`, 'the paper uses 0.5');
    if (!(eta > 0) || !Number.isFinite(eta)) fail('config', `adaptive clipping learning rate must be positive, got ${eta}`, 'the paper uses 0.2');
    if (!(m > 0) || !Number.isFinite(m)) fail('config', `expected participants per round must be positive, got ${m}`);
    this.current = c;
    this.targetQuantile = g;
    this.learningRate = eta;
    this.expectedParticipants = m;
    this.noiseMultiplier = options.noiseMultiplier;
    this.countNoiseStd = options.countNoiseStd ?? m / 20;
    this.updateNoiseMultiplier = updateNoiseMultiplier(this.noiseMultiplier, this.countNoiseStd);
  }

  /** C for the current round: participants clip to it and the noise is scaled by it. */
  get clipNorm(): number {
    return this.current;
  }

  /**
   * Close the round: `withinClip` holds each sampled participant's bit [‖Δ‖ ≤ C] for the C of this
   * round. Call after the round's update has been noised with that C.
   */
  update(withinClip: readonly boolean[]): ClipNormStep {
    let centred = 0;
    for (const b of withinClip) centred += b ? 0.5 : -0.5;
    const noisyFraction = (centred + secureNormal(this.countNoiseStd)) / this.expectedParticipants + 0.5;
    const previousClipNorm = this.current;
    this.current = previousClipNorm * Math.exp(-this.learningRate * (noisyFraction - this.targetQuantile));
    return { previousClipNorm, noisyFraction, clipNorm: this.current };
  }

  toJSON(): AdaptiveClippingState {
    return {
      clipNorm: this.current,
      targetQuantile: this.targetQuantile,
      learningRate: this.learningRate,
      expectedParticipants: this.expectedParticipants,
      noiseMultiplier: this.noiseMultiplier,
      countNoiseStd: this.countNoiseStd,
    };
  }

  static fromJSON(state: unknown): AdaptiveClipping {
    const parsed = stateSchema.safeParse(state);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      fail('io', `saved adaptive clipping state is invalid at ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'unknown'}`);
    }
    const { clipNorm, ...rest } = parsed.data;
    return new AdaptiveClipping({ ...rest, initialClipNorm: clipNorm });
  }
}
