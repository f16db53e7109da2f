/**
 * The participant's side of secure aggregation over a transport: answers the collector's
 * secagg-* requests (transport-messages.ts) by driving a `SecAggParticipant` per round.
 *
 * Per round: train (the delta stays here) → setup (check the session against this participant's
 * policy, advertise keys) → steps (share keys, mask the quantised update, sign the survivor list,
 * reveal shares). Security rules enforced here rather than trusted to the coordinator:
 * - one masked input per round, ever: a second session over the same update would let the
 *   coordinator difference two sums and isolate this participant, so setup is refused once keys
 *   were advertised for the round, and the update is wiped as soon as it is masked;
 * - the session must use the modulus, quantisation range and minimum number of survivors of this
 *   participant's policy (it refuses to help release smaller sums, which also keeps distributed
 *   DP noise at its calibrated level);
 * - the identity key is a fresh CSPRNG Ed25519 key (in a deployment it would be bound to the
 *   participant's certificate); only its public half leaves, at enrolment.
 */
import { fail } from '../core/errors.js';
import type { TrainReply, TrainRequest } from '../federation/protocol.js';
import { addGaussianNoise } from '../privacy/secure-gaussian.js';
import { decodeMessage, encodeMessage, isParticipantMessage } from './codec.js';
import { createSession, type SecAggSession } from './config.js';
import { generateIdentity, type Identity } from './keys.js';
import type { ParticipantMessage } from './messages.js';
import { SecAggParticipant } from './participant.js';
import { quantiseUpdate } from './quantise.js';
import {
  enrolRequestSchema,
  ownBytes,
  parseWire,
  setupRequestSchema,
  stepRequestSchema,
  type SecAggEnrolReply,
  type SecAggProtocol,
  type SecAggRequestKind,
  type SecAggStepReply,
  type SecAggTrainReply,
} from './transport-messages.js';

export interface SecAggParticipantPolicy {
  readonly modulusBits: number;
  /** The quantisation range [−clip, clip] sessions must use. */
  readonly clip: number;
  /** Sessions must not release a sum of fewer survivors than this. */
  readonly minSurvivors: number;
  /** Distributed DP: std of the Gaussian share added to the update before quantising. */
  readonly noiseStd?: number;
}

export type SecAggCall = { [K in SecAggRequestKind]: { readonly kind: K; readonly request: SecAggProtocol[K]['request'] } }[SecAggRequestKind];

const SECAGG_KINDS: ReadonlySet<string> = new Set<SecAggRequestKind>(['secagg-enrol', 'secagg-train', 'secagg-setup', 'secagg-step']);

export function isSecAggKind(kind: string): kind is SecAggRequestKind {
  return SECAGG_KINDS.has(kind);
}

interface RoundState {
  delta: Float32Array | undefined;
  readonly numSamples: number;
  session?: SecAggSession;
  machine?: SecAggParticipant;
  weight?: number;
}

export class SecAggParticipantDriver {
  private identity: Identity | undefined;
  private readonly rounds = new Map<number, RoundState>();

  constructor(
    readonly id: string,
    private readonly policy: SecAggParticipantPolicy,
    /** Local training plus the client chain (clip, local noise, …): the update to aggregate. */
    private readonly trainRound: (request: TrainRequest) => Promise<TrainReply>,
  ) {
    if (policy.noiseStd !== undefined && !(Number.isFinite(policy.noiseStd) && policy.noiseStd > 0)) {
      fail('config', `distributed noise std must be a positive number, got ${policy.noiseStd}`);
    }
  }

  async handle(call: SecAggCall): Promise<SecAggProtocol[SecAggRequestKind]['reply']> {
    switch (call.kind) {
      case 'secagg-enrol':
        parseWire(enrolRequestSchema, call.request, 'secagg-enrol request');
        return this.enrol();
      case 'secagg-train':
        return this.train(call.request);
      case 'secagg-setup':
        return this.setup(call.request);
      case 'secagg-step':
        return this.step(call.request);
    }
  }

  private enrol(): SecAggEnrolReply {
    this.identity ??= generateIdentity();
    return { participantId: this.id, identityPublicKey: new Uint8Array(this.identity.publicKey) };
  }

  private async train(request: TrainRequest): Promise<SecAggTrainReply> {
    const round = request.round;
    if (!Number.isInteger(round) || round < 0) fail('protocol', `secagg-train: round must be a whole number, got ${round}`);
    if (this.rounds.has(round)) fail('protocol', `participant ${this.id} already trained round ${round}; it contributes one update per round`);
    const newest = Math.max(-1, ...this.rounds.keys());
    if (round < newest) fail('protocol', `secagg-train for round ${round} after round ${newest} (replayed or reordered request)`);
    for (const r of [...this.rounds.keys()]) this.forget(r);
    const reply = await this.trainRound(request);
    this.rounds.set(round, { delta: reply.delta, numSamples: reply.numSamples });
    const { epsilon } = reply.metrics;
    // Loss, time and DP-SGD's ε are what the plain protocol reports too; norms and the DP bit stay here.
    return {
      participantId: this.id,
      round,
      numSamples: reply.numSamples,
      metrics: { loss: reply.metrics.loss, trainMs: reply.metrics.trainMs, ...(typeof epsilon === 'number' ? { epsilon } : {}) },
    };
  }

  private setup(raw: unknown): SecAggStepReply {
    const req = parseWire(setupRequestSchema, raw, 'secagg-setup request');
    const state = this.rounds.get(req.round) ?? fail('protocol', `participant ${this.id} has no trained update for round ${req.round}`);
    if (state.machine) {
      fail('protocol', `participant ${this.id} already joined a session for round ${req.round}: it masks its update once per round (two sums over it could be differenced)`);
    }
    const delta = state.delta ?? fail('protocol', `participant ${this.id}'s update for round ${req.round} is gone`);
    const { policy } = this;
    if (req.modulusBits !== policy.modulusBits) fail('protocol', `session uses ${req.modulusBits} modulus bits, this participant's policy is ${policy.modulusBits}`);
    if (req.clip !== policy.clip) fail('protocol', `session quantises to [−${req.clip}, ${req.clip}], this participant's policy is [−${policy.clip}, ${policy.clip}]`);
    if (req.minSurvivors < policy.minSurvivors) {
      fail('protocol', `session would release a sum of as few as ${req.minSurvivors} participants; this participant requires at least ${policy.minSurvivors}`);
    }
    if (req.vectorLength !== delta.length) fail('protocol', `session aggregates vectors of length ${req.vectorLength}, this participant's update has ${delta.length}`);
    if (req.weight < 1 || req.weight > req.maxWeight || req.weight > state.numSamples) {
      fail('protocol', `weight ${req.weight} is not in [1, min(maxWeight ${req.maxWeight}, samples ${state.numSamples})]`);
    }
    const identity = this.identity ?? fail('protocol', `participant ${this.id} was not enrolled for secure aggregation (no identity key yet)`);
    const session = createSession({
      sessionId: req.sessionId,
      round: req.round,
      participants: req.participants.map((p) => ({ id: p.id, identityPublicKey: p.identityPublicKey })),
      vectorLength: req.vectorLength,
      degree: req.degree,
      threshold: req.threshold,
      modulusBits: req.modulusBits,
      clip: req.clip,
      maxWeight: req.maxWeight,
      minSurvivors: req.minSurvivors,
    });
    // Checks that the roster carries this participant's own identity key.
    const machine = new SecAggParticipant(session, this.id, identity.privateKey);
    const message = machine.advertiseKeys();
    Object.assign(state, { session, machine, weight: req.weight });
    return this.reply(req.round, message);
  }

  private async step(raw: unknown): Promise<SecAggStepReply> {
    const req = parseWire(stepRequestSchema, raw, 'secagg-step request');
    const state = this.rounds.get(req.round);
    if (!state?.machine) fail('protocol', `participant ${this.id} has no secure-aggregation session for round ${req.round}`);
    const machine = state.machine;
    const msg = decodeMessage(req.message);
    if (isParticipantMessage(msg)) fail('protocol', `participant ${this.id} got a ${msg.kind} message, which only participants send`);
    if (msg.round !== req.round) fail('protocol', `${msg.kind} is for round ${msg.round}, the request says round ${req.round}`);
    let reply: ParticipantMessage;
    switch (msg.kind) {
      case 'key-relay':
        reply = await machine.shareKeys(msg);
        break;
      case 'share-relay': {
        machine.receiveShares(msg);
        reply = this.mask(state, machine);
        break;
      }
      case 'consistency-request':
        reply = machine.signSurvivors(msg);
        break;
      case 'unmask-request':
        reply = machine.revealShares(msg);
        this.forget(req.round);
        break;
    }
    return this.reply(req.round, reply);
  }

  /** (noise share) → quantise → mask, then wipe every plaintext copy of the update. */
  private mask(state: RoundState, machine: SecAggParticipant): ParticipantMessage {
    const delta = state.delta ?? fail('protocol', `participant ${this.id} has no update left to mask`);
    const session = state.session ?? fail('internal', 'session without config');
    const noisy = this.policy.noiseStd !== undefined ? addGaussianNoise(delta, this.policy.noiseStd) : delta;
    const quantised = quantiseUpdate(noisy, state.weight ?? fail('internal', 'session without weight'), session.quantisation);
    try {
      return machine.maskInput(quantised);
    } finally {
      quantised.fill(0);
      noisy.fill(0);
      delta.fill(0);
      state.delta = undefined;
    }
  }

  private reply(round: number, message: ParticipantMessage): SecAggStepReply {
    return { participantId: this.id, round, message: ownBytes(encodeMessage(message)) };
  }

  private forget(round: number): void {
    this.rounds.get(round)?.delta?.fill(0);
    this.rounds.delete(round);
  }
}
