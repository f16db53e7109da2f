/**
 * The coordinator's side of one participant session, as an explicit state machine:
 *
 *   awaiting-hello ──signed Hello, admitted──▶ ready ──▶ closed
 *        │ (hello timeout, any other message)     │ (rejection, peer gone, superseded, finished)
 *        └────────────────────────────────────────┴──▶ closed
 *
 * In `ready`, tasks (one per engine request) are outstanding until their signed ReplyStart and
 * chunks arrive, the participant reports failure, or the deadline passes (the task is cancelled and
 * the participant told). Every incoming message is checked in this order — size, protobuf + zod,
 * signature (binding: session, seq, body), sequence (replay), state, task/round/stage, payload —
 * and any failure ends the session with a reason (SessionRejected). It never throws to its caller,
 * so a hostile participant can only end its own session. Independent of gRPC (see `SessionIo`),
 * which is what lets the fuzz test drive it directly.
 */
import { randomBytes, type KeyObject } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import { FedsecError } from '../../core/errors.js';
import { firstNonFinite } from '../../core/vector.js';
import type { TrainReply, TrainRequest } from '../../federation/protocol.js';
import type { PeerIdentity } from '../../pki/verify-peer.js';
import { verifyMessage, type SessionBinding } from './message-signature.js';
import { PayloadAssembler, splitPayload } from './payload-chunks.js';
import { grpcStatusFor, SessionRejected } from './reject-reasons.js';
import { decodeParticipantMessage, PROTOCOL_VERSION, type CoordinatorMessage, type ParticipantBody, type ParticipantMessage } from './wire.js';

export interface SessionLimits {
  /** Payload chunk size in both directions (default 1 MiB). */
  readonly chunkBytes: number;
  /** Largest participant message accepted (a chunk plus its envelope). */
  readonly maxMessageBytes: number;
  /** Largest payload a participant may declare. */
  readonly maxPayloadBytes: number;
  readonly helloTimeoutMs: number;
  /** Ping interval while idle; no answer within two intervals ends the session. */
  readonly heartbeatMs: number;
}

export interface WelcomeModel {
  readonly specJson: string;
  readonly featureShape: readonly number[];
  readonly numClasses: number;
  /** Parameter count: a train reply carries exactly this many float32 values. */
  readonly dim: number;
}

export type Hello = Extract<ParticipantBody, { body: 'hello' }>['hello'];
export type AdmissionDecision = { readonly ok: true } | { readonly ok: false; readonly reason: SessionRejected['reason']; readonly message: string };

/** How the session talks to its stream; `end` finishes it with a gRPC status. */
export interface SessionIo {
  send(msg: CoordinatorMessage): Promise<void>;
  end(code: status, details: string): void;
}

export interface SessionEvents {
  admitted(session: CoordinatorSession): void;
  rejected(session: CoordinatorSession, rejection: SessionRejected, phase: 'admission' | 'message', seq: number | undefined): void;
  closed(session: CoordinatorSession, why: string): void;
}

export interface SessionContext {
  readonly identity: PeerIdentity;
  readonly publicKey: KeyObject;
  readonly remote: string;
  readonly federation: string;
  readonly limits: SessionLimits;
  readonly model: WelcomeModel;
  readonly admit: (identity: PeerIdentity, hello: Hello) => AdmissionDecision;
  readonly nextTaskId: () => number;
  readonly io: SessionIo;
  readonly events: SessionEvents;
  readonly clock?: () => number;
}

/** A serialised global model, shared by all of a round's tasks. */
export interface TaskPayload {
  readonly bytes: Buffer;
  readonly sha256: Buffer;
}

type State = 'awaiting-hello' | 'ready' | 'closed';

interface Task {
  readonly id: number;
  readonly round: number;
  readonly stage: string;
  readonly expectedBytes: number;
  assembler?: PayloadAssembler;
  header?: Extract<ParticipantMessage, { body: 'reply' }>['reply'];
  timer?: NodeJS.Timeout;
  resolve(reply: TrainReply): void;
  reject(err: Error): void;
}

export class CoordinatorSession {
  readonly identity: PeerIdentity;
  readonly remote: string;
  readonly binding: SessionBinding;
  private state: State = 'awaiting-hello';
  private lastSeq = 0;
  private readonly tasks = new Map<number, Task>();
  private helloTimer: NodeJS.Timeout | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private ping: { nonce: Buffer; sentAt: number } | undefined;
  private lastHeard: number;
  private readonly clock: () => number;

  constructor(private readonly ctx: SessionContext) {
    this.identity = ctx.identity;
    this.remote = ctx.remote;
    this.clock = ctx.clock ?? Date.now;
    this.lastHeard = this.clock();
    this.binding = {
      federation: ctx.federation,
      participant: ctx.identity.name,
      certFingerprint: ctx.identity.fingerprint,
      sessionId: randomBytes(16),
      serverNonce: randomBytes(32),
    };
  }

  get name(): string {
    return this.identity.name;
  }

  get isReady(): boolean {
    return this.state === 'ready';
  }

  get isClosed(): boolean {
    return this.state === 'closed';
  }

  get outstandingTasks(): number {
    return this.tasks.size;
  }

  /** Sends the challenge and starts the hello deadline. */
  start(): void {
    this.helloTimer = setTimeout(() => {
      this.reject(new SessionRejected('hello-timeout', `no signed Hello within ${this.ctx.limits.helloTimeoutMs} ms of the challenge`), 'admission');
    }, this.ctx.limits.helloTimeoutMs);
    this.helloTimer.unref();
    this.post({
      body: 'challenge',
      challenge: { sessionId: this.binding.sessionId, serverNonce: this.binding.serverNonce, federation: this.ctx.federation, protocolVersion: PROTOCOL_VERSION },
    });
  }

  /** One raw message from the participant. Never throws: problems end the session. */
  receive(raw: Buffer): void {
    if (this.state === 'closed') return;
    this.lastHeard = this.clock();
    let seq: number | undefined;
    try {
      const max = this.ctx.limits.maxMessageBytes;
      if (raw.length > max) throw new SessionRejected('oversized', `message of ${raw.length} bytes exceeds the limit of ${max} bytes (one chunk of ${this.ctx.limits.chunkBytes} bytes plus envelope)`);
      const msg = decodeParticipantMessage(raw);
      seq = msg.seq;
      if (!verifyMessage(this.binding, msg.seq, msg, msg.signature, this.ctx.publicKey)) {
        throw new SessionRejected('bad-signature', `the ${msg.body} message (seq ${msg.seq}) is not signed by the key of certificate ${this.identity.serial} for this session (tampered, or taken from another session)`);
      }
      if (msg.seq !== this.lastSeq + 1) {
        throw msg.seq <= this.lastSeq
          ? new SessionRejected('replay', `seq ${msg.seq} was already used in this session (next expected: ${this.lastSeq + 1}); replayed message refused`)
          : new SessionRejected('bad-sequence', `seq ${msg.seq} skips ahead (next expected: ${this.lastSeq + 1})`);
      }
      this.lastSeq = msg.seq;
      this.dispatch(msg);
    } catch (err) {
      const rejection = err instanceof SessionRejected ? err : new SessionRejected('malformed', `internal error while handling the message: ${err instanceof Error ? err.message : String(err)}`);
      this.reject(rejection, this.state === 'ready' ? 'message' : 'admission', seq);
    }
  }

  private dispatch(msg: ParticipantMessage): void {
    if (this.state === 'awaiting-hello') {
      if (msg.body !== 'hello') throw new SessionRejected('unexpected', `expected a Hello first, got ${msg.body}`);
      this.onHello(msg.hello);
      return;
    }
    switch (msg.body) {
      case 'hello':
        throw new SessionRejected('unexpected', 'Hello was already received in this session');
      case 'reply':
        return this.onReply(msg.reply);
      case 'chunk':
        return this.onChunk(msg.chunk);
      case 'failed':
        return this.onFailed(msg.failed);
      case 'pong':
        return this.onPong(msg.pong.nonce);
    }
  }

  private onHello(hello: Hello): void {
    if (hello.protocolVersion !== PROTOCOL_VERSION) {
      throw new SessionRejected('protocol-version', `participant speaks protocol ${hello.protocolVersion}, this coordinator speaks ${PROTOCOL_VERSION}; upgrade the older side`);
    }
    if (hello.federation !== this.ctx.federation) {
      throw new SessionRejected('wrong-federation', `participant asked for federation "${hello.federation}", this coordinator serves "${this.ctx.federation}"`);
    }
    if (hello.participant !== this.identity.name) {
      throw new SessionRejected('identity-mismatch', `Hello claims to be "${hello.participant}" but the certificate identifies "${this.identity.name}"`);
    }
    const decision = this.ctx.admit(this.identity, hello);
    if (!decision.ok) throw new SessionRejected(decision.reason, decision.message);
    clearTimeout(this.helloTimer);
    this.state = 'ready';
    const { limits, model } = this.ctx;
    this.post({
      body: 'welcome',
      welcome: {
        participant: this.identity.name,
        org: this.identity.org ?? '',
        chunkBytes: limits.chunkBytes,
        maxMessageBytes: limits.maxMessageBytes,
        maxPayloadBytes: limits.maxPayloadBytes,
        modelSpecJson: model.specJson,
        featureShape: [...model.featureShape],
        numClasses: model.numClasses,
        heartbeatMs: limits.heartbeatMs,
      },
    });
    this.heartbeat = setInterval(() => this.beat(), limits.heartbeatMs);
    this.heartbeat.unref();
    this.ctx.events.admitted(this);
  }

  private task(taskId: number, what: string): Task {
    const task = this.tasks.get(taskId);
    if (!task) throw new SessionRejected('unknown-task', `${what} for task ${taskId}, which is not outstanding (never sent, already answered, or cancelled at its deadline)`, { taskId });
    return task;
  }

  private checkRoundAndStage(task: Task, round: number, stage: string, what: string): void {
    const ctx = { taskId: task.id, round, stage };
    if (round !== task.round) throw new SessionRejected('wrong-round', `${what} is for round ${round}, but task ${task.id} belongs to round ${task.round}`, ctx);
    if (stage !== task.stage) throw new SessionRejected('wrong-stage', `${what} is for stage "${stage}", but task ${task.id} is stage "${task.stage}"`, ctx);
  }

  private onReply(r: Extract<ParticipantMessage, { body: 'reply' }>['reply']): void {
    const task = this.task(r.taskId, 'reply');
    this.checkRoundAndStage(task, r.round, r.stage, 'reply');
    const ctx = { taskId: task.id, round: r.round, stage: r.stage };
    if (task.header) throw new SessionRejected('duplicate-reply', `task ${task.id} (round ${task.round}) already has a reply`, ctx);
    const { maxPayloadBytes } = this.ctx.limits;
    if (r.payloadBytes > maxPayloadBytes) throw new SessionRejected('oversized', `reply declares a ${r.payloadBytes}-byte payload; the limit is ${maxPayloadBytes} bytes`, ctx);
    if (r.payloadBytes !== task.expectedBytes) {
      throw new SessionRejected('wrong-shape', `update has ${r.payloadBytes / 4} values (${r.payloadBytes} bytes), the model has ${this.ctx.model.dim} parameters (${task.expectedBytes} bytes)`, ctx);
    }
    if (r.numSamples < 1) throw new SessionRejected('invalid-reply', `sample count ${r.numSamples} is not positive`, ctx);
    for (const [name, v] of [['loss', r.loss], ['trainMs', r.trainMs], ['clippedNorm', r.clippedNorm], ['preClipNorm', r.preClipNorm], ['epsilon', r.epsilon]] as const) {
      if (v !== undefined && !Number.isFinite(v)) throw new SessionRejected('non-finite', `reported ${name} is ${v}`, ctx);
    }
    if (r.epsilon !== undefined && r.epsilon < 0) throw new SessionRejected('invalid-reply', `reported ε ${r.epsilon} is negative`, ctx);
    task.header = r;
    task.assembler = new PayloadAssembler(r.payloadBytes, r.payloadSha256, this.ctx.limits.chunkBytes, `task ${task.id} (round ${task.round})`);
  }

  private onChunk(c: { taskId: number; index: number; data: Buffer }): void {
    const task = this.task(c.taskId, 'chunk');
    const header = task.header;
    if (!task.assembler || !header) throw new SessionRejected('unexpected', `chunk for task ${task.id} arrived before its reply header`, { taskId: task.id, round: task.round });
    const payload = task.assembler.add(c.index, c.data);
    if (!payload) return;
    const delta = decodeFloat32(payload);
    const bad = firstNonFinite(delta);
    if (bad >= 0) throw new SessionRejected('non-finite', `update value ${bad} is ${delta[bad]}`, { taskId: task.id, round: task.round, stage: task.stage });
    this.finishTask(task);
    task.resolve({
      participantId: this.identity.name,
      round: task.round,
      delta,
      numSamples: header.numSamples,
      metrics: {
        loss: header.loss,
        trainMs: header.trainMs,
        ...(header.clippedNorm === undefined ? {} : { clippedNorm: header.clippedNorm }),
        ...(header.preClipNorm === undefined ? {} : { preClipNorm: header.preClipNorm }),
        ...(header.withinClip === undefined ? {} : { withinClip: header.withinClip }),
        ...(header.epsilon === undefined ? {} : { epsilon: header.epsilon }),
      },
    });
  }

  private onFailed(f: { taskId: number; round: number; stage: string; message: string }): void {
    const task = this.task(f.taskId, 'failure report');
    this.checkRoundAndStage(task, f.round, f.stage, 'failure report');
    this.finishTask(task);
    task.reject(new FedsecError('protocol', `participant ${this.identity.name} could not complete round ${task.round}: ${f.message}`));
  }

  private onPong(nonce: Buffer): void {
    if (!this.ping || !this.ping.nonce.equals(nonce)) throw new SessionRejected('unexpected', 'pong does not answer the last ping');
    this.ping = undefined;
  }

  /** Liveness while idle; during a task the task's deadline governs (training blocks the participant). */
  private beat(): void {
    if (this.state !== 'ready' || this.tasks.size > 0) return;
    const now = this.clock();
    if (this.ping && now - Math.max(this.ping.sentAt, this.lastHeard) > 2 * this.ctx.limits.heartbeatMs) {
      this.close('closing', 'heartbeat-timeout', `no answer to a ping within ${2 * this.ctx.limits.heartbeatMs} ms`, grpcStatusFor('heartbeat-timeout'));
      return;
    }
    if (!this.ping) {
      this.ping = { nonce: randomBytes(16), sentAt: now };
      this.post({ body: 'ping', ping: { nonce: this.ping.nonce } });
    }
  }

  /** Sends one train task; resolves with the verified reply, rejects on failure, deadline or session end. */
  requestTrain(request: TrainRequest, payload: TaskPayload, timeoutMs: number | undefined): Promise<TrainReply> {
    if (this.state !== 'ready') return Promise.reject(new FedsecError('protocol', `participant ${this.name} is not connected`));
    const id = this.ctx.nextTaskId();
    const reply = new Promise<TrainReply>((resolve, reject) => {
      const task: Task = { id, round: request.round, stage: 'train', expectedBytes: this.ctx.model.dim * 4, resolve, reject };
      if (timeoutMs !== undefined) {
        task.timer = setTimeout(() => {
          if (this.tasks.get(id) !== task) return;
          this.finishTask(task);
          task.reject(new FedsecError('protocol', `participant ${this.name} did not answer the train request for round ${request.round} within ${timeoutMs} ms (deadline exceeded)`));
          this.post({ body: 'notice', notice: { kind: 'cancelled', reason: 'deadline', message: `task ${id} passed its ${timeoutMs} ms deadline`, taskId: id, round: request.round } });
        }, timeoutMs);
      }
      this.tasks.set(id, task);
    });
    const { training } = request;
    void this.sendAll([
      {
        body: 'task',
        task: {
          taskId: id,
          round: request.round,
          stage: 'train',
          timeoutMs: timeoutMs ?? 0,
          training: {
            epochs: training.epochs,
            batchSize: training.batchSize,
            learningRate: training.learningRate,
            optimizer: training.optimizer,
            ...(training.momentum === undefined ? {} : { momentum: training.momentum }),
          },
          seed: request.seed,
          payloadBytes: payload.bytes.length,
          payloadSha256: payload.sha256,
          ...(request.clipNorm === undefined ? {} : { clipNorm: request.clipNorm }),
        },
      },
      ...splitPayload(payload.bytes, this.ctx.limits.chunkBytes).map((data, index): CoordinatorMessage => ({ body: 'chunk', chunk: { taskId: id, index, data } })),
    ]);
    return reply;
  }

  /** Ends the session from the coordinator's side with a notice (finished, superseded, shutdown). */
  close(kind: 'finished' | 'superseded' | 'closing', reason: string, message: string, code: status = status.OK): void {
    if (this.state === 'closed') return;
    this.post({ body: 'notice', notice: { kind, reason, message, taskId: 0, round: 0 } });
    this.ctx.io.end(code, code === status.OK ? 'OK' : `${reason}: ${message}`);
    this.shutdown(`${kind}: ${message}`);
  }

  /** Withdraws admission (e.g. the certificate was revoked while connected): a refusal like any other. */
  revoke(detail: string): void {
    this.reject(new SessionRejected('revoked', detail), 'admission');
  }

  /** The stream ended from the participant's side (half-close, cancel, deadline, lost connection). */
  peerGone(why: string): void {
    this.shutdown(why);
  }

  private reject(rejection: SessionRejected, phase: 'admission' | 'message', seq?: number): void {
    if (this.state === 'closed') return;
    const c = rejection.context;
    this.post({ body: 'notice', notice: { kind: 'rejected', reason: rejection.reason, message: rejection.detail, taskId: c.taskId ?? 0, round: c.round ?? 0 } });
    this.ctx.io.end(grpcStatusFor(rejection.reason), `${rejection.reason}: ${rejection.detail}`);
    this.ctx.events.rejected(this, rejection, phase, seq);
    this.shutdown(`rejected (${rejection.reason}): ${rejection.detail}`);
  }

  private shutdown(why: string): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    clearTimeout(this.helloTimer);
    clearInterval(this.heartbeat);
    for (const task of [...this.tasks.values()]) {
      this.finishTask(task);
      task.reject(new FedsecError('protocol', `participant ${this.name} left during round ${task.round}: ${why}`));
    }
    this.ctx.events.closed(this, why);
  }

  private finishTask(task: Task): void {
    clearTimeout(task.timer);
    this.tasks.delete(task.id);
  }

  private post(msg: CoordinatorMessage): void {
    void this.sendAll([msg]);
  }

  private async sendAll(messages: readonly CoordinatorMessage[]): Promise<void> {
    try {
      for (const m of messages) {
        if (this.state === 'closed' && !(m.body === 'notice')) return;
        await this.ctx.io.send(m);
      }
    } catch (err) {
      this.shutdown(`sending failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** float32 little-endian bytes → vector (the wire format is LE; a copy, so the result is aligned and owned). */
export function decodeFloat32(bytes: Buffer): Float32Array {
  const n = bytes.length >>> 2;
  if (LITTLE_ENDIAN) return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + n * 4));
  const out = new Float32Array(n);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < n; i++) out[i] = view.getFloat32(i * 4, true);
  return out;
}

export function encodeFloat32(values: Float32Array): Buffer {
  if (LITTLE_ENDIAN) return Buffer.from(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
  const out = Buffer.alloc(values.length * 4);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i]!, true);
  return out;
}
