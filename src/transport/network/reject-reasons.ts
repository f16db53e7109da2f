/**
 * Why the coordinator refuses a connection or a message. Each reason has the gRPC status the
 * participant receives; UNAUTHENTICATED and PERMISSION_DENIED are permanent (the participant
 * stops), everything else is worth a reconnect.
 */
import { status } from '@grpc/grpc-js';
import { FedsecError } from '../../core/errors.js';

const REASONS = {
  // connection / certificate (checked before any message is read)
  'no-client-certificate': status.UNAUTHENTICATED,
  'unknown-ca': status.UNAUTHENTICATED,
  revoked: status.UNAUTHENTICATED,
  expired: status.UNAUTHENTICATED,
  'not-yet-valid': status.UNAUTHENTICATED,
  'not-client-cert': status.UNAUTHENTICATED,
  'no-identity': status.UNAUTHENTICATED,
  malformed: status.INVALID_ARGUMENT,
  'crl-invalid': status.UNAVAILABLE,
  'crl-expired': status.UNAVAILABLE,
  'tls-unauthorized': status.UNAUTHENTICATED,
  'not-server-cert': status.UNAUTHENTICATED,
  // admission (after the signed hello)
  'not-admitted': status.PERMISSION_DENIED,
  'org-quota': status.PERMISSION_DENIED,
  'no-organisation': status.PERMISSION_DENIED,
  'bad-token': status.PERMISSION_DENIED,
  'wrong-federation': status.PERMISSION_DENIED,
  'identity-mismatch': status.PERMISSION_DENIED,
  'protocol-version': status.FAILED_PRECONDITION,
  'hello-timeout': status.DEADLINE_EXCEEDED,
  // messages of an admitted session
  oversized: status.RESOURCE_EXHAUSTED,
  'bad-signature': status.UNAUTHENTICATED,
  replay: status.FAILED_PRECONDITION,
  'bad-sequence': status.FAILED_PRECONDITION,
  unexpected: status.FAILED_PRECONDITION,
  'unknown-task': status.FAILED_PRECONDITION,
  'wrong-round': status.FAILED_PRECONDITION,
  'wrong-stage': status.FAILED_PRECONDITION,
  'duplicate-reply': status.FAILED_PRECONDITION,
  'wrong-shape': status.INVALID_ARGUMENT,
  'non-finite': status.INVALID_ARGUMENT,
  'invalid-reply': status.INVALID_ARGUMENT,
  'chunk-order': status.INVALID_ARGUMENT,
  'hash-mismatch': status.INVALID_ARGUMENT,
  'heartbeat-timeout': status.UNAVAILABLE,
} as const satisfies Record<string, status>;

export type RejectReason = keyof typeof REASONS;

export function grpcStatusFor(reason: RejectReason): status {
  return REASONS[reason];
}

/** gRPC statuses a participant should not retry: its identity or admission is the problem. */
export function isPermanentStatus(code: number): boolean {
  return code === status.UNAUTHENTICATED || code === status.PERMISSION_DENIED;
}

/** A refusal: the session ends with this reason, the participant is told, the audit log records it. */
export class SessionRejected extends FedsecError {
  constructor(
    readonly reason: RejectReason,
    readonly detail: string,
    readonly context: { readonly round?: number; readonly stage?: string; readonly taskId?: number } = {},
  ) {
    super(REASONS[reason] === status.UNAUTHENTICATED || REASONS[reason] === status.PERMISSION_DENIED ? 'auth' : 'protocol', `${reason}: ${detail}`);
    this.name = 'SessionRejected';
  }
}
