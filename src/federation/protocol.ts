/**
 * Messages between coordinator and participants. The round engine speaks only these; a transport
 * (in-process workers for simulation, mTLS gRPC for deployment) only moves them.
 */
import type { Vector } from '../core/vector.js';
import type { SecAggProtocol } from '../secure/transport-messages.js';

export interface LocalTrainingConfig {
  readonly epochs: number;
  readonly batchSize: number;
  readonly learningRate: number;
  readonly optimizer: 'sgd' | 'momentum' | 'adam';
  readonly momentum?: number;
}

export interface TrainRequest {
  readonly round: number;
  /** The global model's flat parameters (layout agreed at enrolment). */
  readonly params: Vector;
  readonly training: LocalTrainingConfig;
  /** Reproducibility seed for the participant's shuffling (simulation) — never used for noise. */
  readonly seed: string;
  /** Client-level DP: the L2 bound to clip this round's update to (adaptive clipping moves it). */
  readonly clipNorm?: number;
}

/** What a participant's DP machinery adds to its reply: public quantities only. */
export interface PrivacyReplyMetrics {
  /** Client-level DP: the bit ‖Δ‖ ≤ C that adaptive clipping counts under noise (never the norm itself). */
  readonly withinClip?: boolean;
  /** Sample-level DP-SGD: this participant's ε spent so far (at the configured δ). */
  readonly epsilon?: number;
}

export interface TrainReply {
  readonly participantId: string;
  readonly round: number;
  /** local − global after the participant's client-side chain (clip, noise, attack in simulation). */
  readonly delta: Vector;
  readonly numSamples: number;
  readonly metrics: { readonly loss: number; readonly trainMs: number; readonly clippedNorm?: number; readonly preClipNorm?: number } & PrivacyReplyMetrics;
}

/** Map from request kind to its request and reply types; transports are generic over it. */
export interface ProtocolMap extends SecAggProtocol {
  train: { request: TrainRequest; reply: TrainReply };
}

export type RequestKind = keyof ProtocolMap;

/** A request with its kind, as one value a switch can narrow. */
export type ProtocolCall = { [K in RequestKind]: { readonly kind: K; readonly request: ProtocolMap[K]['request'] } }[RequestKind];

/** What a participant runs: the same object behind every transport. */
export interface ParticipantHandler {
  readonly id: string;
  handle<K extends RequestKind>(kind: K, request: ProtocolMap[K]['request']): Promise<ProtocolMap[K]['reply']>;
}
