/**
 * The monitoring log: one JSON object per line (findings, gate decisions, delivery failures) on
 * stderr or appended to a file, for log shippers and `jq`. Everything is logged; deduplication and
 * rate limits apply only to alert sinks.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

export type LogLevel = 'info' | 'warning' | 'critical' | 'error';

export interface LogTarget {
  write(line: string): void;
}

export class StructuredLog {
  constructor(private readonly target: LogTarget, private readonly clock: () => Date = () => new Date()) {}

  static toFile(path: string): StructuredLog {
    mkdirSync(dirname(path), { recursive: true });
    return new StructuredLog({ write: (line) => appendFileSync(path, line, { mode: 0o600 }) });
  }

  static toStderr(): StructuredLog {
    return new StructuredLog({ write: (line) => process.stderr.write(line) });
  }

  static off(): StructuredLog {
    return new StructuredLog({ write: () => undefined });
  }

  log(level: LogLevel, event: string, fields: Record<string, unknown>): void {
    this.target.write(`${JSON.stringify({ ts: this.clock().toISOString(), level, event, ...fields })}\n`);
  }
}
