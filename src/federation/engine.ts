/**
 * The round engine: one loop shared by simulation and deployment. Per round it
 *   guards (e.g. privacy budget) → samples participants → collects their updates over the
 *   transport → validates → robust-aggregates → runs the server chain (e.g. central noise) →
 *   applies the server learning rate → evaluates the candidate → gates → promotes.
 * Only the transport differs between `fedsec simulate` and `fedsec serve`.
 */
import { fail, FedsecError } from '../core/errors.js';
import { SeededRng } from '../core/rng.js';
import type { Vector } from '../core/vector.js';
import { axpyInPlace, firstNonFinite, l2Norm } from '../core/vector.js';
import type { AggregationResult, Aggregator, Contribution, ContributionDiagnostic } from '../aggregation/types.js';
import type { ParticipantTransport } from '../transport/types.js';
import type { LocalTrainingConfig, TrainReply, TrainRequest } from './protocol.js';
import type { UpdateStage } from './stages.js';

export type SamplingSpec = { kind: 'all' } | { kind: 'fixed'; perRound: number } | { kind: 'poisson'; rate: number };

export interface Evaluation {
  readonly loss: number;
  readonly accuracy: number;
  readonly perClassAccuracy: readonly number[];
  /** Extra metrics a stage computed (e.g. backdoor attack success rate). */
  readonly extra?: Readonly<Record<string, number>>;
}

export interface ParticipantOutcome {
  readonly id: string;
  readonly ok: boolean;
  readonly numSamples?: number;
  readonly loss?: number;
  readonly trainMs?: number;
  readonly updateNorm?: number;
  /** Sample-level DP: the participant's ε spent so far, as it reported. */
  readonly epsilon?: number;
  /** Why the participant's update was not used (timeout, error, rejected by validation). */
  readonly error?: string;
}

export interface RoundRecord {
  readonly round: number;
  readonly sampled: readonly string[];
  readonly participants: readonly ParticipantOutcome[];
  readonly diagnostics: readonly ContributionDiagnostic[];
  readonly evaluation: Evaluation;
  readonly aggregateNorm: number;
  readonly promoted: boolean;
  readonly gateReasons: readonly string[];
  readonly skipped?: string;
  readonly findings: readonly Finding[];
  readonly timings: { readonly collectMs: number; readonly aggregateMs: number; readonly evaluateMs: number; readonly totalMs: number };
  /** Values stages attach to the round (ε spent so far, clipping bound, …). */
  readonly extra: Readonly<Record<string, number>>;
}

/** Checked before each round; a stop keeps the current model and ends training cleanly. */
export interface RoundGuard {
  readonly name: string;
  beforeRound(round: number): { stop: false } | { stop: true; reason: string };
  /** Called after a round completed, to commit what it spent. */
  afterRound?(round: number, record: RoundRecord): void;
  /** Values to record with the round (e.g. epsilon). */
  report?(): Record<string, number>;
}

export interface RoundObserver {
  onRunStart?(info: { rounds: number; participants: readonly string[]; initial: Evaluation }): void;
  onRoundStart?(round: number, sampled: readonly string[]): void;
  onParticipantDone?(round: number, outcome: ParticipantOutcome): void;
  onRoundEnd?(record: RoundRecord): void;
}

/** Something noticed about a round: typed, with the evidence attached (monitoring, probes). */
export interface Finding {
  readonly type: string;
  readonly severity: 'info' | 'warning' | 'critical';
  readonly round: number;
  /** The participant or contribution concerned, when there is one. */
  readonly subject?: string;
  readonly message: string;
  readonly evidence: Readonly<Record<string, number | string | boolean | readonly number[] | readonly string[]>>;
}

/** What an inspector sees of a round, after aggregation and evaluation, before the gate. */
export interface RoundView {
  readonly round: number;
  readonly contributions: readonly Contribution[];
  readonly aggregation: AggregationResult;
  /** The aggregate after the server chain (what was applied to the model). */
  readonly applied: Vector;
  readonly candidate: Vector;
  readonly evaluation: Evaluation;
  readonly promoted: { readonly round: number; readonly evaluation: Evaluation };
}

/** Server-side monitoring: looks at a round and reports findings and numbers for the record. */
export interface RoundInspector {
  inspect(view: RoundView): { findings?: Finding[]; extra?: Record<string, number> } | Promise<{ findings?: Finding[]; extra?: Record<string, number> }>;
}

export interface PromotionGate {
  decide(
    candidate: { round: number; params: Vector; evaluation: Evaluation; findings: readonly Finding[] },
    promoted: { round: number; evaluation: Evaluation },
  ): { promote: boolean; reasons: string[] } | Promise<{ promote: boolean; reasons: string[] }>;
}

/**
 * Intercepts the validated contributions before aggregation. In simulation this is where an
 * omniscient adversary rewrites the malicious participants' updates after seeing the benign ones.
 */
export interface ContributionInterceptor {
  intercept(round: number, contributions: Contribution[]): Contribution[] | Promise<Contribution[]>;
}

/**
 * How a round's updates reach the coordinator. The plain collector asks each participant for its
 * update; a secure-aggregation collector runs SecAgg+ over the same transport and returns only
 * (bucket) sums, so the aggregator never sees an individual update.
 */
export interface UpdateCollector {
  collect(round: number, request: TrainRequest, sampled: readonly string[], ctx: CollectContext): Promise<CollectResult>;
}

export interface CollectContext {
  readonly transport: ParticipantTransport;
  readonly timeoutMs: number;
  readonly weighting: 'samples' | 'uniform';
  readonly onParticipantDone: (outcome: ParticipantOutcome) => void;
}

export interface CollectResult {
  readonly contributions: Contribution[];
  readonly outcomes: ParticipantOutcome[];
  /** Values to record with the round (e.g. secure-aggregation survivors, bytes). */
  readonly extra?: Record<string, number>;
}

export interface EngineOptions {
  readonly transport: ParticipantTransport;
  /** Defaults to the plain collector (each participant's update in the clear). */
  readonly collector?: UpdateCollector;
  readonly initialParams: Vector;
  readonly rounds: number;
  readonly sampling: SamplingSpec;
  readonly training: LocalTrainingConfig;
  readonly aggregator: Aggregator;
  /** f, the number of Byzantine contributions to tolerate. */
  readonly byzantine: number;
  /** Server chain on the aggregate (e.g. central DP noise). */
  readonly serverChain?: UpdateStage;
  readonly serverLearningRate: number;
  readonly minParticipants: number;
  readonly timeoutMs: number;
  readonly seed: number | string;
  readonly evaluate: (params: Vector) => Evaluation | Promise<Evaluation>;
  /** Server's own update on a clean root set (FLTrust); computed only if the aggregator needs it. */
  readonly referenceUpdate?: (params: Vector, round: number) => Vector | Promise<Vector>;
  /** Weight each contribution by its sample count (FedAvg) or equally (needed for client-level DP). */
  readonly weighting?: 'samples' | 'uniform';
  readonly guards?: readonly RoundGuard[];
  readonly observers?: readonly RoundObserver[];
  readonly interceptor?: ContributionInterceptor;
  /** Run after evaluation, before the gate (monitoring, backdoor probes). */
  readonly inspectors?: readonly RoundInspector[];
  readonly gate?: PromotionGate;
  /** After a rejected candidate, continue from the candidate or from the last promoted model. */
  readonly continueFrom?: 'candidate' | 'promoted';
  /** First round to run (resuming a deployment); earlier rounds are taken as done. */
  readonly startRound?: number;
}

export interface RunResult {
  readonly initial: Evaluation;
  readonly rounds: readonly RoundRecord[];
  /** The last promoted model: what a deployment would ship. */
  readonly finalParams: Vector;
  readonly finalRound: number;
  readonly stopped?: { readonly round: number; readonly reason: string };
}

export function sampleParticipants(ids: readonly string[], spec: SamplingSpec, rng: SeededRng): string[] {
  switch (spec.kind) {
    case 'all':
      return [...ids];
    case 'fixed': {
      if (spec.perRound > ids.length) fail('config', `sampling.perRound is ${spec.perRound} but only ${ids.length} participants are available`);
      return rng.sampleIndices(ids.length, spec.perRound).sort((a, b) => a - b).map((i) => ids[i]!);
    }
    case 'poisson':
      return ids.filter(() => rng.next() < spec.rate);
  }
}

/** Validate a reply before it may reach an aggregator: right shape, finite, sane weight. */
export function checkReply(reply: TrainReply, expected: { id: string; round: number; dim: number }): string | undefined {
  if (reply.participantId !== expected.id) return `reply claims to be from ${reply.participantId}`;
  if (reply.round !== expected.round) return `reply is for round ${reply.round}, expected ${expected.round}`;
  if (reply.delta.length !== expected.dim) return `update has ${reply.delta.length} values, the model has ${expected.dim}`;
  const bad = firstNonFinite(reply.delta);
  if (bad >= 0) return `update contains a non-finite value at index ${bad}`;
  if (!Number.isFinite(reply.numSamples) || reply.numSamples <= 0) return `sample count ${reply.numSamples} is not a positive number`;
  return undefined;
}

export class RoundEngine {
  constructor(private readonly options: EngineOptions) {
    if (options.rounds < 1) fail('config', 'rounds must be at least 1');
  }

  async run(): Promise<RunResult> {
    const o = this.options;
    const ids = o.transport.participants();
    if (ids.length === 0) fail('config', 'no participants are available');
    let params: Vector = Float32Array.from(o.initialParams);
    const initial = await o.evaluate(params);
    let promoted: { round: number; params: Vector; evaluation: Evaluation } = { round: 0, params: Float32Array.from(params), evaluation: initial };
    for (const obs of o.observers ?? []) obs.onRunStart?.({ rounds: o.rounds, participants: ids, initial });

    const records: RoundRecord[] = [];
    let stopped: RunResult['stopped'];
    for (let round = o.startRound ?? 1; round <= o.rounds; round++) {
      const stop = this.firstStop(round);
      if (stop) {
        stopped = { round, reason: stop };
        break;
      }
      const record = await this.runRound(round, params, ids, promoted);
      if (record.record.promoted) promoted = { round, params: record.candidate, evaluation: record.record.evaluation };
      params = record.record.promoted || o.continueFrom !== 'promoted' ? record.candidate : Float32Array.from(promoted.params);
      for (const guard of o.guards ?? []) guard.afterRound?.(round, record.record);
      const extra = Object.assign({}, record.record.extra, ...(o.guards ?? []).map((g) => g.report?.() ?? {})) as Record<string, number>;
      const finished = { ...record.record, extra };
      records.push(finished);
      for (const obs of o.observers ?? []) obs.onRoundEnd?.(finished);
    }
    return { initial, rounds: records, finalParams: promoted.params, finalRound: promoted.round, ...(stopped ? { stopped } : {}) };
  }

  private firstStop(round: number): string | undefined {
    for (const guard of this.options.guards ?? []) {
      const verdict = guard.beforeRound(round);
      if (verdict.stop) return `${guard.name}: ${verdict.reason}`;
    }
    return undefined;
  }

  private async runRound(
    round: number,
    params: Vector,
    ids: readonly string[],
    promoted: { round: number; evaluation: Evaluation },
  ): Promise<{ record: RoundRecord; candidate: Vector }> {
    const o = this.options;
    const t0 = performance.now();
    const sampled = sampleParticipants(ids, o.sampling, SeededRng.from(o.seed, 'sampling', round));
    for (const obs of o.observers ?? []) obs.onRoundStart?.(round, sampled);

    const request: TrainRequest = { round, params, training: o.training, seed: `${o.seed}:${round}` };
    const collector = o.collector ?? plainCollector;
    const { contributions, outcomes, extra: collectExtra = {} } = await collector.collect(round, request, sampled, {
      transport: o.transport,
      timeoutMs: o.timeoutMs,
      weighting: o.weighting ?? 'samples',
      onParticipantDone: (outcome) => {
        for (const obs of o.observers ?? []) obs.onParticipantDone?.(round, outcome);
      },
    });
    const tCollected = performance.now();

    const skip = (reason: string): { record: RoundRecord; candidate: Vector } => ({
      candidate: params,
      record: {
        round, sampled, participants: outcomes, diagnostics: [], evaluation: promoted.evaluation, aggregateNorm: 0,
        promoted: false, gateReasons: [reason], skipped: reason, findings: [], extra: collectExtra,
        timings: { collectMs: tCollected - t0, aggregateMs: 0, evaluateMs: 0, totalMs: performance.now() - t0 },
      },
    });
    const usable = participantsBehind(contributions);
    if (usable < o.minParticipants) {
      return skip(`only ${usable} usable update(s), server.minParticipants is ${o.minParticipants}; model unchanged`);
    }

    const intercepted = o.interceptor ? await o.interceptor.intercept(round, contributions) : contributions;
    const reference = o.aggregator.needsReference && o.referenceUpdate ? await o.referenceUpdate(params, round) : undefined;
    let result: AggregationResult;
    try {
      result = o.aggregator.aggregate(intercepted, { round, byzantine: o.byzantine, rng: SeededRng.from(o.seed, 'aggregation', round), expectedDim: params.length, ...(reference ? { reference } : {}) });
    } catch (err) {
      // Fail closed: a refused aggregation (e.g. too few updates for Krum) leaves the model unchanged.
      if (err instanceof FedsecError) return skip(`aggregation refused: ${err.message}`);
      throw err;
    }
    const totalSamples = intercepted.reduce((s, c) => s + c.weight, 0);
    const aggregate = o.serverChain
      ? await o.serverChain.apply(result.aggregate, { round, actor: 'coordinator', numSamples: totalSamples, contributors: participantsBehind(intercepted) })
      : result.aggregate;
    const candidate = Float32Array.from(params);
    axpyInPlace(candidate, o.serverLearningRate, aggregate);
    const tAggregated = performance.now();

    const evaluation = await o.evaluate(candidate);
    const findings: Finding[] = [];
    const extra: Record<string, number> = { ...collectExtra };
    for (const inspector of o.inspectors ?? []) {
      const seen = await inspector.inspect({ round, contributions: intercepted, aggregation: result, applied: aggregate, candidate, evaluation, promoted });
      findings.push(...(seen.findings ?? []));
      Object.assign(extra, seen.extra ?? {});
    }
    const tEvaluated = performance.now();
    const decision = o.gate ? await o.gate.decide({ round, params: candidate, evaluation, findings }, promoted) : { promote: true, reasons: [] };
    return {
      candidate,
      record: {
        round, sampled, participants: outcomes, diagnostics: result.diagnostics, evaluation,
        aggregateNorm: l2Norm(aggregate), promoted: decision.promote, gateReasons: decision.reasons, findings, extra,
        timings: { collectMs: tCollected - t0, aggregateMs: tAggregated - tCollected, evaluateMs: tEvaluated - tAggregated, totalMs: tEvaluated - t0 },
      },
    };
  }
}

/** Participants behind the contributions: a secure-aggregation sum stands for all its members. */
function participantsBehind(contributions: readonly Contribution[]): number {
  return contributions.reduce((n, c) => n + (c.members?.length ?? 1), 0);
}

/** Ask every sampled participant to train; keep the valid replies, record why others failed. */
export const plainCollector: UpdateCollector = {
  async collect(round, request, sampled, ctx) {
    const settled = await Promise.all(
      sampled.map(async (id): Promise<{ outcome: ParticipantOutcome; contribution?: Contribution }> => {
        let outcome: ParticipantOutcome;
        let contribution: Contribution | undefined;
        try {
          const reply = await ctx.transport.request(id, 'train', request, { timeoutMs: ctx.timeoutMs });
          const problem = checkReply(reply, { id, round, dim: request.params.length });
          const eps = reply.metrics.epsilon;
          const base = { id, numSamples: reply.numSamples, loss: reply.metrics.loss, trainMs: reply.metrics.trainMs, ...(typeof eps === 'number' ? { epsilon: eps } : {}) };
          if (problem) outcome = { ...base, ok: false, error: `rejected: ${problem}` };
          else {
            outcome = { ...base, ok: true, updateNorm: l2Norm(reply.delta) };
            contribution = { id, update: reply.delta, weight: ctx.weighting === 'uniform' ? 1 : reply.numSamples };
          }
        } catch (err) {
          outcome = { id, ok: false, error: err instanceof Error ? err.message : String(err) };
        }
        ctx.onParticipantDone(outcome);
        return contribution ? { outcome, contribution } : { outcome };
      }),
    );
    return {
      contributions: settled.flatMap((s) => (s.contribution ? [s.contribution] : [])),
      outcomes: settled.map((s) => s.outcome),
    };
  },
};
