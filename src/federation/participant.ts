/**
 * The participant side of a round: load the global parameters, train on local data, return the
 * delta after the client-side chain (clip → noise → …). The same handler runs inside a simulation
 * worker and behind a real network connection.
 */
import { fail } from '../core/errors.js';
import { SeededRng } from '../core/rng.js';
import { firstNonFinite, sub } from '../core/vector.js';
import type { Dataset } from '../data/dataset.js';
import type { LocalModel } from '../model/local-model.js';
import { isSecAggKind, SecAggParticipantDriver, type SecAggParticipantPolicy } from '../secure/participant-driver.js';
import type { ParticipantHandler, PrivacyReplyMetrics, ProtocolCall, ProtocolMap, RequestKind, TrainReply, TrainRequest } from './protocol.js';
import type { UpdateStage } from './stages.js';

/** Replaces `LocalModel.train` for a participant (e.g. DP-SGD); may refuse a round by throwing. */
export interface LocalTrainer {
  train(model: LocalModel, data: Dataset, request: TrainRequest, rng: SeededRng): Promise<{ readonly loss: number; readonly metrics?: PrivacyReplyMetrics }>;
}

export interface ParticipantOptions {
  readonly id: string;
  readonly data: Dataset;
  /** The model runtime; may be shared by several simulated participants of one worker. */
  readonly model: LocalModel;
  /** Runs on the raw delta before it leaves the participant. */
  readonly clientChain?: UpdateStage;
  /** Local training other than `model.train` (e.g. DP-SGD). */
  readonly trainer?: LocalTrainer;
  /** Take part in secure aggregation (secagg-* requests) under this policy; refused without one. */
  readonly secureAggregation?: SecAggParticipantPolicy;
}

export class Participant implements ParticipantHandler {
  readonly id: string;
  private secure: SecAggParticipantDriver | undefined;

  constructor(private readonly options: ParticipantOptions) {
    this.id = options.id;
  }

  async handle<K extends RequestKind>(kind: K, request: ProtocolMap[K]['request']): Promise<ProtocolMap[K]['reply']> {
    const call = { kind, request } as ProtocolCall;
    if (call.kind === 'train') return (await this.train(call.request)) as ProtocolMap[K]['reply'];
    if (isSecAggKind(call.kind)) return (await this.secureAggregation().handle(call)) as ProtocolMap[K]['reply'];
    return fail('protocol', `participant ${this.id} does not handle "${String(kind)}" requests`);
  }

  /** The per-round SecAgg state lives here, so it persists between a round's requests. */
  private secureAggregation(): SecAggParticipantDriver {
    const policy = this.options.secureAggregation ?? fail('protocol', `participant ${this.id} is not configured for secure aggregation`);
    this.secure ??= new SecAggParticipantDriver(this.id, policy, (request) => this.train(request));
    return this.secure;
  }

  private async train(request: TrainRequest): Promise<TrainReply> {
    const { model, data, clientChain, trainer } = this.options;
    if (request.params.length !== model.layout.size) fail('shape', `round ${request.round}: global model has ${request.params.length} parameters, this participant's model has ${model.layout.size}`);
    if (firstNonFinite(request.params) >= 0) fail('non-finite', `round ${request.round}: global model contains NaN/Inf; refusing to train on it`);
    const started = performance.now();
    model.setParams(request.params);
    const rng = SeededRng.from(request.seed, 'local-train', this.id);
    const result = trainer ? await trainer.train(model, data, request, rng) : await model.train(data, request.training, rng);
    let extra: PrivacyReplyMetrics = 'metrics' in result ? { ...result.metrics } : {};
    let delta = sub(model.getParams(), request.params);
    if (clientChain) {
      const report = (m: PrivacyReplyMetrics): void => {
        extra = { ...extra, ...m };
      };
      delta = await clientChain.apply(delta, { round: request.round, actor: this.id, numSamples: data.size, contributors: 1, report, ...(request.clipNorm !== undefined ? { clipNorm: request.clipNorm } : {}) });
    }
    return {
      participantId: this.id,
      round: request.round,
      delta,
      numSamples: data.size,
      metrics: { loss: result.loss, trainMs: performance.now() - started, ...extra },
    };
  }
}
