/**
 * The participant's end of the wire: one outgoing mutual-TLS 1.3 gRPC Session to the coordinator,
 * exposed as "send bytes" and "receive the next decoded message or the final status". The
 * coordinator must present a serverAuth certificate from the federation CA for the dialled host.
 * The state machine on top lives in participant-agent.ts; tests use this directly to misbehave.
 */
import { X509Certificate } from 'node:crypto';
import * as tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { SESSION_METHOD_PATH, decodeCoordinatorMessage, type CoordinatorMessage } from './wire.js';

export interface ConnectionOptions {
  /** host:port of the coordinator. */
  readonly address: string;
  /** Name to verify the coordinator certificate against when it differs from the dialled host. */
  readonly serverName?: string;
  readonly caPem: string;
  /** The participant's certificate and key (PEM); omitted only by tests probing the coordinator. */
  readonly certPem?: string;
  readonly keyPem?: string;
  /** Deadline of the whole session call; the participant reconnects after it. */
  readonly deadlineMs: number;
  /** Largest coordinator message accepted (a chunk plus its envelope). */
  readonly maxMessageBytes: number;
}

export type Incoming =
  | { readonly kind: 'message'; readonly message: CoordinatorMessage; readonly bytes: number }
  | { readonly kind: 'end'; readonly code: grpc.status; readonly details: string };

const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';

/** Hostname check as usual, plus: the peer must be a coordinator (serverAuth, not a CA). */
function checkCoordinator(host: string, cert: tls.PeerCertificate): Error | undefined {
  const hostError = tls.checkServerIdentity(host, cert);
  if (hostError) return hostError;
  if (!cert.raw) return new Error('the coordinator presented no certificate');
  const x = new X509Certificate(cert.raw);
  if (x.ca || !(x.keyUsage ?? []).includes(SERVER_AUTH)) {
    return new Error(`the server certificate for ${host} is not a coordinator certificate (needs serverAuth and must not be a CA)`);
  }
  return undefined;
}

const identity = (b: Buffer): Buffer => b;

export class CoordinatorConnection {
  private readonly client: grpc.Client;
  private readonly call: grpc.ClientDuplexStream<Buffer, Buffer>;
  private readonly queue: Incoming[] = [];
  private waiting: ((item: Incoming) => void) | undefined;
  private ended = false;
  bytesIn = 0;
  bytesOut = 0;

  constructor(options: ConnectionOptions) {
    const context = tls.createSecureContext({
      ca: options.caPem,
      ...(options.certPem && options.keyPem ? { cert: options.certPem, key: options.keyPem } : {}),
      minVersion: 'TLSv1.3',
      maxVersion: 'TLSv1.3',
    });
    const credentials = grpc.credentials.createFromSecureContext(context, { checkServerIdentity: checkCoordinator });
    this.client = new grpc.Client(options.address, credentials, {
      'grpc.max_receive_message_length': options.maxMessageBytes,
      'grpc.enable_retries': 0,
      ...(options.serverName ? { 'grpc.ssl_target_name_override': options.serverName, 'grpc.default_authority': options.serverName } : {}),
    });
    this.call = this.client.makeBidiStreamRequest(SESSION_METHOD_PATH, identity, identity, new grpc.Metadata(), { deadline: Date.now() + options.deadlineMs });
    this.call.on('data', (buf: Buffer) => {
      this.bytesIn += buf.length;
      let message: CoordinatorMessage;
      try {
        message = decodeCoordinatorMessage(buf);
      } catch (err) {
        this.push({ kind: 'end', code: grpc.status.INTERNAL, details: err instanceof Error ? err.message : String(err) });
        this.close();
        return;
      }
      this.push({ kind: 'message', message, bytes: buf.length });
    });
    // grpc-js reports a non-OK end as 'error' and then 'status'; the first one wins.
    this.call.on('error', (err: grpc.ServiceError) => this.push({ kind: 'end', code: err.code, details: err.details || err.message }));
    this.call.on('status', (s: grpc.StatusObject) => this.push({ kind: 'end', code: s.code, details: s.details }));
  }

  private push(item: Incoming): void {
    if (this.ended) return;
    if (item.kind === 'end') this.ended = true;
    const waiter = this.waiting;
    if (waiter) {
      this.waiting = undefined;
      waiter(item);
    } else this.queue.push(item);
  }

  /** The next message, or the end of the session; `timeoutMs` bounds the wait (then an end is synthesised). */
  next(timeoutMs?: number): Promise<Incoming> {
    const queued = this.queue.shift();
    if (queued) return Promise.resolve(queued);
    if (this.ended) return Promise.resolve({ kind: 'end', code: grpc.status.CANCELLED, details: 'session already ended' });
    return new Promise((resolve) => {
      const timer = timeoutMs === undefined ? undefined : setTimeout(() => {
        this.waiting = undefined;
        resolve({ kind: 'end', code: grpc.status.DEADLINE_EXCEEDED, details: `no message from the coordinator within ${timeoutMs} ms` });
      }, timeoutMs);
      this.waiting = (item) => {
        clearTimeout(timer);
        resolve(item);
      };
    });
  }

  /** Writes one encoded message, waiting for the stream to drain when it is full. */
  send(buf: Buffer): Promise<void> {
    if (this.ended || this.call.writableEnded || this.call.destroyed) return Promise.resolve();
    this.bytesOut += buf.length;
    if (this.call.write(buf)) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        this.call.off('drain', done);
        this.call.off('status', done);
        resolve();
      };
      this.call.once('drain', done);
      this.call.once('status', done);
    });
  }

  get isEnded(): boolean {
    return this.ended;
  }

  /** Half-closes our side (the coordinator then ends the session). */
  finishSending(): void {
    if (!this.call.writableEnded) this.call.end();
  }

  close(): void {
    this.call.cancel();
    this.client.close();
  }
}
