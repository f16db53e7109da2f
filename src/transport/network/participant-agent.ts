/**
 * The participant's side of one session, as a state machine:
 *
 *   connecting ──Challenge──▶ hello-sent ──Welcome──▶ ready ⇄ (task: receive model → train → reply)
 *        │                         │                      │
 *        └──── status / rejection notice / deadline ──────┴──▶ ended (finished | rejected | lost)
 *
 * Every message it sends is signed with the certificate's key and numbered (MessageSigner); the
 * global model arrives as a declared, hashed payload and is checked against the participant's own
 * policy (size, epochs) and model layout before any training happens.
 */
import type { KeyObject } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import { fail } from '../../core/errors.js';
import { deserializeParams, sameLayout, type ParamLayout } from '../../core/params.js';
import type { ParticipantHandler, TrainReply } from '../../federation/protocol.js';
import { CoordinatorConnection, type ConnectionOptions } from './coordinator-connection.js';
import { encodeFloat32 } from './coordinator-session.js';
import { signMessage, type SessionBinding } from './message-signature.js';
import { PayloadAssembler, sha256, splitPayload } from './payload-chunks.js';
import { isPermanentStatus } from './reject-reasons.js';
import { PROTOCOL_VERSION, encodeParticipantMessage, type CoordinatorMessage, type ParticipantBody, type ParticipantMessage } from './wire.js';

export type Welcome = Extract<CoordinatorMessage, { body: 'welcome' }>['welcome'];
type TaskStart = Extract<CoordinatorMessage, { body: 'task' }>['task'];

/** Numbers and signs a session's messages (seq 1, 2, 3, …). */
export class MessageSigner {
  private seq = 0;

  constructor(readonly binding: SessionBinding, private readonly key: KeyObject) {}

  get lastSeq(): number {
    return this.seq;
  }

  sign(body: ParticipantBody): ParticipantMessage {
    const seq = ++this.seq;
    return { ...body, seq, signature: signMessage(this.binding, seq, body, this.key) };
  }

  encode(body: ParticipantBody): Buffer {
    return encodeParticipantMessage(this.sign(body));
  }
}

export interface ParticipantCredentials {
  /** The participant name in its certificate. */
  readonly name: string;
  /** SHA-256 of the certificate (DER), lowercase hex. */
  readonly fingerprint: string;
  readonly privateKey: KeyObject;
}

export interface LocalTrainer {
  readonly handler: ParticipantHandler;
  /** The local model's layout; the global model must match it exactly. */
  readonly layout: ParamLayout;
}

/** The participant's own limits on what a coordinator may ask of it ("policy at the edge"). */
export interface ParticipantPolicy {
  readonly maxModelBytes: number;
  readonly maxEpochs?: number;
}

export interface AgentOptions {
  readonly connection: ConnectionOptions;
  readonly credentials: ParticipantCredentials;
  /** Refuse a coordinator that serves another federation. */
  readonly federation?: string;
  readonly enrollmentToken?: string;
  readonly software?: string;
  /** Builds the local trainer once the coordinator announced its model (called per session). */
  readonly prepare: (welcome: Welcome) => Promise<LocalTrainer>;
  readonly policy: ParticipantPolicy;
  readonly firstMessageTimeoutMs?: number;
  readonly onEvent?: (event: string, fields: Record<string, unknown>) => void;
}

export type SessionOutcome =
  | { readonly kind: 'finished'; readonly message: string; readonly tasks: number }
  /** A local problem (e.g. the data does not fit the federation's model): retrying will not help. */
  | { readonly kind: 'failed'; readonly message: string; readonly tasks: number }
  | { readonly kind: 'ended'; readonly code: status; readonly details: string; readonly admitted: boolean; readonly permanent: boolean; readonly tasks: number };

interface Inbound {
  readonly start: TaskStart;
  readonly assembler: PayloadAssembler;
}

export async function runParticipantSession(options: AgentOptions): Promise<SessionOutcome> {
  return new ParticipantAgent(options).run();
}

class ParticipantAgent {
  private readonly conn: CoordinatorConnection;
  private signer: MessageSigner | undefined;
  private welcome: Welcome | undefined;
  private trainer: LocalTrainer | undefined;
  private inbound: Inbound | undefined;
  private readonly cancelled = new Set<number>();
  private finished: string | undefined;
  private tasks = 0;
  private rejection: string | undefined;
  private localFailure: string | undefined;
  private training = false;

  constructor(private readonly options: AgentOptions) {
    this.conn = new CoordinatorConnection(options.connection);
  }

  private emit(event: string, fields: Record<string, unknown> = {}): void {
    this.options.onEvent?.(event, fields);
  }

  async run(): Promise<SessionOutcome> {
    try {
      const first = await this.conn.next(this.options.firstMessageTimeoutMs ?? 30_000);
      if (first.kind === 'message') {
        if (first.message.body === 'challenge') this.onChallenge(first.message.challenge);
        else this.handle(first.message);
      } else return this.ended(first.code, first.details);
      for (;;) {
        // Idle watchdog: the coordinator pings idle sessions every heartbeatMs, so silence for three
        // intervals means a dead peer or a half-open connection: reconnect rather than wait forever.
        const idleLimit = this.welcome ? 3 * this.welcome.heartbeatMs : undefined;
        const item = await this.conn.next(idleLimit);
        if (item.kind === 'end') {
          if (this.conn.isEnded) return this.ended(item.code, item.details);
          if (this.training) continue; // our own training kept us from reading; not the coordinator's silence
          return this.ended(status.UNAVAILABLE, `no message from the coordinator for ${idleLimit} ms (it pings idle sessions every ${this.welcome?.heartbeatMs} ms); reconnecting`);
        }
        this.handle(item.message);
      }
    } finally {
      this.conn.close();
    }
  }

  private ended(code: status, details: string): SessionOutcome {
    if (this.localFailure !== undefined) return { kind: 'failed', message: this.localFailure, tasks: this.tasks };
    // Once the coordinator said training is over, how the stream then ends does not matter.
    if (this.finished !== undefined) return { kind: 'finished', message: this.finished, tasks: this.tasks };
    const text = this.rejection && !details.includes(this.rejection) ? `${details} (${this.rejection})` : details;
    return { kind: 'ended', code, details: text, admitted: this.welcome !== undefined, permanent: isPermanentStatus(code), tasks: this.tasks };
  }

  private onChallenge(c: Extract<CoordinatorMessage, { body: 'challenge' }>['challenge']): void {
    const { credentials, federation } = this.options;
    if (federation !== undefined && c.federation !== federation) {
      fail('auth', `the coordinator serves federation "${c.federation}", this participant is configured for "${federation}"`, 'check coordinator.address and federation in participant.yaml');
    }
    if (c.protocolVersion !== PROTOCOL_VERSION) fail('protocol', `the coordinator speaks protocol ${c.protocolVersion}, this participant ${PROTOCOL_VERSION}`, 'upgrade the older side');
    this.signer = new MessageSigner(
      { federation: c.federation, participant: credentials.name, certFingerprint: credentials.fingerprint, sessionId: c.sessionId, serverNonce: c.serverNonce },
      credentials.privateKey,
    );
    this.send({
      body: 'hello',
      hello: { federation: c.federation, participant: credentials.name, protocolVersion: PROTOCOL_VERSION, enrollmentToken: this.options.enrollmentToken ?? '', software: this.options.software ?? 'fedsec' },
    });
  }

  private send(body: ParticipantBody): Promise<void> {
    if (!this.signer) fail('internal', 'cannot send before the coordinator challenge');
    return this.conn.send(this.signer.encode(body));
  }

  private handle(m: CoordinatorMessage): void {
    switch (m.body) {
      case 'challenge':
        return this.protocolError('a second challenge');
      case 'welcome':
        return void this.onWelcome(m.welcome);
      case 'task':
        return this.onTask(m.task);
      case 'chunk':
        return this.onChunk(m.chunk.taskId, m.chunk.index, m.chunk.data);
      case 'ping':
        void this.send({ body: 'pong', pong: { nonce: m.ping.nonce } });
        return;
      case 'notice':
        return this.onNotice(m.notice);
    }
  }

  private protocolError(what: string): void {
    this.emit('coordinator.protocol-error', { message: `unexpected ${what}` });
    this.conn.close();
  }

  private async onWelcome(w: Welcome): Promise<void> {
    if (this.welcome) return this.protocolError('second welcome');
    this.welcome = w;
    this.emit('session.admitted', { participant: w.participant, org: w.org || undefined, chunkBytes: w.chunkBytes });
    try {
      this.trainer = await this.options.prepare(w);
    } catch (err) {
      // A local problem (data does not fit the federation's model): no point staying connected.
      this.localFailure = err instanceof Error ? err.message : String(err);
      this.emit('participant.setup-failed', { message: this.localFailure });
      this.conn.close();
    }
  }

  private onTask(t: TaskStart): void {
    if (!this.welcome) return this.protocolError('task before welcome');
    this.emit('task.received', { taskId: t.taskId, round: t.round, stage: t.stage, payloadBytes: t.payloadBytes });
    const refuse = (message: string): void => {
      this.inbound = undefined;
      this.emit('task.refused', { taskId: t.taskId, round: t.round, message });
      void this.send({ body: 'failed', failed: { taskId: t.taskId, round: t.round, stage: t.stage, message } });
    };
    if (t.stage !== 'train') return refuse(`stage "${t.stage}" is not supported by this participant`);
    const { policy } = this.options;
    if (t.payloadBytes > policy.maxModelBytes) return refuse(`the global model is ${t.payloadBytes} bytes; this participant's policy.maxModelBytes is ${policy.maxModelBytes}`);
    if (policy.maxEpochs !== undefined && t.training.epochs > policy.maxEpochs) {
      return refuse(`the round asks for ${t.training.epochs} local epochs; this participant's policy.maxEpochs is ${policy.maxEpochs}`);
    }
    this.inbound = { start: t, assembler: new PayloadAssembler(t.payloadBytes, t.payloadSha256, this.welcome.chunkBytes, `global model of round ${t.round}`) };
  }

  private onChunk(taskId: number, index: number, data: Buffer): void {
    const inbound = this.inbound;
    if (!inbound || inbound.start.taskId !== taskId) return; // a refused task's chunks
    let payload: Buffer | undefined;
    try {
      payload = inbound.assembler.add(index, data);
    } catch (err) {
      this.emit('coordinator.protocol-error', { message: err instanceof Error ? err.message : String(err) });
      this.conn.close();
      return;
    }
    if (!payload) return;
    this.inbound = undefined;
    void this.train(inbound.start, payload);
  }

  private async train(t: TaskStart, payload: Buffer): Promise<void> {
    this.training = true;
    try {
      await this.trainAndReply(t, payload);
    } finally {
      this.training = false;
    }
  }

  private async trainAndReply(t: TaskStart, payload: Buffer): Promise<void> {
    const fields = { taskId: t.taskId, round: t.round };
    let reply: TrainReply;
    try {
      const trainer = this.trainer ?? fail('precondition', 'the local model is not ready');
      const { layout, values } = deserializeParams(payload);
      if (!sameLayout(layout, trainer.layout)) {
        fail('shape', `the global model's layout (${layout.size} parameters in ${layout.entries.length} tensors) differs from this participant's model (${trainer.layout.size} in ${trainer.layout.entries.length})`, 'use the model the coordinator announces (remove `model:` from participant.yaml) or the same model file');
      }
      const training = { ...t.training, ...(t.training.momentum === undefined ? {} : { momentum: t.training.momentum }) };
      reply = await trainer.handler.handle('train', { round: t.round, params: values, training, seed: t.seed, ...(t.clipNorm === undefined ? {} : { clipNorm: t.clipNorm }) });
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.emit('task.failed', { ...fields, message });
      await this.send({ body: 'failed', failed: { taskId: t.taskId, round: t.round, stage: t.stage, message } });
      return;
    }
    // Training blocked the event loop: let pending messages (e.g. a cancellation) in first.
    await new Promise((resolve) => setImmediate(resolve));
    if (this.cancelled.has(t.taskId) || this.conn.isEnded) {
      this.emit('task.dropped', { ...fields, message: 'cancelled by the coordinator (deadline) while training' });
      return;
    }
    const bytes = encodeFloat32(reply.delta);
    await this.send({
      body: 'reply',
      reply: {
        taskId: t.taskId,
        round: t.round,
        stage: t.stage,
        numSamples: reply.numSamples,
        loss: reply.metrics.loss,
        trainMs: reply.metrics.trainMs,
        ...(reply.metrics.clippedNorm === undefined ? {} : { clippedNorm: reply.metrics.clippedNorm }),
        ...(reply.metrics.preClipNorm === undefined ? {} : { preClipNorm: reply.metrics.preClipNorm }),
        ...(reply.metrics.withinClip === undefined ? {} : { withinClip: reply.metrics.withinClip }),
        ...(reply.metrics.epsilon === undefined ? {} : { epsilon: reply.metrics.epsilon }),
        payloadBytes: bytes.length,
        payloadSha256: sha256(bytes),
      },
    });
    const chunkBytes = this.welcome?.chunkBytes ?? bytes.length;
    let index = 0;
    for (const data of splitPayload(bytes, chunkBytes)) await this.send({ body: 'chunk', chunk: { taskId: t.taskId, index: index++, data } });
    this.tasks++;
    this.emit('task.completed', { ...fields, numSamples: reply.numSamples, loss: reply.metrics.loss, trainMs: Math.round(reply.metrics.trainMs), updateBytes: bytes.length });
  }

  private onNotice(n: Extract<CoordinatorMessage, { body: 'notice' }>['notice']): void {
    switch (n.kind) {
      case 'finished':
        this.finished = n.message;
        break;
      case 'cancelled':
        this.cancelled.add(n.taskId);
        break;
      case 'rejected':
        this.rejection = `${n.reason}: ${n.message}`;
        break;
      default:
        break;
    }
    this.emit('coordinator.notice', { kind: n.kind, reason: n.reason || undefined, message: n.message, ...(n.round ? { round: n.round } : {}) });
  }
}
