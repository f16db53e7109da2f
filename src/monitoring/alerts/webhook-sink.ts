/**
 * Alerts POSTed to a webhook, signed and retried.
 *
 * Signature: `x-fedsec-signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>` with
 * `x-fedsec-timestamp` in Unix seconds. Binding the timestamp into the MAC lets a receiver refuse
 * old deliveries (replays) with `verifyWebhookSignature`'s tolerance window; `x-fedsec-delivery`
 * (the alert id) lets it drop a duplicate inside that window. Each retry is signed afresh.
 *
 * Retries: network errors, timeouts, 408, 429 and 5xx, with exponential backoff (equal jitter from
 * node:crypto) capped at maxBackoffMs; a Retry-After header within the cap is honoured. Other 4xx
 * answers are final: resending the same request would not change them.
 */
import { createHmac, randomInt, timingSafeEqual } from 'node:crypto';
import { fail } from '../../core/errors.js';
import type { Alert, AlertSink } from './alert.js';

export const SIGNATURE_HEADER = 'x-fedsec-signature';
export const TIMESTAMP_HEADER = 'x-fedsec-timestamp';
export const DELIVERY_HEADER = 'x-fedsec-delivery';
/** Shortest secret accepted: 128 bits. */
export const MIN_SECRET_BYTES = 16;

export function signWebhook(secret: string, timestamp: number, body: string): string {
  return `v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

export type VerifyResult = { readonly ok: true } | { readonly ok: false; readonly reason: string };

/** For receivers: check a delivery's signature and freshness (constant-time comparison). */
export function verifyWebhookSignature(
  secret: string,
  delivery: { readonly timestamp: string | undefined; readonly signature: string | undefined; readonly body: string },
  options: { readonly toleranceSec?: number; readonly nowMs?: number } = {},
): VerifyResult {
  const tolerance = options.toleranceSec ?? 300;
  if (!delivery.timestamp || !/^\d{1,12}$/.test(delivery.timestamp)) return { ok: false, reason: `missing or malformed ${TIMESTAMP_HEADER}` };
  if (!delivery.signature || !/^v1=[0-9a-f]{64}$/.test(delivery.signature)) return { ok: false, reason: `missing or malformed ${SIGNATURE_HEADER}` };
  const ts = Number(delivery.timestamp);
  const now = Math.floor((options.nowMs ?? Date.now()) / 1000);
  if (Math.abs(now - ts) > tolerance) return { ok: false, reason: `timestamp ${ts} is ${now - ts} s from now, outside the ±${tolerance} s window (replayed or clock skew)` };
  const expected = Buffer.from(signWebhook(secret, ts, delivery.body), 'utf8');
  const given = Buffer.from(delivery.signature, 'utf8');
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) return { ok: false, reason: 'signature does not match the body and timestamp' };
  return { ok: true };
}

export interface WebhookOptions {
  readonly url: string;
  readonly secret: string;
  readonly timeoutMs: number;
  readonly retries: number;
  readonly backoffMs: number;
  readonly maxBackoffMs: number;
}

export interface WebhookDeps {
  readonly fetch?: typeof fetch;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly nowMs?: () => number;
}

const RETRYABLE = (status: number): boolean => status === 408 || status === 429 || status >= 500;

export class WebhookSink implements AlertSink {
  readonly name: string;
  /** Attempts made by the last send (for diagnostics and tests). */
  lastAttempts = 0;

  constructor(private readonly options: WebhookOptions, private readonly deps: WebhookDeps = {}) {
    if (Buffer.byteLength(options.secret, 'utf8') < MIN_SECRET_BYTES) {
      fail('config', `the webhook secret is shorter than ${MIN_SECRET_BYTES} bytes`, 'use e.g. `openssl rand -hex 32`');
    }
    this.name = `webhook:${new URL(options.url).origin}`;
  }

  async send(alert: Alert): Promise<void> {
    const doFetch = this.deps.fetch ?? fetch;
    const sleep = this.deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
    const body = JSON.stringify(alert);
    let lastProblem = '';
    this.lastAttempts = 0;
    let retryAfterMs: number | undefined;
    for (let attempt = 0; attempt <= this.options.retries; attempt++) {
      if (attempt > 0) {
        const cap = Math.min(this.options.maxBackoffMs, this.options.backoffMs * 2 ** (attempt - 1));
        await sleep(retryAfterMs ?? randomInt(Math.floor(cap / 2), cap + 1));
        retryAfterMs = undefined;
      }
      this.lastAttempts++;
      const timestamp = Math.floor((this.deps.nowMs?.() ?? Date.now()) / 1000);
      try {
        const res = await doFetch(this.options.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            [TIMESTAMP_HEADER]: String(timestamp),
            [SIGNATURE_HEADER]: signWebhook(this.options.secret, timestamp, body),
            [DELIVERY_HEADER]: alert.id,
          },
          body,
          signal: AbortSignal.timeout(this.options.timeoutMs),
          redirect: 'error', // a redirect could send the signed alert somewhere else
        });
        await res.arrayBuffer().catch(() => undefined); // drain, so the connection can be reused
        if (res.ok) return;
        lastProblem = `HTTP ${res.status}`;
        if (!RETRYABLE(res.status)) break;
        const retryAfter = Number(res.headers.get('retry-after'));
        if (Number.isFinite(retryAfter) && retryAfter > 0 && retryAfter * 1000 <= this.options.maxBackoffMs) retryAfterMs = retryAfter * 1000;
      } catch (err) {
        lastProblem = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
      }
    }
    fail('io', `webhook ${this.name} did not accept alert ${alert.id} after ${this.lastAttempts} attempt(s): ${lastProblem}`);
  }
}
