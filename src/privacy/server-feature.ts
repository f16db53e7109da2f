/**
 * The coordinator side of differential privacy in a simulation (a ServerFeature factory).
 *
 * mode 'client' — DP-FedAvg (McMahan et al. 2018). Per round t the coordinator
 *   1. checks the (ε, δ) budget before anything is released and stops training (keeping the last
 *      model) if round t would exceed it; afterwards it commits the round's cost — also for a
 *      round that was skipped, conservatively;
 *   2. sends the clip bound C_t with every training request (adaptive clipping moves it) and
 *      refuses any update whose norm exceeds it, so the sensitivity the noise is calibrated to is
 *      enforced here too, not only trusted to the participants;
 *   3. aggregates with uniform weights (sample-count weighting would change the sensitivity) and
 *      adds N(0, (zC_t/m)²) to the mean with the fixed denominator m = q·N (central-noise-stage.ts);
 *   4. under adaptive clipping, updates C from the noised count of the participants' bits.
 *   Accounting: q is the Poisson rate (sampling: poisson); with sampling 'all' every participant
 *   takes part in every round and the accountant uses q = 1 (no amplification by sampling).
 *   A fixed-size sample is refused: it is not the mechanism the accountant analyses.
 *
 * mode 'sample' — DP-SGD runs on the participants, each with its own accountant and ceiling
 *   (client-feature.ts). The coordinator records the largest and smallest ε the participants report
 *   and stops when no participant can afford another round.
 *
 * ε and (adaptive) C go into RoundRecord.extra, hence into results.json and the report's charts.
 */
import { fail } from '../core/errors.js';
import { l2Norm } from '../core/vector.js';
import type { SimulationConfig } from '../config/simulation.js';
import type { EngineOptions, RoundGuard, RoundRecord } from '../federation/engine.js';
import type { ProtocolMap, RequestKind, TrainRequest } from '../federation/protocol.js';
import type { ServerFeature, ServerFeatureContext } from '../federation/server-pipeline.js';
import { chain } from '../federation/stages.js';
import { fixedDenominatorStage } from '../secure/distributed-noise.js';
import type { ParticipantTransport, RequestOptions } from '../transport/types.js';
import { AdaptiveClipping } from './adaptive-clipping.js';
import { PrivacyBudget } from './budget.js';
import { centralGaussianNoiseStage } from './central-noise-stage.js';
import { resolveDpConfig, type DpConfig, type ResolvedDp } from './config.js';
import { dpSgdSchedule } from './dp-sgd.js';
import { computeRdp, DEFAULT_ORDERS, epsilonFromRdp } from './rdp-accountant.js';

/** The DP-FedAvg sampling rate of a config: the Poisson rate, or 1 for 'all'. */
export function clientSamplingRate(config: SimulationConfig): number {
  const s = config.sampling;
  switch (s.kind) {
    case 'poisson':
      return s.rate;
    case 'all':
      return 1;
    case 'fixed':
      return fail(
        'config',
        `client-level DP needs Poisson sampling: sampling { kind: fixed, perRound: ${s.perRound} } draws exactly ${s.perRound} of ${config.participants} participants, which is not the mechanism the privacy accountant analyses`,
        `use sampling: { kind: poisson, rate: ${Number((s.perRound / config.participants).toPrecision(4))} } (the same expected number per round), or { kind: all } (accounted with q = 1, no amplification)`,
      );
  }
}

/**
 * Sets each training request's clip bound, refuses updates above it, and hands the participants'
 * bits ‖Δ‖ ≤ C to adaptive clipping (they are stripped from the reply, so they reach no record).
 */
class ClipBoundTransport implements ParticipantTransport {
  constructor(
    private readonly inner: ParticipantTransport,
    private readonly clipNorm: () => number,
    private readonly onBit: (round: number, withinClip: boolean) => void,
  ) {}

  participants(): readonly string[] {
    return this.inner.participants();
  }

  async request<K extends RequestKind>(id: string, kind: K, request: ProtocolMap[K]['request'], options?: RequestOptions): Promise<ProtocolMap[K]['reply']> {
    if (kind !== 'train') return this.inner.request(id, kind, request, options);
    const train: TrainRequest = { ...(request as TrainRequest), clipNorm: this.clipNorm() };
    const reply = await this.inner.request(id, 'train', train, options);
    const norm = l2Norm(reply.delta);
    const c = train.clipNorm ?? fail('internal', 'no clip bound');
    if (!(norm <= c)) {
      fail('protocol', `participant ${id} sent an update of norm ${norm} > the clip bound ${c} of round ${train.round}; refused (the DP noise is calibrated to that bound)`);
    }
    const { withinClip, ...metrics } = reply.metrics;
    if (typeof withinClip === 'boolean') this.onBit(train.round, withinClip);
    return { ...reply, metrics } as ProtocolMap[K]['reply'];
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

function dpFedAvgFeature(ctx: ServerFeatureContext, dp: DpConfig): ServerFeature {
  const { config } = ctx;
  const population = ctx.data.participantIds.length;
  const q = clientSamplingRate(config);
  if (dp.samplingRate !== undefined && dp.samplingRate !== q) {
    fail('config', `privacy.samplingRate is ${dp.samplingRate} but the sampling section gives q = ${q}`, 'remove privacy.samplingRate for mode client (it is taken from sampling), or make the two equal');
  }
  if (config.aggregation.name !== 'fedavg') {
    fail(
      'config',
      `client-level DP accounts for the noised mean of clipped updates; aggregator '${config.aggregation.name}' has a different sensitivity, so the reported ε would not hold`,
      "use aggregation: { name: fedavg } with privacy.mode 'client' (clipping already bounds every participant's influence)",
    );
  }
  const resolved: ResolvedDp = resolveDpConfig(dp, { rounds: config.rounds, samplingRate: q, population });
  const m = resolved.expectedParticipants ?? fail('internal', 'DP-FedAvg without m');
  const adaptive = resolved.adaptiveClipping
    ? new AdaptiveClipping({
        initialClipNorm: dp.clipNorm,
        targetQuantile: resolved.adaptiveClipping.targetQuantile,
        learningRate: resolved.adaptiveClipping.learningRate,
        expectedParticipants: m,
        noiseMultiplier: resolved.noiseMultiplier,
        countNoiseStd: resolved.adaptiveClipping.countNoiseStd,
      })
    : undefined;
  const clipNow = (): number => adaptive?.clipNorm ?? dp.clipNorm;
  const budget = new PrivacyBudget({ ...(resolved.epsilonBudget !== undefined ? { epsilon: resolved.epsilonBudget } : {}), delta: resolved.delta });
  const bits = new Map<number, boolean[]>();
  let usedClip = clipNow();
  let closed = 0; // bits of replies that arrive after their round closed are dropped
  const event = (round: number) => ({ round, noiseMultiplier: resolved.noiseMultiplier, samplingRate: q, steps: 1 });

  const guard: RoundGuard = {
    name: 'privacy budget',
    beforeRound(round) {
      const check = budget.checkRound(event(round));
      return check.allowed ? { stop: false } : { stop: true, reason: check.reason };
    },
    afterRound(round) {
      budget.recordRound(event(round));
      usedClip = clipNow();
      if (adaptive) adaptive.update(bits.get(round) ?? []);
      closed = round;
      bits.clear();
    },
    report() {
      return { epsilon: budget.spent(), ...(adaptive ? { clipNorm: usedClip } : {}) };
    },
  };
  // With secure aggregation's distributed noise the participants add it (secure/simulation-config.ts
  // splits the same z·C over them); only the fixed denominator is left to apply here.
  const noise = config.secureAggregation?.distributedNoise
    ? fixedDenominatorStage(m)
    : centralGaussianNoiseStage({
        noiseMultiplier: adaptive ? adaptive.updateNoiseMultiplier : resolved.noiseMultiplier,
        clipNorm: clipNow,
        expectedParticipants: m,
      });

  return {
    name: 'privacy',
    configure(options: EngineOptions): EngineOptions {
      if (options.collector) {
        fail(
          'config',
          'client-level DP is not wired to a custom update collector (secure aggregation) yet: its noise stage expects the mean of individually clipped updates',
          "disable secure aggregation, or use privacy.mode 'sample'",
        );
      }
      const transport = new ClipBoundTransport(options.transport, clipNow, (round, bit) => {
        if (round <= closed) return;
        const list = bits.get(round) ?? [];
        list.push(bit);
        bits.set(round, list);
      });
      return {
        ...options,
        transport,
        weighting: 'uniform',
        // The noise comes first: it expects the plain mean; later stages are post-processing.
        serverChain: options.serverChain ? chain(noise, options.serverChain) : noise,
        guards: [...(options.guards ?? []), guard],
      };
    },
  };
}

interface ParticipantState {
  readonly examples: number;
  readonly rounds: number;
  readonly epsilon: number;
}

/** Tracks the ε the DP-SGD participants report; stops when none can afford another round. */
class DpSgdMonitor implements RoundGuard {
  readonly name = 'privacy budget';
  private readonly state = new Map<string, ParticipantState>();

  constructor(
    private readonly dp: DpConfig,
    private readonly ids: readonly string[],
    private readonly config: SimulationConfig,
  ) {}

  private ceiling(id: string): number | undefined {
    return this.dp.participantEpsilon?.[id] ?? this.dp.epsilon;
  }

  beforeRound(): { stop: false } | { stop: true; reason: string } {
    const z = this.dp.noiseMultiplier;
    // Calibrated z: every participant's planned rounds fit its ceiling by construction.
    if (z === undefined) return { stop: false };
    const next: number[] = [];
    for (const id of this.ids) {
      const s = this.state.get(id);
      const ceiling = this.ceiling(id);
      if (!s || ceiling === undefined) return { stop: false };
      const { samplingRate, stepsPerRound } = dpSgdSchedule(s.examples, this.config.training, this.dp.samplingRate);
      const eps = epsilonFromRdp(DEFAULT_ORDERS, computeRdp({ noiseMultiplier: z, samplingRate, steps: stepsPerRound * (s.rounds + 1) }), this.dp.delta).epsilon;
      if (eps <= ceiling) return { stop: false };
      next.push(eps);
    }
    const spent = [...this.state.values()].map((s) => s.epsilon);
    return {
      stop: true,
      reason: `every participant's ε budget is spent (largest ε ${Math.max(...spent).toPrecision(4)}, δ = ${this.dp.delta < 1e-3 ? this.dp.delta.toExponential() : this.dp.delta}): one more round would raise each above its ceiling (to at least ${Math.min(...next).toPrecision(4)}); stopping with the last model`,
    };
  }

  afterRound(_round: number, record: RoundRecord): void {
    for (const p of record.participants) {
      if (p.epsilon === undefined) continue;
      const before = this.state.get(p.id);
      const examples = p.numSamples ?? before?.examples ?? fail('protocol', `participant ${p.id} reported ε without a sample count`);
      this.state.set(p.id, { examples, rounds: (before?.rounds ?? 0) + 1, epsilon: p.epsilon });
    }
  }

  report(): Record<string, number> {
    const eps = [...this.state.values()].map((s) => s.epsilon);
    return eps.length > 0 ? { epsilon: Math.max(...eps), epsilonMin: Math.min(...eps) } : {};
  }
}

function dpSgdFeature(ctx: ServerFeatureContext, dp: DpConfig): ServerFeature {
  const monitor = new DpSgdMonitor(dp, ctx.data.participantIds, ctx.config);
  return {
    name: 'privacy',
    configure: (options) => ({ ...options, guards: [...(options.guards ?? []), monitor] }),
  };
}

export function privacyServerFeature(ctx: ServerFeatureContext): ServerFeature | undefined {
  const dp = ctx.config.privacy;
  if (!dp) return undefined;
  return dp.mode === 'client' ? dpFedAvgFeature(ctx, dp) : dpSgdFeature(ctx, dp);
}
