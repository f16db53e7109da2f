/**
 * A minimal receiver for fedsec's alert webhook, to adapt (loopback only here):
 *
 *   FEDSEC_ALERT_SECRET=$(openssl rand -hex 32) node --import tsx examples/monitoring/webhook-receiver.ts
 *
 * and in the run config: alerts.webhook: { url: http://127.0.0.1:8787/alerts, secretEnv: FEDSEC_ALERT_SECRET }.
 * It refuses deliveries with a bad signature or a timestamp outside ±5 minutes, and drops a
 * delivery id it has already seen (a retry whose earlier attempt did arrive).
 */
import { createServer } from 'node:http';
import { DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verifyWebhookSignature } from '../../src/monitoring/alerts/webhook-sink.js';

const secret = process.env.FEDSEC_ALERT_SECRET;
if (!secret) throw new Error('set FEDSEC_ALERT_SECRET (the same value the coordinator uses)');
const seen = new Map<string, number>();

createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString('utf8');
    const header = (name: string): string | undefined => {
      const v = req.headers[name];
      return Array.isArray(v) ? v[0] : v;
    };
    const verdict = verifyWebhookSignature(secret, { timestamp: header(TIMESTAMP_HEADER), signature: header(SIGNATURE_HEADER), body });
    if (!verdict.ok) {
      res.writeHead(401).end(verdict.reason);
      return;
    }
    const id = header(DELIVERY_HEADER) ?? '';
    const now = Date.now();
    for (const [k, t] of seen) if (now - t > 600_000) seen.delete(k);
    if (!seen.has(id)) {
      seen.set(id, now);
      const alert = JSON.parse(body) as { severity: string; round: number; type: string; subject?: string; message: string };
      console.log(`[${alert.severity}] round ${alert.round} ${alert.type}${alert.subject ? ` (${alert.subject})` : ''}: ${alert.message}`);
    }
    res.writeHead(204).end();
  });
}).listen(8787, '127.0.0.1', () => console.log('listening on http://127.0.0.1:8787/alerts'));
