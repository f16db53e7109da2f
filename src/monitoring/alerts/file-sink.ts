/**
 * Alerts appended to a local file, one JSON object per line (created owner-only: alerts can name
 * participants and carry evidence about them).
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Alert, AlertSink } from './alert.js';

export class FileSink implements AlertSink {
  readonly name: string;

  constructor(private readonly path: string) {
    this.name = `file:${path}`;
    mkdirSync(dirname(path), { recursive: true });
  }

  send(alert: Alert): Promise<void> {
    appendFileSync(this.path, `${JSON.stringify(alert)}\n`, { mode: 0o600 });
    return Promise.resolve();
  }
}
