/**
 * Prometheus metrics without a client library: counters and gauges with labels, rendered in the
 * text exposition format (version 0.0.4), served by a tiny HTTP server bound to loopback. The
 * endpoint has no authentication, which is why the config only accepts loopback addresses.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fail } from '../core/errors.js';

type Labels = Readonly<Record<string, string>>;
type Kind = 'counter' | 'gauge';

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function escapeHelp(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function labelKey(labels: Labels): string {
  const keys = Object.keys(labels).sort();
  for (const k of keys) if (!LABEL.test(k)) fail('internal', `invalid metric label name "${k}"`);
  return keys.map((k) => `${k}="${escapeLabel(labels[k] ?? '')}"`).join(',');
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

class Family {
  readonly values = new Map<string, number>();
  constructor(readonly name: string, readonly help: string, readonly kind: Kind) {}

  add(labels: Labels, by: number): void {
    const key = labelKey(labels);
    this.values.set(key, (this.values.get(key) ?? 0) + by);
  }

  set(labels: Labels, value: number): void {
    this.values.set(labelKey(labels), value);
  }

  render(): string {
    const lines = [`# HELP ${this.name} ${escapeHelp(this.help)}`, `# TYPE ${this.name} ${this.kind}`];
    for (const [key, v] of this.values) lines.push(`${this.name}${key ? `{${key}}` : ''} ${formatValue(v)}`);
    return lines.join('\n');
  }
}

export interface Counter {
  inc(labels?: Labels, by?: number): void;
}

export interface Gauge {
  set(value: number, labels?: Labels): void;
  inc(labels?: Labels, by?: number): void;
}

export class MetricsRegistry {
  private readonly families = new Map<string, Family>();

  private family(name: string, help: string, kind: Kind): Family {
    if (!NAME.test(name)) fail('internal', `invalid metric name "${name}"`);
    const existing = this.families.get(name);
    if (existing) {
      if (existing.kind !== kind) fail('internal', `metric ${name} is already a ${existing.kind}`);
      return existing;
    }
    const f = new Family(name, help, kind);
    this.families.set(name, f);
    return f;
  }

  /** A counter only goes up; a counter without labels starts at 0 so it is visible before the first event. */
  counter(name: string, help: string, initial = true): Counter {
    const f = this.family(name, help, 'counter');
    if (initial) f.add({}, 0);
    return {
      inc: (labels = {}, by = 1) => {
        if (!(by >= 0)) fail('internal', `counter ${name} cannot go down (by ${by})`);
        f.add(labels, by);
      },
    };
  }

  gauge(name: string, help: string): Gauge {
    const f = this.family(name, help, 'gauge');
    return { set: (value, labels = {}) => f.set(labels, value), inc: (labels = {}, by = 1) => f.add(labels, by) };
  }

  render(): string {
    return `${[...this.families.values()].map((f) => f.render()).join('\n')}\n`;
  }
}

export interface MetricsServer {
  readonly port: number;
  close(): Promise<void>;
}

export const LOOPBACK_HOSTS = ['127.0.0.1', '::1', 'localhost'] as const;

export async function startMetricsServer(registry: MetricsRegistry, host: string, port: number): Promise<MetricsServer> {
  if (!(LOOPBACK_HOSTS as readonly string[]).includes(host)) fail('config', `metrics host ${host} is not a loopback address`, 'the endpoint is unauthenticated: bind it to 127.0.0.1 and scrape through a local agent or an SSH tunnel');
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' || path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found: try GET /metrics\n');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(registry.render());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  }).catch((err: unknown) => fail('io', `cannot serve metrics on ${host}:${port}: ${err instanceof Error ? err.message : String(err)}`, 'pick a free deploy.metrics.port, or set deploy.metrics: false'));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
