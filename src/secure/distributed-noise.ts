/**
 * The coordinator's half of distributed DP noise (secureAggregation.distributedNoise): the
 * participants already added Gaussian shares before masking (participant-driver.ts), so the sum
 * the coordinator unmasks carries the DP-FedAvg noise and all that is left is the fixed
 * denominator m = q·N (see privacy/central-noise-stage.ts for why it is fixed).
 */
import { fail } from '../core/errors.js';
import { scale, type Vector } from '../core/vector.js';
import type { StageContext, UpdateStage } from '../federation/stages.js';

/** aggregate = uniform mean of ctx.contributors noised updates → their sum / m. */
export function fixedDenominatorStage(expectedParticipants: number): UpdateStage {
  if (!Number.isFinite(expectedParticipants) || expectedParticipants <= 0) fail('config', `expected participants per round (q·N) must be positive, got ${expectedParticipants}`);
  return {
    name: 'dp-fedavg-fixed-denominator',
    apply(aggregate: Vector, ctx: StageContext): Vector {
      return scale(aggregate, ctx.contributors / expectedParticipants);
    },
  };
}
