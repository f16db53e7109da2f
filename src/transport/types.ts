/**
 * A transport carries protocol messages from the coordinator to participants and back. The round
 * engine is written against this interface only, so simulation and deployment share it.
 */
import type { ProtocolMap, RequestKind } from '../federation/protocol.js';

export interface RequestOptions {
  /** Deadline for the reply; the transport rejects with a timeout error after it. */
  readonly timeoutMs?: number;
}

export interface ParticipantTransport {
  /** Participants currently reachable (connected / admitted / simulated). */
  participants(): readonly string[];
  request<K extends RequestKind>(
    participantId: string,
    kind: K,
    request: ProtocolMap[K]['request'],
    options?: RequestOptions,
  ): Promise<ProtocolMap[K]['reply']>;
  close(): Promise<void>;
}
