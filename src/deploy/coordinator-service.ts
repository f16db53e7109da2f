/**
 * `fedsec serve`: the same round engine as `fedsec simulate`, with remote participants behind the
 * mTLS network transport, state in the CoordinatorStore, and every admission, rejection, round,
 * aggregation decision and promotion in the hash-chained audit log.
 *
 * Restart safety: on start the store says where training stands. A round left open by a crash is
 * aborted (and audit-logged); training resumes at the round after the last committed one, from
 * that round's model (EngineOptions.startRound + initialParams). Committed rounds are never redone.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { AuditLog } from '../audit/audit-log.js';
import { createAggregator } from '../aggregation/registry.js';
import { holdOutRootSet } from '../aggregation/root-reference.js';
import { fail } from '../core/errors.js';
import { deserializeParams, sameLayout, serializeParams, type ParamLayout } from '../core/params.js';
import type { Vector } from '../core/vector.js';
import type { Dataset } from '../data/dataset.js';
import { RoundEngine, type EngineOptions, type Evaluation, type RoundObserver, type RoundRecord } from '../federation/engine.js';
import { serverFeaturesFor, type ServerFeatureContext } from '../federation/server-pipeline.js';
import { loadSplit } from '../federation/simulation-setup.js';
import { initRuntime } from '../model/backend.js';
import { LocalModel } from '../model/local-model.js';
import { writeFileAtomic } from '../store/atomic-file.js';
import { CoordinatorStore } from '../store/coordinator-store.js';
import { NetworkTransport, type NetworkEvents, type RejectionEvent } from '../transport/network/network-transport.js';
import { AdmissionPolicy } from './admission.js';
import type { CoordinatorConfig } from './coordinator-config.js';
import { FileTlsSource } from './coordinator-tls.js';
import type { Logger } from './json-log.js';
import { MetricsRegistry, startMetricsServer, type MetricsServer } from './metrics.js';
import { recoverAudit, RoundRecorder } from './round-recorder.js';

export interface ServeSummary {
  readonly startRound: number;
  readonly rounds: number;
  readonly alreadyComplete: boolean;
  readonly initial?: Evaluation;
  readonly completed: readonly RoundRecord[];
  readonly finalRound: number;
  readonly store: string;
  readonly auditLog: string;
}

interface StartState {
  readonly lastCommitted: number;
  /** The model the last committed round stored (the initial model on a fresh store). */
  readonly lastRound: Vector;
  readonly promoted: Vector;
}

function telemetry(log: Logger, m: ReturnType<typeof coordinatorMetrics>): RoundObserver {
  return {
    onRunStart: (info) => log.info('run.started', { rounds: info.rounds, participants: info.participants, initialAccuracy: info.initial.accuracy, initialLoss: info.initial.loss }),
    onRoundStart: (round, sampled) => {
      m.round.set(round);
      log.info('round.started', { round, participants: sampled });
    },
    onParticipantDone: (round, o) => log.info('participant.update', { round, participant: o.id, ok: o.ok, error: o.error, loss: o.loss, numSamples: o.numSamples, trainMs: o.trainMs === undefined ? undefined : Math.round(o.trainMs) }),
    onRoundEnd: (r) => {
      m.roundsTotal.inc();
      m.roundSeconds.inc({}, r.timings.totalMs / 1000);
      m.lastRoundSeconds.set(r.timings.totalMs / 1000);
      if (!r.skipped) {
        m.accuracy.set(r.evaluation.accuracy);
        m.loss.set(r.evaluation.loss);
      }
      log.info('round.completed', {
        round: r.round, accuracy: r.evaluation.accuracy, loss: r.evaluation.loss, updates: r.participants.filter((p) => p.ok).length,
        sampled: r.sampled.length, promoted: r.promoted, skipped: r.skipped, totalMs: Math.round(r.timings.totalMs),
      });
    },
  };
}

function coordinatorMetrics(registry: MetricsRegistry) {
  return {
    roundsTotal: registry.counter('fedsec_rounds_total', 'Rounds completed and committed to the store by this process.'),
    round: registry.gauge('fedsec_round', 'The round in progress (or last started).'),
    connected: registry.gauge('fedsec_participants_connected', 'Participants with an admitted, live session.'),
    admissions: registry.counter('fedsec_admissions_total', 'Sessions admitted.'),
    rejections: registry.counter('fedsec_rejections_total', 'Connections, admissions and messages refused, by reason.', false),
    bytesIn: registry.counter('fedsec_bytes_received_total', 'Protobuf message bytes received from participants.'),
    bytesOut: registry.counter('fedsec_bytes_sent_total', 'Protobuf message bytes sent to participants.'),
    roundSeconds: registry.counter('fedsec_round_duration_seconds_total', 'Total wall time of completed rounds (divide by fedsec_rounds_total for the mean).'),
    lastRoundSeconds: registry.gauge('fedsec_last_round_duration_seconds', 'Wall time of the last completed round.'),
    accuracy: registry.gauge('fedsec_model_accuracy', 'Held-out accuracy of the last evaluated candidate.'),
    loss: registry.gauge('fedsec_model_loss', 'Held-out loss of the last evaluated candidate.'),
  };
}

export class CoordinatorService {
  readonly metrics = new MetricsRegistry();
  private readonly m = coordinatorMetrics(this.metrics);
  private transportRef: NetworkTransport | undefined;
  private metricsServer: MetricsServer | undefined;
  private stopped = false;

  private constructor(
    readonly config: CoordinatorConfig,
    private readonly log: Logger,
    readonly store: CoordinatorStore,
    readonly audit: AuditLog,
    private readonly model: LocalModel,
    private readonly data: { readonly train: Dataset; readonly test: Dataset },
    private readonly state: StartState,
  ) {}

  static async start(config: CoordinatorConfig, log: Logger): Promise<CoordinatorService> {
    const { federation: f, deploy: d } = config;
    const runtime = await initRuntime(f.runtime.backend);
    const tls = await FileTlsSource.load(d.tls);
    mkdirSync(d.store, { recursive: true, mode: 0o750 });
    const store = CoordinatorStore.open(d.store);
    let audit: AuditLog | undefined;
    let model: LocalModel | undefined;
    let service: CoordinatorService | undefined;
    try {
      audit = AuditLog.open(join(d.store, 'audit.jsonl'));
      const recovered = recoverAudit(store, audit);
      if (recovered.aborted !== undefined) log.warn('round.aborted', { round: recovered.aborted, reason: 'coordinator restarted while the round was in progress' });
      if (recovered.repaired !== undefined) log.warn('audit.repaired', { round: recovered.repaired, message: 'wrote the round.committed entry a crash interrupted' });

      const data = loadSplit(f);
      model = await LocalModel.create(f.model, data.test.featureShape, data.test.numClasses, f.seed);
      const state = startState(store, model, data.test);
      service = new CoordinatorService(config, log, store, audit, model, data, state);
      await service.listen(tls);
      log.info('coordinator.listening', {
        host: d.listen.host, port: service.port, federation: service.transport.federation, backend: runtime.backend, store: d.store,
        metricsPort: service.metricsPort, lastCommittedRound: state.lastCommitted, rounds: f.rounds, parameters: model.layout.size,
      });
      return service;
    } catch (err) {
      if (service) await service.stop();
      else {
        model?.dispose();
        audit?.close();
        store.close();
      }
      throw err;
    }
  }

  get transport(): NetworkTransport {
    return this.transportRef ?? fail('precondition', 'the coordinator is not listening');
  }

  get port(): number {
    return this.transport.port;
  }

  get metricsPort(): number | undefined {
    return this.metricsServer?.port;
  }

  private async listen(tls: FileTlsSource): Promise<void> {
    const d = this.config.deploy;
    const admission = new AdmissionPolicy(d.admission, this.store, join(d.store, 'enrollments.json'));
    if (d.metrics !== false) this.metricsServer = await startMetricsServer(this.metrics, d.metrics.host, d.metrics.port);
    this.transportRef = await NetworkTransport.listen({
      host: d.listen.host,
      port: d.listen.port,
      tls,
      admission,
      model: { specJson: JSON.stringify(this.config.federation.model), featureShape: this.data.test.featureShape, numClasses: this.data.test.numClasses, layout: this.model.layout },
      limits: { ...d.limits, maxMessageBytes: d.limits.chunkBytes + 64 * 1024 },
      explainRejections: d.explainRejections,
      events: this.networkEvents(),
    });
  }

  private networkEvents(): NetworkEvents {
    const { log, audit, store, m } = this;
    const safely = (what: string, fn: () => void): void => {
      try {
        fn();
      } catch (err) {
        log.error('audit.write-failed', { what, message: err instanceof Error ? err.message : String(err) });
      }
    };
    return {
      admitted: ({ identity, remote }) => {
        m.admissions.inc();
        m.connected.set(this.transport.connected().length);
        log.info('participant.admitted', { participant: identity.name, org: identity.org, serial: identity.serial, remote });
        safely('participant.admitted', () => audit.append('participant.admitted', identity.name, { participant: identity.name, ...(identity.org ? { org: identity.org } : {}), serial: identity.serial, fingerprint: identity.fingerprint }));
      },
      rejected: (e) => {
        m.rejections.inc({ reason: e.reason });
        log.warn(e.phase === 'message' ? 'message.rejected' : 'participant.rejected', { phase: e.phase, reason: e.reason, message: e.message, participant: e.identity?.name, remote: e.remote, round: e.round, stage: e.stage, seq: e.seq });
        safely('rejection', () => this.auditRejection(e));
        if (e.reason === 'revoked' && e.certificate) {
          const known = store.participants().find((p) => p.serial === e.certificate?.serial);
          if (known && known.status !== 'revoked') safely('revocation', () => store.setParticipantStatus(known.name, 'revoked'));
        }
      },
      disconnected: ({ participant, why }) => {
        m.connected.set(this.transport.connected().length);
        log.info('participant.disconnected', { participant, why });
        safely('status', () => {
          if (store.participant(participant)?.status === 'active') store.setParticipantStatus(participant, 'enrolled');
        });
      },
      tlsError: ({ remote, message }) => {
        m.rejections.inc({ reason: 'tls-handshake' });
        log.warn('tls.handshake-failed', { remote, message });
      },
      bytes: (direction, n) => (direction === 'in' ? m.bytesIn : m.bytesOut).inc({}, n),
    };
  }

  private auditRejection(e: RejectionEvent): void {
    const actor = e.identity?.name ?? 'unauthenticated';
    if (e.phase === 'message') {
      this.audit.append('message.rejected', actor, {
        participant: e.identity?.name ?? '', reason: e.reason, message: e.message, remote: e.remote,
        ...(e.round === undefined ? {} : { round: e.round }), ...(e.stage === undefined ? {} : { stage: e.stage }), ...(e.seq === undefined ? {} : { seq: e.seq }),
      });
      return;
    }
    // Only a verified identity is recorded as the participant; an unverified certificate by its facts.
    const cert = e.identity ? { serial: e.identity.serial, fingerprint: e.identity.fingerprint } : e.certificate ? { serial: e.certificate.serial, fingerprint: e.certificate.fingerprint } : {};
    const claimed = !e.identity && e.certificate?.subject ? ` (certificate claims CN=${e.certificate.subject.slice(0, 64)})` : '';
    this.audit.append('participant.rejected', actor, {
      reason: e.reason, message: `${e.message}${claimed}`, remote: e.remote,
      ...(e.identity ? { participant: e.identity.name } : {}), ...cert,
    });
  }

  /** Waits for participants, runs the remaining rounds, tells participants training is over. */
  async run(): Promise<ServeSummary> {
    const { federation: f, deploy: d } = this.config;
    const base = { rounds: f.rounds, store: d.store, auditLog: this.audit.path };
    const startRound = this.state.lastCommitted + 1;
    if (startRound > f.rounds) {
      this.log.info('run.already-complete', { rounds: f.rounds, lastCommittedRound: this.state.lastCommitted });
      return { ...base, startRound, alreadyComplete: true, completed: [], finalRound: this.state.lastCommitted };
    }
    if (f.attack !== undefined) {
      fail('config', 'the attack: section simulates adversaries inside the coordinator; it has no place in a deployment', 'remove attack: from the coordinator config (red-team a deployment with a misbehaving participant instead)');
    }
    if (f.secureAggregation !== undefined) {
      fail('config', 'secure aggregation does not run over the network transport yet (it carries train requests only)', 'remove secureAggregation: from the coordinator config, or run it with `fedsec simulate`');
    }
    if (f.privacy !== undefined && startRound > 1) {
      fail('precondition', `resuming at round ${startRound} with privacy enabled is not supported: the privacy accountant's state is not persisted, so ε would be under-reported`, 'start over with an empty deploy.store, or remove the privacy section knowingly');
    }
    const want = d.wait.participants ?? f.server.minParticipants;
    this.log.info('coordinator.waiting', { participants: want, timeoutMs: d.wait.timeoutMs });
    const connected = await this.transport.waitForParticipants(want, d.wait.timeoutMs);
    this.log.info('coordinator.ready', { connected });

    const { model, data } = this;
    // FLTrust's clean root set comes from the coordinator's own training split.
    const root = f.server.rootSamples === undefined ? undefined : holdOutRootSet(data.train, [], f.server.rootSamples, f.seed).root;
    const ctx: ServerFeatureContext = {
      config: f,
      data: { train: data.train, test: data.test, partitions: [], participantIds: this.transport.participants(), ...(root ? { root } : {}) },
      model,
      outDir: join(d.store, 'features'),
    };
    const features = serverFeaturesFor(ctx);
    const evaluate = (params: Vector): Evaluation => {
      model.setParams(params);
      const result = model.evaluate(data.test);
      const extra = Object.assign({}, ...features.map((feat) => feat.evaluate?.(model, params) ?? {})) as Record<string, number>;
      return Object.keys(extra).length > 0 ? { ...result, extra } : result;
    };
    const aggregator = createAggregator(f.aggregation);
    let options: EngineOptions = {
      transport: this.transport,
      initialParams: this.state.lastRound,
      rounds: f.rounds,
      startRound,
      sampling: f.sampling,
      training: f.training,
      aggregator,
      byzantine: f.byzantine,
      serverLearningRate: f.server.learningRate,
      minParticipants: f.server.minParticipants,
      timeoutMs: f.server.timeoutMs,
      seed: f.seed,
      evaluate,
    };
    for (const feature of features) options = feature.configure?.(options) ?? options;
    // The engine's rule for what follows a rejected candidate decides where a resumed run starts too.
    const continueFrom = options.continueFrom ?? 'candidate';
    const current = continueFrom === 'promoted' ? this.state.promoted : this.state.lastRound;
    const recorder = new RoundRecorder({
      store: this.store,
      audit: this.audit,
      layout: model.layout,
      aggregator: aggregator.name,
      continueFrom,
      current,
      promoted: this.state.promoted,
      onCommitted: ({ round, modelVersion, sha256 }) => this.log.info('round.committed', { round, modelVersion, sha256 }),
    });
    options = { ...options, initialParams: current };
    options = { ...options, gate: recorder.gate(options.gate), observers: [recorder, ...(options.observers ?? []), telemetry(this.log, this.m)] };
    const result = await new RoundEngine(options).run();
    const sections: Record<string, unknown> = {};
    for (const feature of features) {
      const section = await feature.finish?.();
      if (section) sections[feature.name] = section;
    }
    if (Object.keys(sections).length > 0) {
      mkdirSync(ctx.outDir ?? d.store, { recursive: true });
      writeFileAtomic(join(ctx.outDir ?? d.store, 'features.json'), `${JSON.stringify(sections, null, 2)}\n`);
    }
    const message = result.stopped
      ? `training stopped before round ${result.stopped.round}: ${result.stopped.reason}`
      : `training finished after round ${f.rounds}; the model of round ${result.finalRound} is the result`;
    this.transport.finish(message);
    this.log.info('run.finished', { message, finalRound: result.finalRound, rounds: result.rounds.length });
    return { ...base, startRound, alreadyComplete: false, initial: result.initial, completed: result.rounds, finalRound: result.finalRound };
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.transportRef?.close();
    await this.metricsServer?.close();
    this.model.dispose();
    this.audit.close();
    this.store.close();
  }
}

/** Where training stands according to the store (a fresh store gets the initial model). */
function startState(store: CoordinatorStore, model: LocalModel, test: Dataset): StartState {
  const layout = model.layout;
  const read = (version: number): Vector => {
    const { layout: stored, values } = deserializeParams(store.readModel(version));
    if (!sameLayout(stored, layout)) {
      fail('config', `the store ${store.dir} holds a model of ${stored.size} parameters (${describe(stored)}), the config builds ${layout.size} (${describe(layout)})`, 'use the model the store was created with, or a new deploy.store directory');
    }
    return values;
  };
  if (!store.latestModel('any')) {
    const initial = model.getParams();
    const evaluation = model.evaluate(test);
    store.putInitialModel(serializeParams({ layout, values: initial }), { accuracy: evaluation.accuracy, loss: evaluation.loss });
    return { lastCommitted: 0, lastRound: initial, promoted: initial };
  }
  const lastCommitted = store.lastCommittedRound();
  const promotedRecord = store.latestModel('promoted') ?? fail('io', `the store ${store.dir} has no promoted model (not even the initial one)`, 'restore it from backup or use a new deploy.store directory');
  const promoted = read(promotedRecord.version);
  const lastVersion = lastCommitted > 0 ? store.round(lastCommitted)?.modelVersion : undefined;
  return { lastCommitted, lastRound: lastVersion === undefined ? promoted : read(lastVersion), promoted };
}

function describe(layout: ParamLayout): string {
  return layout.entries.map((e) => `${e.name}[${e.shape.join('×')}]`).join(', ');
}
