/**
 * The simplest transport: participants are objects in this thread. Used by tests, by a
 * single-threaded simulation, and as the reference behaviour the other transports must match.
 */
import { fail } from '../core/errors.js';
import type { ParticipantHandler, ProtocolMap, RequestKind } from '../federation/protocol.js';
import type { ParticipantTransport, RequestOptions } from './types.js';
import { withDeadline } from './deadline.js';

export class InProcessTransport implements ParticipantTransport {
  private readonly handlers: Map<string, ParticipantHandler>;
  /** Participants run one at a time, as a single thread would anyway; this keeps timing honest. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(handlers: readonly ParticipantHandler[]) {
    this.handlers = new Map(handlers.map((h) => [h.id, h]));
  }

  participants(): readonly string[] {
    return [...this.handlers.keys()];
  }

  request<K extends RequestKind>(participantId: string, kind: K, request: ProtocolMap[K]['request'], options?: RequestOptions): Promise<ProtocolMap[K]['reply']> {
    const handler = this.handlers.get(participantId) ?? fail('protocol', `unknown participant ${participantId}`);
    const run = this.queue.then(() => handler.handle(kind, request));
    this.queue = run.catch(() => undefined);
    return withDeadline(run, options?.timeoutMs, `participant ${participantId} did not answer the ${kind} request`);
  }

  async close(): Promise<void> {
    await this.queue;
  }
}
