/**
 * Pipeline stages on flat update vectors, composable like optax's gradient transformations.
 * The client chain runs on a participant after local training (clip → noise → quantize …); the
 * server chain runs on the aggregate (central noise …). A configuration is *which stages are in
 * the chain*, not flags threaded through a trainer.
 */
import type { Vector } from '../core/vector.js';
import type { PrivacyReplyMetrics } from './protocol.js';

export interface StageContext {
  readonly round: number;
  /** Who is running the chain: a participant id, or 'coordinator'. */
  readonly actor: string;
  /** Local training samples behind this update (client side) or in the round (server side). */
  readonly numSamples: number;
  /** How many contributions were aggregated (server side); 1 on the client side. */
  readonly contributors: number;
  /** Client side: the clip bound the coordinator sent with this round's request, if any. */
  readonly clipNorm?: number;
  /** Client side: add public values to the participant's reply (e.g. the DP bit ‖Δ‖ ≤ C). */
  readonly report?: (metrics: PrivacyReplyMetrics) => void;
}

export interface UpdateStage {
  readonly name: string;
  apply(update: Vector, ctx: StageContext): Vector | Promise<Vector>;
}

/** Run stages in order; the output of each is the input of the next. */
export function chain(...stages: UpdateStage[]): UpdateStage {
  return {
    name: stages.map((s) => s.name).join(' → ') || 'identity',
    async apply(update, ctx) {
      let v = update;
      for (const stage of stages) v = await stage.apply(v, ctx);
      return v;
    },
  };
}
