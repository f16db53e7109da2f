import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Alert, AlertSink } from '../../src/monitoring/alerts/alert.js';
import { alertFromFinding } from '../../src/monitoring/alerts/alert.js';
import { AlertDispatcher } from '../../src/monitoring/alerts/alert-dispatcher.js';
import { FileSink } from '../../src/monitoring/alerts/file-sink.js';
import { DELIVERY_HEADER, SIGNATURE_HEADER, signWebhook, TIMESTAMP_HEADER, verifyWebhookSignature, WebhookSink } from '../../src/monitoring/alerts/webhook-sink.js';

const SECRET = 'test-secret-0123456789abcdef';

function alert(type = 'norm-outlier', subject = 'p1', severity: Alert['severity'] = 'warning'): Alert {
  return alertFromFinding('run', { type, severity, round: 3, subject, message: 'update norm 9 is 9× the median', evidence: { norm: 9 } });
}

interface Received {
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
}

let server: Server | undefined;
afterEach(async () => {
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = undefined;
});

/** A webhook receiver on 127.0.0.1 answering with the given status codes in turn (then 200). */
async function receiver(statuses: number[]): Promise<{ url: string; received: Received[] }> {
  const received: Received[] = [];
  server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      res.statusCode = statuses.shift() ?? 200;
      res.end();
    });
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, received };
}

const fast = { timeoutMs: 2000, backoffMs: 1, maxBackoffMs: 4 };

describe('webhook sink', () => {
  it('POSTs the alert with an HMAC-SHA256 signature over timestamp and body that the receiver can verify', async () => {
    const { url, received } = await receiver([]);
    const a = alert();
    await new WebhookSink({ url, secret: SECRET, retries: 0, ...fast }).send(a);
    expect(received).toHaveLength(1);
    const r = received[0]!;
    expect(JSON.parse(r.body)).toMatchObject({ id: a.id, type: 'norm-outlier', subject: 'p1' });
    expect(r.headers[DELIVERY_HEADER]).toBe(a.id);
    const ts = String(r.headers[TIMESTAMP_HEADER]);
    expect(r.headers[SIGNATURE_HEADER]).toBe(signWebhook(SECRET, Number(ts), r.body));
    expect(verifyWebhookSignature(SECRET, { timestamp: ts, signature: String(r.headers[SIGNATURE_HEADER]), body: r.body })).toEqual({ ok: true });
  });

  it('verification refuses a tampered body, a wrong secret, a replayed (stale) delivery and malformed headers', () => {
    const ts = 1_700_000_000;
    const body = '{"a":1}';
    const sig = signWebhook(SECRET, ts, body);
    const now = ts * 1000;
    expect(verifyWebhookSignature(SECRET, { timestamp: String(ts), signature: sig, body }, { nowMs: now })).toEqual({ ok: true });
    expect(verifyWebhookSignature(SECRET, { timestamp: String(ts), signature: sig, body: '{"a":2}' }, { nowMs: now })).toMatchObject({ ok: false, reason: expect.stringMatching(/does not match/) });
    expect(verifyWebhookSignature('another-secret-0123456789', { timestamp: String(ts), signature: sig, body }, { nowMs: now }).ok).toBe(false);
    // the same signed delivery, replayed 10 minutes later
    expect(verifyWebhookSignature(SECRET, { timestamp: String(ts), signature: sig, body }, { nowMs: now + 600_000 })).toMatchObject({ ok: false, reason: expect.stringMatching(/outside the ±300 s window/) });
    // a replay with a fresh timestamp but the old signature
    expect(verifyWebhookSignature(SECRET, { timestamp: String(ts + 600), signature: sig, body }, { nowMs: now + 600_000 }).ok).toBe(false);
    expect(verifyWebhookSignature(SECRET, { timestamp: undefined, signature: sig, body }).ok).toBe(false);
    expect(verifyWebhookSignature(SECRET, { timestamp: String(ts), signature: 'sha1=abc', body }, { nowMs: now }).ok).toBe(false);
  });

  it('retries 5xx and 429 with a fresh signature each time, then succeeds', async () => {
    const { url, received } = await receiver([503, 500, 429]);
    const sink = new WebhookSink({ url, secret: SECRET, retries: 4, ...fast });
    await sink.send(alert());
    expect(sink.lastAttempts).toBe(4);
    expect(received).toHaveLength(4);
    for (const r of received) expect(verifyWebhookSignature(SECRET, { timestamp: String(r.headers[TIMESTAMP_HEADER]), signature: String(r.headers[SIGNATURE_HEADER]), body: r.body }).ok).toBe(true);
    expect(new Set(received.map((r) => r.headers[DELIVERY_HEADER])).size).toBe(1); // one delivery id: the receiver can deduplicate
  });

  it('gives up after the configured retries, and does not retry a 4xx refusal', async () => {
    const { url, received } = await receiver([500, 500, 500, 500]);
    await expect(new WebhookSink({ url, secret: SECRET, retries: 2, ...fast }).send(alert())).rejects.toThrow(/after 3 attempt\(s\): HTTP 500/);
    expect(received).toHaveLength(3);
    await new Promise<void>((r) => server!.close(() => r()));
    const refused = await receiver([401]);
    await expect(new WebhookSink({ url: refused.url, secret: SECRET, retries: 3, ...fast }).send(alert())).rejects.toThrow(/after 1 attempt\(s\): HTTP 401/);
    expect(refused.received).toHaveLength(1);
  });

  it('retries when nothing listens (connection refused) and reports the network error', async () => {
    const { url } = await receiver([]);
    await new Promise<void>((r) => server!.close(() => r()));
    server = undefined;
    const sink = new WebhookSink({ url, secret: SECRET, retries: 1, ...fast });
    await expect(sink.send(alert())).rejects.toThrow(/after 2 attempt\(s\)/);
  });

  it('refuses a short secret', () => {
    expect(() => new WebhookSink({ url: 'https://alerts.example/hook', secret: 'short', retries: 0, ...fast })).toThrow(/shorter than 16 bytes/);
  });
});

class MemorySink implements AlertSink {
  readonly name = 'memory';
  readonly got: Alert[] = [];
  send(a: Alert): Promise<void> {
    this.got.push(a);
    return Promise.resolve();
  }
}

describe('alert dispatcher', () => {
  it('deduplicates the same type and subject within the window, counting what it held back', async () => {
    let now = 0;
    const sink = new MemorySink();
    const d = new AlertDispatcher([{ sink, minSeverity: 'warning' }], { dedupWindowMs: 1000, maxPerMinute: 100, clock: () => now });
    d.emit(alert('norm-outlier', 'p1'));
    d.emit(alert('norm-outlier', 'p1'));
    d.emit(alert('norm-outlier', 'p1'));
    d.emit(alert('norm-outlier', 'p2')); // other subject: sent
    d.emit(alert('norm-outlier', 'p1', 'critical')); // escalation: sent despite the window
    now = 5000;
    d.emit(alert('norm-outlier', 'p2'));
    await d.flush();
    expect(sink.got.map((a) => [a.subject, a.severity, a.suppressed])).toEqual([['p1', 'warning', undefined], ['p2', 'warning', undefined], ['p1', 'critical', 2], ['p2', 'warning', undefined]]);
    expect(d.stats).toMatchObject({ sent: 4, deduplicated: 2 });
  });

  it('rate-limits each sink per sliding minute and reports how many were dropped; skips alerts below its severity', async () => {
    let now = 0;
    const sink = new MemorySink();
    const d = new AlertDispatcher([{ sink, minSeverity: 'warning' }], { dedupWindowMs: 0, maxPerMinute: 3, clock: () => now });
    for (let i = 0; i < 10; i++) d.emit(alert('norm-outlier', `p${i}`));
    d.emit(alert('norm-outlier', 'quiet', 'info'));
    now = 61_000;
    d.emit(alert('norm-outlier', 'late'));
    await d.flush();
    expect(sink.got.map((a) => a.subject)).toEqual(['p0', 'p1', 'p2', 'late']);
    expect(sink.got[3]!.rateLimited).toBe(7);
    expect(d.stats).toMatchObject({ sent: 4, rateLimited: 7 });
  });

  it('delivers asynchronously, reports failures, and writes a file sink as JSON lines', async () => {
    const failing: AlertSink = { name: 'broken', send: () => Promise.reject(new Error('down')) };
    const errors: string[] = [];
    const dir = mkdtempSync(join(tmpdir(), 'fedsec-alerts-'));
    const file = new FileSink(join(dir, 'alerts.jsonl'));
    const d = new AlertDispatcher([{ sink: failing, minSeverity: 'info' }, { sink: file, minSeverity: 'info' }], {
      dedupWindowMs: 0, maxPerMinute: 10, onError: (sink, a, err) => errors.push(`${sink}:${a.subject}:${(err as Error).message}`),
    });
    d.emit(alert('accuracy-drop', 'x'));
    d.emit(alert('class-collapse', 'y'));
    await d.flush();
    expect(errors).toEqual(['broken:x:down', 'broken:y:down']);
    expect(d.stats).toMatchObject({ sent: 2, failed: 2 });
    const lines = readFileSync(join(dir, 'alerts.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Alert);
    expect(lines.map((a) => a.type)).toEqual(['accuracy-drop', 'class-collapse']);
  });
});
