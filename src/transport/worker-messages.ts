// Messages between the worker pool and its participant workers (structured-clone safe).
export interface WorkerRequest {
  readonly id: number;
  readonly participantId: string;
  readonly kind: string;
  readonly body: unknown;
}

export type WorkerReply =
  | { readonly id: number; readonly ok: true; readonly body: unknown }
  | { readonly id: number; readonly ok: false; readonly error: string };

export type WorkerStatus = { readonly ready: true } | { readonly ready: false; readonly error: string };
