/**
 * The round engine's secure-aggregation `UpdateCollector`: SecAgg+ over the engine's own
 * `ParticipantTransport`, so the coordinator only ever receives encrypted shares, signatures and
 * masked vectors — never an update.
 *
 * Per round:
 *   1. enrol participants not seen before (their Ed25519 identity public keys);
 *   2. `secagg-train`: each sampled participant trains and keeps its update; it replies its sample
 *      count and public metrics only;
 *   3. those that trained form one session — or, with `bucketSize`, ⌊n/s⌋ buckets of ≥ s, one
 *      session each, so a robust aggregator can run over bucket means;
 *   4. each session runs the five SecAgg+ stages (codec bytes in `secagg-setup`/`secagg-step`
 *      requests); sessions run concurrently.
 * A completed session yields one Contribution: the weighted mean of its survivors, weight Σw,
 * `members` = survivors. A session that loses too many participants aborts and releases nothing;
 * the round goes on with the other sessions (no partial aggregate, no retry: a participant masks
 * its update once per round). With every session aborted the engine skips the round.
 *
 * The weight word of each sum is checked against the weights the coordinator assigned to the
 * survivors, so a participant that masks a wrong weight spoils only its own session.
 */
import type { Contribution } from '../aggregation/types.js';
import { fail, FedsecError } from '../core/errors.js';
import { SeededRng } from '../core/rng.js';
import type { CollectContext, CollectResult, ParticipantOutcome, UpdateCollector } from '../federation/engine.js';
import type { TrainRequest } from '../federation/protocol.js';
import type { ParticipantTransport } from '../transport/types.js';
import { planBuckets } from './buckets.js';
import { decodeMessage, encodeMessage, isParticipantMessage } from './codec.js';
import { createSession, newSessionId, type SecAggConfigInput } from './config.js';
import { SecAggCoordinator } from './coordinator.js';
import type { SecAggStage } from './messages.js';
import { dequantiseSum, levelsPerParticipant } from './quantise.js';
import { DROPOUT_STAGES, sessionShape, type DropoutStage, type SecureAggregationConfig } from './simulation-config.js';
import {
  enrolReplySchema,
  ownBytes,
  parseWire,
  stepReplySchema,
  trainReplySchema,
  type SecAggProtocol,
  type SecAggRequestKind,
  type SecAggSetupRequest,
  type SecAggStepReply,
} from './transport-messages.js';

export interface SecAggCollectorOptions {
  readonly config: SecureAggregationConfig;
  /** The resolved quantisation range (see quantisationClip). */
  readonly clip: number;
  /** Raise every session's minSurvivors to this (distributed noise is calibrated to it). */
  readonly minSurvivorsFloor?: number;
  /**
   * Simulation seed: makes bucket assignment and simulated dropouts reproducible. Without it
   * buckets come from the session's public coin and `simulateDropouts` is refused.
   */
  readonly seed?: number | string;
}

interface Trained {
  readonly id: string;
  readonly numSamples: number;
  readonly base: Omit<ParticipantOutcome, 'ok' | 'error'>;
  readonly weight: number;
}

interface SessionPlan {
  readonly bucket: number;
  readonly members: readonly string[];
  readonly config: SecAggConfigInput | undefined;
  /** Why the session cannot run at all (too small for the configured shape). */
  readonly problem?: string;
}

type SessionReport =
  | { readonly type: 'done'; readonly plan: SessionPlan; readonly survivors: readonly string[]; readonly contribution: Contribution; readonly dropped: ReadonlyMap<string, string> }
  | { readonly type: 'aborted'; readonly plan: SessionPlan; readonly reason: string; readonly dropped: ReadonlyMap<string, string> };

/** Wire and time accounting for one round. */
interface Meter {
  bytesUp: number;
  bytesDown: number;
  coordinatorMs: number;
}

const STAGE_INDEX = new Map<DropoutStage, number>(DROPOUT_STAGES.map((s, i) => [s, i]));

const reason = (err: unknown): string => (err instanceof Error ? err.message : String(err));

export class SecAggCollector implements UpdateCollector {
  /** Identity public keys learned at enrolment, by participant id. */
  private readonly identityKeys = new Map<string, Uint8Array>();
  private readonly owners = new Map<string, string>();

  constructor(private readonly options: SecAggCollectorOptions) {
    if (options.config.simulateDropouts && options.seed === undefined) fail('config', 'secureAggregation.simulateDropouts is for simulations (it needs the run seed)');
  }

  async collect(round: number, request: TrainRequest, sampled: readonly string[], ctx: CollectContext): Promise<CollectResult> {
    const cfg = this.options.config;
    const meter: Meter = { bytesUp: 0, bytesDown: 0, coordinatorMs: 0 };
    const dropFrom = this.simulatedDropouts(round, sampled);
    const stageTimeoutMs = cfg.stageTimeoutMs ?? ctx.timeoutMs;
    const call = <K extends SecAggRequestKind>(id: string, kind: K, body: SecAggProtocol[K]['request'], stage: DropoutStage): Promise<SecAggProtocol[K]['reply']> => {
      const from = dropFrom.get(id);
      if (from !== undefined && STAGE_INDEX.get(stage)! >= STAGE_INDEX.get(from)!) {
        return Promise.reject(new FedsecError('protocol', `simulated dropout from ${from} (secureAggregation.simulateDropouts)`));
      }
      return requestOn(ctx.transport, id, kind, body, stage === 'train' ? ctx.timeoutMs : stageTimeoutMs);
    };

    const outcomes = new Map<string, ParticipantOutcome>();
    const settle = (outcome: ParticipantOutcome): void => {
      outcomes.set(outcome.id, outcome);
      ctx.onParticipantDone(outcome);
    };
    // Too few sampled to ever release a sum: nobody trains (under DP-SGD training spends budget).
    const hopeless = this.sessionProblem(sampled.length);
    if (hopeless !== undefined) {
      for (const id of sampled) settle({ id, ok: false, error: `secure aggregation not run: ${hopeless}` });
      return { contributions: [], outcomes: sampled.map((id) => outcomes.get(id)!), extra: { secaggSurvivors: 0, secaggDropped: 0, secaggAbortedSessions: 1, secaggBytes: 0, secaggMs: 0, secaggCoordinatorMs: 0 } };
    }

    // 1–2. Enrol newcomers, then train everyone sampled (concurrently; the transport spreads them).
    const trained: Trained[] = [];
    await Promise.all(
      sampled.map(async (id) => {
        try {
          await this.enrol(id, (kind, body) => call(id, kind, body, 'train'));
        } catch (err) {
          settle({ id, ok: false, error: `secure aggregation: enrolment failed: ${reason(err)}` });
          return;
        }
        try {
          const reply = parseWire(trainReplySchema, await call(id, 'secagg-train', request, 'train'), 'secagg-train reply');
          if (reply.participantId !== id) fail('protocol', `reply claims to be from ${reply.participantId}`);
          if (reply.round !== round) fail('protocol', `reply is for round ${reply.round}, expected ${round}`);
          const { loss, trainMs, epsilon } = reply.metrics;
          const weight = ctx.weighting === 'uniform' ? 1 : Math.min(reply.numSamples, cfg.maxWeight ?? Infinity);
          trained.push({ id, numSamples: reply.numSamples, weight, base: { id, numSamples: reply.numSamples, loss, trainMs, ...(epsilon !== undefined ? { epsilon } : {}) } });
        } catch (err) {
          settle({ id, ok: false, error: reason(err) });
        }
      }),
    );
    trained.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));

    // 3. Sessions: one, or one per bucket.
    const started = performance.now();
    const plans = this.planSessions(round, request.params.length, trained);
    const byId = new Map(trained.map((t) => [t.id, t]));
    for (const t of trained) if (!plans.some((p) => p.members.includes(t.id))) settle({ ...t.base, ok: false, error: `secure aggregation: ${plans[0]?.problem ?? 'not placed in any session'}` });

    // 4. Run them.
    const reports = await Promise.all(plans.map((plan) => this.runSession(round, plan, byId, meter, call)));
    const contributions: Contribution[] = [];
    let survivors = 0;
    let aborted = 0;
    for (const report of reports) {
      const where = plans.length === 1 && !cfg.bucketSize ? 'the session' : `bucket ${report.plan.bucket}`;
      if (report.type === 'done') {
        contributions.push(report.contribution);
        survivors += report.survivors.length;
        const kept = new Set(report.survivors);
        for (const id of report.plan.members) {
          const base = byId.get(id)!.base;
          if (kept.has(id)) settle({ ...base, ok: true });
          else settle({ ...base, ok: false, error: `secure aggregation: dropped at ${report.dropped.get(id) ?? 'an unknown stage'}; not in ${where}'s sum` });
        }
      } else {
        aborted++;
        for (const id of report.plan.members) {
          const own = report.dropped.get(id);
          settle({ ...byId.get(id)!.base, ok: false, error: `${own ? `secure aggregation: dropped at ${own}; ` : ''}${where}: ${report.reason}` });
        }
      }
    }
    return {
      contributions,
      outcomes: sampled.map((id) => outcomes.get(id) ?? { id, ok: false, error: 'secure aggregation: no outcome recorded' }),
      extra: {
        secaggSurvivors: survivors,
        secaggDropped: trained.length - survivors,
        secaggAbortedSessions: aborted,
        secaggBytes: meter.bytesUp + meter.bytesDown,
        secaggMs: performance.now() - started,
        secaggCoordinatorMs: meter.coordinatorMs,
      },
    };
  }

  private async enrol(id: string, call: <K extends SecAggRequestKind>(kind: K, body: SecAggProtocol[K]['request']) => Promise<SecAggProtocol[K]['reply']>): Promise<void> {
    if (this.identityKeys.has(id)) return;
    const reply = parseWire(enrolReplySchema, await call('secagg-enrol', { protocol: 'secagg+' }), 'secagg-enrol reply');
    if (reply.participantId !== id) fail('protocol', `enrolment reply claims to be from ${reply.participantId}`);
    const hex = Buffer.from(reply.identityPublicKey).toString('hex');
    const owner = this.owners.get(hex);
    if (owner !== undefined && owner !== id) fail('auth', `${id} presented the identity key already enrolled by ${owner}`);
    this.owners.set(hex, id);
    this.identityKeys.set(id, new Uint8Array(reply.identityPublicKey));
  }

  /** Why n participants cannot form even one session (before anyone trains), if they cannot. */
  private sessionProblem(n: number): string | undefined {
    const { bucketSize } = this.options.config;
    if (n < 3) return `only ${n} participant(s) sampled; a SecAgg session needs at least 3`;
    if (bucketSize !== undefined && n < bucketSize) return `only ${n} participants sampled, fewer than one bucket of ${bucketSize}`;
    const shape = sessionShape(this.options.config, bucketSize ?? n, this.options.minSurvivorsFloor ?? 0);
    return 'problem' in shape ? shape.problem : undefined;
  }

  /** Participants that simulate a dropout this round, and from which stage. */
  private simulatedDropouts(round: number, sampled: readonly string[]): Map<string, DropoutStage> {
    const plan = this.options.config.simulateDropouts;
    const out = new Map<string, DropoutStage>();
    if (!plan || round < plan.fromRound || (plan.toRound !== undefined && round > plan.toRound)) return out;
    if (plan.participants) {
      for (const id of plan.participants) if (sampled.includes(id)) out.set(id, plan.stage);
      return out;
    }
    const rng = SeededRng.from(this.options.seed ?? fail('internal', 'dropouts without seed'), 'secagg-dropouts', round);
    for (const id of [...sampled].sort()) if (rng.next() < (plan.rate ?? 0)) out.set(id, plan.stage);
    return out;
  }

  private planSessions(round: number, vectorLength: number, trained: readonly Trained[]): SessionPlan[] {
    const cfg = this.options.config;
    const n = trained.length;
    if (n < 3) return [{ bucket: 0, members: [], config: undefined, problem: `only ${n} participant(s) trained; a SecAgg session needs at least 3` }];
    const base: SecAggConfigInput = {
      sessionId: newSessionId(),
      round,
      participants: trained.map((t) => ({ id: t.id, identityPublicKey: this.identityKeys.get(t.id)! })),
      vectorLength,
      modulusBits: cfg.modulusBits,
      clip: this.options.clip,
    };
    let groups: { bucket: number; members: readonly string[]; sessionId: Uint8Array }[];
    if (cfg.bucketSize === undefined) groups = [{ bucket: 0, members: trained.map((t) => t.id), sessionId: base.sessionId }];
    else {
      if (n < cfg.bucketSize) return [{ bucket: 0, members: [], config: undefined, problem: `only ${n} participants trained, fewer than one bucket of ${cfg.bucketSize}` }];
      const seed = this.options.seed;
      const order = seed === undefined ? undefined : (ids: readonly string[]) => SeededRng.from(seed, 'secagg-buckets', round).shuffle([...ids]);
      groups = planBuckets(base, cfg.bucketSize, order ? { order } : {}).map((p) => ({ bucket: p.bucket, members: p.members, sessionId: p.config.sessionId }));
    }
    const weightOf = new Map(trained.map((t) => [t.id, t.weight]));
    return groups.map(({ bucket, members, sessionId }) => {
      const shape = sessionShape(cfg, members.length, this.options.minSurvivorsFloor ?? 0);
      if ('problem' in shape) return { bucket, members, config: undefined, problem: shape.problem };
      const maxWeight = Math.max(...members.map((id) => weightOf.get(id)!));
      const levels = levelsPerParticipant(cfg.modulusBits, members.length);
      if (maxWeight > levels) {
        return {
          bucket, members, config: undefined,
          problem: `a weight of ${maxWeight} (sample count) does not fit a ${cfg.modulusBits}-bit sum of ${members.length} participants (at most ${levels}); set secureAggregation.maxWeight ≤ ${levels} or raise modulusBits`,
        };
      }
      const member = new Set(members);
      return {
        bucket,
        members,
        config: { ...base, sessionId, participants: base.participants.filter((p) => member.has(p.id)), degree: shape.degree, threshold: shape.threshold, minSurvivors: shape.minSurvivors, maxWeight },
      };
    });
  }

  private async runSession(
    round: number,
    plan: SessionPlan,
    trained: ReadonlyMap<string, Trained>,
    meter: Meter,
    call: <K extends SecAggRequestKind>(id: string, kind: K, body: SecAggProtocol[K]['request'], stage: DropoutStage) => Promise<SecAggProtocol[K]['reply']>,
  ): Promise<SessionReport> {
    const dropped = new Map<string, string>();
    if (!plan.config || plan.members.length === 0) return { type: 'aborted', plan, reason: `secure aggregation not run: ${plan.problem ?? 'no members'}`, dropped };
    let session;
    let coordinator: SecAggCoordinator;
    try {
      session = createSession(plan.config);
      coordinator = new SecAggCoordinator(session);
    } catch (err) {
      return { type: 'aborted', plan, reason: `secure aggregation not run: ${reason(err)}`, dropped };
    }
    const timed = <T>(fn: () => T): T => {
      const t0 = performance.now();
      try {
        return fn();
      } finally {
        meter.coordinatorMs += performance.now() - t0;
      }
    };
    const deliver = async (id: string, stage: SecAggStage, send: () => Promise<SecAggStepReply>): Promise<void> => {
      if (dropped.has(id)) return;
      try {
        const reply = parseWire(stepReplySchema, await send(), `${stage} reply`);
        if (reply.participantId !== id) fail('protocol', `reply claims to be from ${reply.participantId}`);
        if (reply.round !== round) fail('protocol', `reply is for round ${reply.round}, expected ${round}`);
        meter.bytesUp += reply.message.length;
        timed(() => {
          const msg = decodeMessage(reply.message);
          if (!isParticipantMessage(msg)) fail('protocol', `got a ${msg.kind} message, which only the coordinator sends`);
          // The transport authenticated the sender: it may speak only for itself.
          if (msg.sender !== session.indexOf(id)) fail('auth', `${id} sent a message as participant #${msg.sender}`);
          coordinator.receive(msg);
        });
      } catch (err) {
        dropped.set(id, `${stage} (${reason(err)})`);
      }
    };

    const setup = (id: string): SecAggSetupRequest => {
      const cfg = plan.config!;
      const { sessionId, participants, vectorLength, degree, threshold, modulusBits, clip, maxWeight, minSurvivors } = cfg;
      return {
        round, bucket: plan.bucket, sessionId, participants, vectorLength,
        degree: degree!, threshold: threshold!, modulusBits: modulusBits!, clip: clip!, maxWeight: maxWeight!, minSurvivors: minSurvivors!,
        weight: trained.get(id)!.weight,
      };
    };
    // The roster (ids and identity keys) plus the fixed fields, as a network transport would carry it.
    const setupBytes = 32 + 4 * 10 + plan.config.participants.reduce((s, p) => s + 32 + Buffer.byteLength(p.id), 0);
    await Promise.all(
      plan.members.map((id) => {
        meter.bytesDown += setupBytes;
        return deliver(id, 'advertise-keys', () => call(id, 'secagg-setup', setup(id), 'advertise-keys'));
      }),
    );
    for (;;) {
      const t0 = performance.now();
      const step = await coordinator.closeStage();
      meter.coordinatorMs += performance.now() - t0;
      // The abort message names the stage and says no aggregate was released.
      if (step.type === 'aborted') return { type: 'aborted', plan, reason: step.abort.message, dropped };
      if (step.type === 'done') {
        const { result } = step;
        const d = timed(() => dequantiseSum(result.sum, session.quantisation));
        const expected = result.survivors.reduce((s, id) => s + trained.get(id)!.weight, 0);
        if (d.totalWeight !== expected) {
          return {
            type: 'aborted', plan, dropped,
            reason: `secure aggregation: the sum's weight word is ${d.totalWeight} but the survivors' assigned weights total ${expected}: a participant masked a wrong weight, so the sum is discarded`,
          };
        }
        const id = plan.bucket === 0 && !this.options.config.bucketSize ? 'secure-sum' : `bucket-${plan.bucket}`;
        return { type: 'done', plan, dropped, survivors: result.survivors, contribution: { id, update: d.mean, weight: d.totalWeight, members: result.survivors } };
      }
      await Promise.all(
        step.messages.map((m) => {
          const id = session.ids[m.recipient]!;
          if (dropped.has(id)) return undefined;
          const message = timed(() => ownBytes(encodeMessage(m)));
          meter.bytesDown += message.length;
          return deliver(id, step.next, () => call(id, 'secagg-step', { round, message }, step.next));
        }),
      );
    }
  }
}

function requestOn<K extends SecAggRequestKind>(transport: ParticipantTransport, id: string, kind: K, body: SecAggProtocol[K]['request'], timeoutMs: number): Promise<SecAggProtocol[K]['reply']> {
  return transport.request(id, kind, body, { timeoutMs });
}
