/**
 * The coordinator's network transport: participants dial in over mutual TLS 1.3, open one gRPC
 * bidirectional Session each, and the round engine talks to them through the same
 * `ParticipantTransport` interface as in simulation.
 *
 * TLS is terminated here, by a node:tls server we configure ourselves (TLS 1.3 only, client
 * certificate requested, the federation CA and CRL as trust anchors), and each verified socket is
 * handed to grpc-js through its connection injector. Doing the handshake ourselves gives us what
 * grpc-js's ServerCredentials do not expose: `minVersion`/`crl`, the peer certificate of a refused
 * client, and the place to decide. OpenSSL's verdict is kept (`socket.authorized` must be true) but
 * we do not let it drop the socket silently (`rejectUnauthorized: false`): the connection is only
 * ever served by a handler that first checks the verdict and, on refusal, tells the participant why
 * (a gRPC status naming the reason) without reading any of its messages. Set
 * `explainRejections: false` to drop refused sockets right after the handshake instead.
 */
import { X509Certificate, createHash, type KeyObject } from 'node:crypto';
import * as tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import type * as x509 from '@peculiar/x509';
import { FedsecError, fail } from '../../core/errors.js';
import { serializeParams, type ParamLayout } from '../../core/params.js';
import type { ProtocolMap, RequestKind, TrainRequest } from '../../federation/protocol.js';
import { verifyPeerCertificate, type PeerIdentity } from '../../pki/verify-peer.js';
import type { ParticipantTransport, RequestOptions } from '../types.js';
import { CoordinatorSession, type AdmissionDecision, type Hello, type SessionIo, type SessionLimits, type TaskPayload } from './coordinator-session.js';
import { sha256 } from './payload-chunks.js';
import { grpcStatusFor, type RejectReason } from './reject-reasons.js';
import { SESSION_METHOD_PATH, encodeCoordinatorMessage, type CoordinatorMessage } from './wire.js';

/** Trust anchors and the coordinator's own key pair; `version` changes when something was reloaded. */
export interface TlsMaterial {
  readonly version: number;
  readonly federation: string;
  readonly caPem: string;
  readonly crlPem: string;
  readonly certPem: string;
  readonly keyPem: string;
  readonly ca: x509.X509Certificate;
  readonly crl: x509.X509Crl;
}

export interface TlsMaterialSource {
  /** The material to use now (e.g. reloading a CRL that changed on disk); throws if it is unusable. */
  current(): Promise<TlsMaterial>;
}

export interface NetworkLimits extends SessionLimits {
  readonly maxConnections: number;
  readonly handshakeTimeoutMs: number;
  /** How long a request waits for a participant that is (re)connecting before failing it. */
  readonly reconnectGraceMs: number;
}

export interface TransportModel {
  readonly specJson: string;
  readonly featureShape: readonly number[];
  readonly numClasses: number;
  readonly layout: ParamLayout;
}

export interface CertificateFacts {
  readonly serial: string;
  readonly fingerprint: string;
  readonly subject: string;
}

export interface RejectionEvent {
  readonly phase: 'connection' | 'admission' | 'message';
  readonly reason: RejectReason;
  readonly message: string;
  readonly remote: string;
  /** Set when the certificate verified (admission and message rejections). */
  readonly identity?: PeerIdentity;
  /** What the (unverified) certificate says, for connection rejections. */
  readonly certificate?: CertificateFacts;
  readonly round?: number;
  readonly stage?: string;
  readonly seq?: number;
}

export interface NetworkEvents {
  admitted?(e: { readonly identity: PeerIdentity; readonly remote: string }): void;
  rejected?(e: RejectionEvent): void;
  disconnected?(e: { readonly participant: string; readonly why: string }): void;
  /** A TLS handshake that failed before any certificate was seen (logged, not audited). */
  tlsError?(e: { readonly remote: string; readonly message: string }): void;
  bytes?(direction: 'in' | 'out', bytes: number): void;
}

export interface NetworkTransportOptions {
  readonly host: string;
  /** 0 picks a free port (tests). */
  readonly port: number;
  readonly tls: TlsMaterialSource;
  readonly admission: { decide(identity: PeerIdentity, hello: Hello): AdmissionDecision };
  readonly model: TransportModel;
  readonly limits: NetworkLimits;
  readonly explainRejections?: boolean;
  readonly events?: NetworkEvents;
}

type ConnectionVerdict =
  | { readonly ok: true; readonly identity: PeerIdentity; readonly publicKey: KeyObject }
  | { readonly ok: false; readonly reason: RejectReason; readonly message: string; readonly certificate?: CertificateFacts };

const identityCodec = (b: Buffer): Buffer => b;

/** How often the CRL file is checked for changes (also on every new connection). */
const CRL_CHECK_MS = 5_000;

const sessionService: grpc.ServiceDefinition = {
  session: {
    path: SESSION_METHOD_PATH,
    requestStream: true,
    responseStream: true,
    // Raw bytes both ways: decoding happens in the session, where a malformed message is a clear,
    // audited rejection rather than a grpc-js internal error.
    requestSerialize: identityCodec,
    requestDeserialize: identityCodec,
    responseSerialize: identityCodec,
    responseDeserialize: identityCodec,
  },
};

function statusError(code: grpc.status, details: string): Partial<grpc.StatusObject> & Error {
  return Object.assign(new Error(details), { code, details });
}

function remoteOf(host: string | undefined, port: number | undefined): string {
  return port ? `${host ?? 'unknown'}:${port}` : (host ?? 'unknown');
}

export class NetworkTransport implements ParticipantTransport {
  private readonly live = new Map<string, CoordinatorSession>();
  private readonly known = new Set<string>();
  private readonly verdicts = new Map<string, Promise<ConnectionVerdict>>();
  private readonly sockets = new Set<tls.TLSSocket>();
  private readonly waiters = new Set<() => void>();
  private readonly payloads = new WeakMap<TrainRequest, TaskPayload>();
  private taskCounter = 0;
  private contextVersion: number;
  private closed = false;
  private crlTimer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly options: NetworkTransportOptions,
    private readonly grpcServer: grpc.Server,
    private readonly tlsServer: tls.Server,
    material: TlsMaterial,
    readonly federation: string,
  ) {
    this.contextVersion = material.version;
  }

  static async listen(options: NetworkTransportOptions): Promise<NetworkTransport> {
    const material = await options.tls.current();
    const { limits } = options;
    const grpcServer = new grpc.Server({
      // grpc-js drops anything past this before we see it; our own, lower limit (with a clear,
      // audited error) is limits.maxMessageBytes, checked on every message in the session.
      'grpc.max_receive_message_length': 2 * limits.maxMessageBytes,
      'grpc.max_concurrent_streams': 4,
    });
    const tlsServer = tls.createServer({
      ...secureContextOptions(material),
      requestCert: true,
      rejectUnauthorized: false,
      ALPNProtocols: ['h2'],
      handshakeTimeout: limits.handshakeTimeoutMs,
    });
    tlsServer.maxConnections = limits.maxConnections;
    const transport = new NetworkTransport(options, grpcServer, tlsServer, material, material.federation);
    grpcServer.addService(sessionService, { session: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => transport.onCall(call) });
    // TLS is already terminated by tlsServer: grpc-js only sees the decrypted HTTP/2 stream.
    const injector = grpcServer.createConnectionInjector(grpc.ServerCredentials.createInsecure());
    tlsServer.on('connection', () => void transport.refreshContext());
    // A CRL replaced on disk also reaches participants that are already connected.
    transport.crlTimer = setInterval(() => void transport.refreshContext(), CRL_CHECK_MS);
    transport.crlTimer.unref();
    tlsServer.on('secureConnection', (socket: tls.TLSSocket) => transport.onSecureConnection(socket, injector));
    tlsServer.on('tlsClientError', (err, socket) => {
      options.events?.tlsError?.({ remote: remoteOf(socket.remoteAddress, socket.remotePort), message: err.message });
    });
    await new Promise<void>((resolve, reject) => {
      tlsServer.once('error', reject);
      tlsServer.listen(options.port, options.host, () => {
        tlsServer.off('error', reject);
        resolve();
      });
    }).catch((err: unknown) => {
      grpcServer.forceShutdown();
      fail('io', `cannot listen on ${options.host}:${options.port}: ${err instanceof Error ? err.message : String(err)}`, 'pick a free port in deploy.listen.port, or stop the process using it');
    });
    return transport;
  }

  get port(): number {
    const address = this.tlsServer.address();
    return typeof address === 'object' && address !== null ? address.port : 0;
  }

  /** Every identity admitted since the coordinator started (the engine samples from these). */
  participants(): readonly string[] {
    return [...this.known].sort();
  }

  /** Identities with a live, admitted session right now. */
  connected(): readonly string[] {
    return [...this.live.keys()].sort();
  }

  /** Resolves once `count` participants are connected; fails with the list after `timeoutMs`. */
  waitForParticipants(count: number, timeoutMs: number): Promise<readonly string[]> {
    if (this.live.size >= count) return Promise.resolve(this.connected());
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (this.live.size < count) return;
        cleanup();
        resolve(this.connected());
      };
      const timer = setTimeout(() => {
        cleanup();
        const have = this.connected();
        reject(new FedsecError('precondition', `only ${have.length} of the ${count} participants required connected within ${Math.round(timeoutMs / 1000)} s${have.length ? ` (${have.join(', ')})` : ''}`, 'start more participants with `fedsec join`, or lower deploy.wait.participants / raise deploy.wait.timeoutMs'));
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
    });
  }

  async request<K extends RequestKind>(participantId: string, kind: K, request: ProtocolMap[K]['request'], options?: RequestOptions): Promise<ProtocolMap[K]['reply']> {
    if (kind !== 'train') fail('protocol', `the network transport does not carry "${String(kind)}" requests`);
    const grace = Math.min(options?.timeoutMs ?? Infinity, this.options.limits.reconnectGraceMs);
    const session = this.live.get(participantId) ?? (await this.waitFor(participantId, grace));
    // Only train requests travel over the network so far (checked above).
    const train = request as TrainRequest;
    const reply = await session.requestTrain(train, this.payloadFor(train), options?.timeoutMs);
    return reply as ProtocolMap[K]['reply'];
  }

  /** Tells every connected participant that training is over, then closes their sessions. */
  finish(message: string): void {
    for (const s of [...this.live.values()]) s.close('finished', 'finished', message);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.crlTimer);
    for (const s of [...this.live.values()]) s.close('closing', 'shutdown', 'the coordinator is shutting down', grpc.status.UNAVAILABLE);
    await new Promise<void>((resolve) => {
      this.tlsServer.close(() => resolve());
      // Let the notices flush, then cut whatever is left.
      setTimeout(() => {
        this.grpcServer.forceShutdown();
        for (const socket of this.sockets) socket.destroy();
      }, 200).unref();
    });
  }

  // ---- connections --------------------------------------------------------------------------

  private async refreshContext(): Promise<void> {
    try {
      const material = await this.options.tls.current();
      if (material.version !== this.contextVersion) {
        this.contextVersion = material.version;
        this.tlsServer.setSecureContext(secureContextOptions(material));
        for (const session of [...this.live.values()]) {
          const entry = material.crl.findRevoked(session.identity.serial);
          if (entry) session.revoke(`certificate ${session.identity.serial} was revoked at ${entry.revocationDate.toISOString()}; the new CRL reached this coordinator while the participant was connected`);
        }
      }
    } catch {
      // verifyConnection reports an unusable CRL for the connection itself.
    }
  }

  private onSecureConnection(socket: tls.TLSSocket, injector: grpc.ConnectionInjector): void {
    const remote = remoteOf(socket.remoteAddress, socket.remotePort);
    this.sockets.add(socket);
    // Resets by refused or departing clients are expected; what matters is reported elsewhere.
    socket.on('error', () => undefined);
    const verdict = this.verifyConnection(socket);
    this.verdicts.set(remote, verdict);
    socket.once('close', () => {
      this.sockets.delete(socket);
      if (this.verdicts.get(remote) === verdict) this.verdicts.delete(remote);
    });
    void verdict.then((v) => {
      if (!v.ok) {
        this.options.events?.rejected?.({ phase: 'connection', reason: v.reason, message: v.message, remote, ...(v.certificate ? { certificate: v.certificate } : {}) });
        if (this.options.explainRejections === false) {
          socket.destroy();
          return;
        }
      }
      if (!socket.destroyed && !this.closed) injector.injectConnection(socket);
    });
  }

  /** Never rejects: anything unexpected is a refusal of this connection, not a crash of the coordinator. */
  private async verifyConnection(socket: tls.TLSSocket): Promise<ConnectionVerdict> {
    try {
      return await this.checkPeer(socket);
    } catch (err) {
      return { ok: false, reason: 'malformed', message: `the client certificate could not be checked: ${err instanceof Error ? err.message : String(err)}` };
    }
  }

  private async checkPeer(socket: tls.TLSSocket): Promise<ConnectionVerdict> {
    let material: TlsMaterial;
    try {
      material = await this.options.tls.current();
    } catch (err) {
      return { ok: false, reason: 'crl-invalid', message: `the coordinator cannot check revocation: ${err instanceof Error ? err.message : String(err)}` };
    }
    const peer = socket.getPeerCertificate();
    const raw: Buffer | undefined = Object.keys(peer).length > 0 ? peer.raw : undefined;
    if (!raw || raw.length === 0) {
      return { ok: false, reason: 'no-client-certificate', message: 'no client certificate was presented; configure the participant with the certificate and key from `fedsec pki issue --participant NAME`' };
    }
    const certificate: CertificateFacts = { serial: peer.serialNumber.toLowerCase(), fingerprint: createHash('sha256').update(raw).digest('hex'), subject: [peer.subject?.CN ?? ''].flat().join(', ') };
    const v = await verifyPeerCertificate(new Uint8Array(raw), { ca: material.ca, crl: material.crl, expect: 'participant' });
    if (!v.ok) return { ok: false, reason: v.reason, message: v.message, certificate };
    if (!socket.authorized) {
      return { ok: false, reason: 'tls-unauthorized', message: `the TLS layer refused certificate ${certificate.serial}: ${String(socket.authorizationError)}`, certificate };
    }
    return { ok: true, identity: v.identity, publicKey: new X509Certificate(raw).publicKey };
  }

  private onCall(call: grpc.ServerDuplexStream<Buffer, Buffer>): void {
    const remote = call.getPeer();
    const verdict = this.verdicts.get(remote);
    if (!verdict) {
      call.emit('error', statusError(grpc.status.UNAVAILABLE, 'connection not verified; reconnect'));
      return;
    }
    void verdict.then((v) => {
      if (this.closed) {
        call.emit('error', statusError(grpc.status.UNAVAILABLE, 'the coordinator is shutting down'));
        return;
      }
      if (!v.ok) {
        // No message of this participant is read: tell it why and end.
        const notice: CoordinatorMessage = { body: 'notice', notice: { kind: 'rejected', reason: v.reason, message: v.message, taskId: 0, round: 0 } };
        const buf = encodeCoordinatorMessage(notice);
        this.options.events?.bytes?.('out', buf.length);
        call.write(buf);
        call.emit('error', statusError(grpcStatusFor(v.reason), `${v.reason}: ${v.message}`));
        return;
      }
      this.startSession(call, v, remote);
    });
  }

  private startSession(call: grpc.ServerDuplexStream<Buffer, Buffer>, v: Extract<ConnectionVerdict, { ok: true }>, remote: string): void {
    const events = this.options.events;
    const io: SessionIo = {
      send: (msg) => {
        if (call.writableEnded || call.destroyed) return Promise.resolve();
        const buf = encodeCoordinatorMessage(msg);
        events?.bytes?.('out', buf.length);
        if (call.write(buf)) return Promise.resolve();
        // Backpressure: wait for the stream to drain (or to end, whichever comes first).
        return new Promise<void>((resolve) => {
          const done = (): void => {
            for (const e of ['drain', 'cancelled', 'finish', 'close'] as const) call.off(e, done);
            resolve();
          };
          for (const e of ['drain', 'cancelled', 'finish', 'close'] as const) call.once(e, done);
        });
      },
      end: (code, details) => {
        if (call.writableEnded) return;
        if (code === grpc.status.OK) call.end();
        else call.emit('error', statusError(code, details));
      },
    };
    const session = new CoordinatorSession({
      identity: v.identity,
      publicKey: v.publicKey,
      remote,
      federation: this.federation,
      limits: this.options.limits,
      model: { specJson: this.options.model.specJson, featureShape: this.options.model.featureShape, numClasses: this.options.model.numClasses, dim: this.options.model.layout.size },
      admit: (identity, hello) => this.options.admission.decide(identity, hello),
      nextTaskId: () => ++this.taskCounter,
      io,
      events: {
        admitted: (s) => this.onAdmitted(s),
        rejected: (s, rejection, phase, seq) => {
          const c = rejection.context;
          events?.rejected?.({
            phase, reason: rejection.reason, message: rejection.detail, remote: s.remote, identity: s.identity,
            ...(c.round ? { round: c.round } : {}), ...(c.stage ? { stage: c.stage } : {}), ...(seq ? { seq } : {}),
          });
        },
        closed: (s, why) => {
          if (this.live.get(s.name) !== s) return;
          this.live.delete(s.name);
          events?.disconnected?.({ participant: s.name, why });
        },
      },
    });
    call.on('data', (b: Buffer) => {
      events?.bytes?.('in', b.length);
      session.receive(b);
    });
    call.on('end', () => {
      session.peerGone('the participant closed the session');
      io.end(grpc.status.OK, 'OK');
    });
    call.on('cancelled', () => session.peerGone('the session was cancelled (participant deadline, shutdown or lost connection)'));
    session.start();
  }

  private onAdmitted(session: CoordinatorSession): void {
    const previous = this.live.get(session.name);
    if (previous && previous !== session) {
      previous.close('superseded', 'superseded', `a new session of ${session.name} from ${session.remote} replaced this one`, grpc.status.ABORTED);
    }
    this.live.set(session.name, session);
    this.known.add(session.name);
    this.options.events?.admitted?.({ identity: session.identity, remote: session.remote });
    for (const w of [...this.waiters]) w();
  }

  private waitFor(name: string, ms: number): Promise<CoordinatorSession> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const s = this.live.get(name);
        if (!s) return;
        cleanup();
        resolve(s);
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new FedsecError('protocol', `participant ${name} is not connected (waited ${Math.round(ms)} ms for it to reconnect)`));
      }, ms);
      const cleanup = (): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
    });
  }

  /** The round's global model, serialised and hashed once for all participants. */
  private payloadFor(request: TrainRequest): TaskPayload {
    let payload = this.payloads.get(request);
    if (!payload) {
      const bytes = serializeParams({ layout: this.options.model.layout, values: request.params });
      payload = { bytes, sha256: sha256(bytes) };
      this.payloads.set(request, payload);
    }
    return payload;
  }
}

function secureContextOptions(m: TlsMaterial): tls.SecureContextOptions {
  return { key: m.keyPem, cert: m.certPem, ca: m.caPem, crl: m.crlPem, minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3' };
}
