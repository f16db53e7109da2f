/**
 * Secure aggregation over a `ParticipantTransport`: the request kinds the coordinator's collector
 * sends and the participant's driver answers. Everything is numbers, strings and Uint8Arrays
 * (structured-clone safe for worker threads; the SecAgg messages themselves travel as their
 * canonical codec bytes, ready for a network transport). Both sides validate what they receive
 * with the schemas below before looking at it.
 *
 *   secagg-enrol  → the participant's Ed25519 identity public key (once per run)
 *   secagg-train  → train, run the client chain, keep the delta; reply sample count + public metrics
 *   secagg-setup  → the session config and this participant's weight; reply its advertise-keys message
 *   secagg-step   → one coordinator message (key-relay, share-relay, consistency-request,
 *                   unmask-request); reply the participant's next message
 */
import { z } from 'zod';
import { fail } from '../core/errors.js';
import type { TrainRequest } from '../federation/protocol.js';
import { MAX_PARTICIPANTS, MAX_VECTOR_LENGTH, SESSION_ID_BYTES } from './config.js';
import { KEY_BYTES } from './keys.js';

export interface SecAggEnrolRequest {
  /** Checked by the participant, so a stray request of another protocol cannot enrol it. */
  readonly protocol: 'secagg+';
}

export interface SecAggEnrolReply {
  readonly participantId: string;
  /** Raw Ed25519 public key (32 bytes) of the participant's identity key. */
  readonly identityPublicKey: Uint8Array;
}

export interface SecAggTrainReply {
  readonly participantId: string;
  readonly round: number;
  readonly numSamples: number;
  /** Public per-participant values only: never the update or its norm. */
  readonly metrics: { readonly loss: number; readonly trainMs: number; readonly epsilon?: number };
}

export interface SecAggSetupRequest {
  readonly round: number;
  readonly bucket: number;
  readonly sessionId: Uint8Array;
  readonly participants: readonly { readonly id: string; readonly identityPublicKey: Uint8Array }[];
  readonly vectorLength: number;
  readonly degree: number;
  readonly threshold: number;
  readonly modulusBits: number;
  readonly clip: number;
  readonly maxWeight: number;
  readonly minSurvivors: number;
  /** The weight this participant must mask with (1, or its capped sample count). */
  readonly weight: number;
}

export interface SecAggStepRequest {
  readonly round: number;
  /** A coordinator message, encoded with codec.ts. */
  readonly message: Uint8Array;
}

export interface SecAggStepReply {
  readonly participantId: string;
  readonly round: number;
  /** The participant's signed message, encoded with codec.ts. */
  readonly message: Uint8Array;
}

/** The ProtocolMap entries secure aggregation adds (see federation/protocol.ts). */
export interface SecAggProtocol {
  'secagg-enrol': { request: SecAggEnrolRequest; reply: SecAggEnrolReply };
  'secagg-train': { request: TrainRequest; reply: SecAggTrainReply };
  'secagg-setup': { request: SecAggSetupRequest; reply: SecAggStepReply };
  'secagg-step': { request: SecAggStepRequest; reply: SecAggStepReply };
}

export type SecAggRequestKind = keyof SecAggProtocol;

/** Encoded SecAgg messages are bounded by the vector (4 bytes a word) plus keys and shares. */
const MAX_MESSAGE_BYTES = 4 * (MAX_VECTOR_LENGTH + 1) + (1 << 20);

const bytes = (what: string, exact?: number) =>
  z.custom<Uint8Array>((b) => b instanceof Uint8Array && (exact === undefined ? b.length > 0 && b.length <= MAX_MESSAGE_BYTES : b.length === exact), {
    message: exact === undefined ? `${what} must be non-empty bytes (at most ${MAX_MESSAGE_BYTES})` : `${what} must be exactly ${exact} bytes`,
  });
const round = z.number().int().min(0).max(0xffffffff);
const id = z.string().min(1).max(256);

export const enrolRequestSchema = z.strictObject({ protocol: z.literal('secagg+') });
export const enrolReplySchema = z.strictObject({ participantId: id, identityPublicKey: bytes('identityPublicKey', KEY_BYTES) });
export const trainReplySchema = z.strictObject({
  participantId: id,
  round,
  numSamples: z.number().int().positive(),
  metrics: z.strictObject({ loss: z.union([z.number(), z.nan()]), trainMs: z.number().min(0), epsilon: z.number().min(0).optional() }),
});
export const setupRequestSchema = z.strictObject({
  round,
  bucket: z.number().int().min(0),
  sessionId: bytes('sessionId', SESSION_ID_BYTES),
  participants: z.array(z.strictObject({ id, identityPublicKey: bytes('identityPublicKey', KEY_BYTES) })).min(3).max(MAX_PARTICIPANTS),
  vectorLength: z.number().int().min(1).max(MAX_VECTOR_LENGTH),
  degree: z.number().int().min(2),
  threshold: z.number().int().min(2),
  modulusBits: z.number().int().min(8).max(32),
  clip: z.number().positive().finite(),
  maxWeight: z.number().int().min(1),
  minSurvivors: z.number().int().min(2),
  weight: z.number().int().min(0),
});
export const stepRequestSchema = z.strictObject({ round, message: bytes('message') });
export const stepReplySchema = z.strictObject({ participantId: id, round, message: bytes('message') });

/** Parse with a schema; failures become one protocol error naming the fields. */
export function parseWire<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const details = parsed.error.issues.map((i) => `${i.path.length > 0 ? i.path.join('.') : '(message)'}: ${i.message}`).join('; ');
  return fail('protocol', `malformed ${what}: ${details}`);
}

/**
 * A Uint8Array that owns exactly its bytes: structured clone copies a view's whole ArrayBuffer
 * (e.g. Node's 8 KiB Buffer pool), so views are copied out first.
 */
export function ownBytes(b: Uint8Array): Uint8Array {
  return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength && !(b instanceof Buffer) ? b : new Uint8Array(b);
}
