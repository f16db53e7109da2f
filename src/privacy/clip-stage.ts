/**
 * Client-side L2 clipping: the first stage of every DP chain. Clipping bounds each participant's
 * contribution to the sum at C (its L2 sensitivity), which is what the Gaussian noise and the
 * accountant are calibrated to.
 *
 * The pre-clip norm is reported to `onClip` on the participant. Only the bit `norm ≤ C` is meant
 * to leave the participant (adaptive clipping counts those bits under noise, see
 * adaptive-clipping.ts); sending the norm itself to the coordinator would reveal more than the
 * accountant accounts for.
 */
import { fail } from '../core/errors.js';
import { firstNonFinite, l2Norm, scale, type Vector } from '../core/vector.js';
import type { StageContext, UpdateStage } from '../federation/stages.js';

export interface ClipRecord {
  readonly round: number;
  readonly actor: string;
  readonly preClipNorm: number;
  readonly clipNorm: number;
  /** norm ≤ C: the bit adaptive clipping aggregates. */
  readonly withinClip: boolean;
}

export interface ClipStageOptions {
  /**
   * C, or a function of the round. The bound the coordinator sent with the request (ctx.clipNorm,
   * adaptive clipping) takes precedence over either.
   */
  readonly clipNorm: number | ((ctx: StageContext) => number);
  readonly onClip?: (record: ClipRecord) => void;
}

/**
 * Scale by `factor`, then shrink by a few float32 ulps until the norm is really ≤ c: rounding each
 * entry to float32 can leave the norm a hair above c, and the sensitivity bound must hold exactly.
 */
function scaleToWithin(update: Vector, factor: number, c: number): Vector {
  let f = factor;
  let out = scale(update, f);
  for (let i = 0; i < 8 && l2Norm(out) > c; i++) {
    f *= 1 - 2 ** -22;
    out = scale(update, f);
  }
  if (l2Norm(out) > c) fail('internal', `clipping did not bring the norm below ${c}`);
  return out;
}

export function l2ClipStage(options: ClipStageOptions): UpdateStage {
  return {
    name: 'l2-clip',
    apply(update: Vector, ctx: StageContext): Vector {
      const c = ctx.clipNorm ?? (typeof options.clipNorm === 'function' ? options.clipNorm(ctx) : options.clipNorm);
      if (!Number.isFinite(c) || c <= 0) fail('config', `clip norm must be a positive number, got ${c}`, 'set privacy.clipNorm > 0');
      const bad = firstNonFinite(update);
      if (bad >= 0) fail('non-finite', `update of ${ctx.actor} has a non-finite entry at index ${bad} (round ${ctx.round})`);
      const norm = l2Norm(update);
      const clipped = norm > c ? scaleToWithin(update, c / norm, c) : update;
      options.onClip?.({ round: ctx.round, actor: ctx.actor, preClipNorm: norm, clipNorm: c, withinClip: norm <= c });
      // Only the bit leaves the participant (in its reply), never the norm.
      ctx.report?.({ withinClip: norm <= c });
      return clipped;
    },
  };
}
