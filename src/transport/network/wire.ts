/**
 * The wire format: proto/fedsec.proto loaded at runtime with @grpc/proto-loader (no generated
 * code), plus zod schemas that every decoded message must pass before anything reads it. gRPC
 * moves raw Buffers; decoding happens here so that a malformed message becomes a clear,
 * audited rejection instead of an opaque grpc-js error.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as protoLoader from '@grpc/proto-loader';
import { z } from 'zod';
import { fail } from '../../core/errors.js';
import { SessionRejected } from './reject-reasons.js';

export const PROTOCOL_VERSION = 1;
export const SESSION_METHOD_PATH = '/fedsec.v1.Coordinator/Session';

// src/transport/network/ and dist/transport/network/ are both three levels below the package root.
const PROTO_PATH = fileURLToPath(new URL('../../../proto/fedsec.proto', import.meta.url));

interface Codec {
  readonly encodeParticipant: (msg: object) => Buffer;
  readonly decodeParticipant: (buf: Buffer) => unknown;
  readonly encodeCoordinator: (msg: object) => Buffer;
  readonly decodeCoordinator: (buf: Buffer) => unknown;
}

let codec: Codec | undefined;

function loadCodec(): Codec {
  if (codec) return codec;
  if (!existsSync(PROTO_PATH)) fail('internal', `protocol schema ${PROTO_PATH} is missing`, 'reinstall fedsec (the proto/ directory ships with the package)');
  const def = protoLoader.loadSync(PROTO_PATH, { keepCase: false, longs: String, enums: String, bytes: Buffer, defaults: true, oneofs: true });
  const method = (def['fedsec.v1.Coordinator'] as protoLoader.ServiceDefinition | undefined)?.Session;
  if (!method) fail('internal', `${PROTO_PATH} does not define fedsec.v1.Coordinator/Session`);
  codec = {
    encodeParticipant: (m) => method.requestSerialize(m),
    decodeParticipant: (b) => method.requestDeserialize(b) as unknown,
    encodeCoordinator: (m) => method.responseSerialize(m),
    decodeCoordinator: (b) => method.responseDeserialize(b) as unknown,
  };
  return codec;
}

// ---- schemas --------------------------------------------------------------------------------

const u32 = z.number().int().min(0).max(0xffff_ffff);
const positive = u32.min(1);
const bytes = (min: number, max: number) => z.instanceof(Buffer).refine((b) => b.length >= min && b.length <= max, `must be ${min === max ? min : `${min}-${max}`} bytes`);
const text = (max: number) => z.string().max(max);
const sha256 = bytes(32, 32);

const chunkSchema = z.object({ taskId: positive, index: u32, data: z.instanceof(Buffer) });

const trainingSchema = z.object({
  epochs: positive.max(1000),
  batchSize: positive.max(100_000),
  learningRate: z.number().positive().max(100),
  optimizer: z.enum(['sgd', 'momentum', 'adam']),
  momentum: z.number().min(0).lt(1).optional(),
});

export const coordinatorMessageSchema = z.discriminatedUnion('body', [
  z.object({
    body: z.literal('challenge'),
    challenge: z.object({ sessionId: bytes(16, 16), serverNonce: bytes(32, 32), federation: text(64).min(1), protocolVersion: u32 }),
  }),
  z.object({
    body: z.literal('welcome'),
    welcome: z.object({
      participant: text(64).min(1),
      org: text(64),
      chunkBytes: positive,
      maxMessageBytes: positive,
      maxPayloadBytes: positive,
      modelSpecJson: text(64 * 1024).min(2),
      featureShape: z.array(positive).min(1).max(8),
      numClasses: positive.min(2),
      heartbeatMs: positive,
    }),
  }),
  z.object({
    body: z.literal('task'),
    task: z.object({
      taskId: positive,
      round: positive,
      stage: text(32).min(1),
      timeoutMs: u32,
      training: trainingSchema,
      seed: text(256),
      payloadBytes: u32,
      payloadSha256: sha256,
      clipNorm: z.number().positive().max(Number.MAX_VALUE).optional(),
    }),
  }),
  z.object({ body: z.literal('chunk'), chunk: chunkSchema }),
  z.object({ body: z.literal('ping'), ping: z.object({ nonce: bytes(16, 64) }) }),
  z.object({
    body: z.literal('notice'),
    notice: z.object({ kind: z.enum(['rejected', 'finished', 'cancelled', 'superseded', 'closing']), reason: text(64), message: text(4096), taskId: u32, round: u32 }),
  }),
]);
export type CoordinatorMessage = z.infer<typeof coordinatorMessageSchema>;

export const participantBodySchema = z.discriminatedUnion('body', [
  z.object({
    body: z.literal('hello'),
    hello: z.object({ federation: text(64), participant: text(64), protocolVersion: u32, enrollmentToken: text(256), software: text(128) }),
  }),
  z.object({
    body: z.literal('reply'),
    reply: z.object({
      taskId: positive,
      round: u32,
      stage: text(32),
      numSamples: u32,
      loss: z.number(),
      trainMs: z.number(),
      clippedNorm: z.number().optional(),
      preClipNorm: z.number().optional(),
      payloadBytes: u32,
      payloadSha256: sha256,
      withinClip: z.boolean().optional(),
      epsilon: z.number().optional(),
    }),
  }),
  z.object({ body: z.literal('chunk'), chunk: chunkSchema }),
  z.object({ body: z.literal('failed'), failed: z.object({ taskId: positive, round: u32, stage: text(32), message: text(4096) }) }),
  z.object({ body: z.literal('pong'), pong: z.object({ nonce: bytes(16, 64) }) }),
]);
export type ParticipantBody = z.infer<typeof participantBodySchema>;

const envelopeSchema = z.object({ seq: u32, signature: bytes(0, 512) });
export type ParticipantMessage = ParticipantBody & z.infer<typeof envelopeSchema>;

// ---- encode / decode ------------------------------------------------------------------------

/** protobufjs wants the oneof member set and no discriminator field. */
function withoutDiscriminator<T extends { body: string }>(msg: T): Omit<T, 'body'> {
  const { body: _body, ...rest } = msg;
  return rest;
}

export function encodeCoordinatorMessage(msg: CoordinatorMessage): Buffer {
  return loadCodec().encodeCoordinator(withoutDiscriminator(msg));
}

export function encodeParticipantMessage(msg: ParticipantMessage): Buffer {
  return loadCodec().encodeParticipant(withoutDiscriminator(msg));
}

function describe(error: z.ZodError): string {
  const issue = error.issues[0];
  return `${issue?.path.join('.') || 'message'}: ${issue?.message ?? 'invalid'}`;
}

/** Decodes and validates; any problem is a `malformed` rejection naming the field. */
export function decodeParticipantMessage(buf: Buffer): ParticipantMessage {
  let raw: unknown;
  try {
    raw = loadCodec().decodeParticipant(buf);
  } catch (err) {
    throw new SessionRejected('malformed', `message is not a valid ParticipantMessage protobuf (${(err as Error).message})`);
  }
  const envelope = envelopeSchema.safeParse(raw);
  if (!envelope.success) throw new SessionRejected('malformed', `invalid ParticipantMessage: ${describe(envelope.error)}`);
  const body = participantBodySchema.safeParse(raw);
  if (!body.success) {
    const missing = typeof raw === 'object' && raw !== null && !('body' in raw);
    throw new SessionRejected('malformed', missing ? 'ParticipantMessage has no body (hello, reply, chunk, failed or pong)' : `invalid ParticipantMessage: ${describe(body.error)}`);
  }
  return { ...body.data, seq: envelope.data.seq, signature: envelope.data.signature };
}

/** Participant side: the coordinator's messages are validated just as strictly. */
export function decodeCoordinatorMessage(buf: Buffer): CoordinatorMessage {
  let raw: unknown;
  try {
    raw = loadCodec().decodeCoordinator(buf);
  } catch (err) {
    fail('protocol', `the coordinator sent a message that is not a valid CoordinatorMessage protobuf (${(err as Error).message})`, 'check that coordinator and participant run compatible fedsec versions');
  }
  const parsed = coordinatorMessageSchema.safeParse(raw);
  if (!parsed.success) fail('protocol', `the coordinator sent an invalid message: ${describe(parsed.error)}`, 'check that coordinator and participant run compatible fedsec versions');
  return parsed.data;
}
