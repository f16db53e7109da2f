/**
 * Structured logs for `fedsec serve` and `fedsec join`: one JSON object per line on stderr
 * (`time`, `level`, `event`, then the event's fields), so log shippers need no parser.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface Logger {
  log(level: LogLevel, event: string, fields?: Record<string, unknown>): void;
  info(event: string, fields?: Record<string, unknown>): void;
  warn(event: string, fields?: Record<string, unknown>): void;
  error(event: string, fields?: Record<string, unknown>): void;
}

/** JSON.stringify replacer: errors as their message, typed arrays and buffers by size only. */
function replacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) return value.message;
  if (ArrayBuffer.isView(value)) return `<${value.byteLength} bytes>`;
  if (typeof value === 'bigint') return value.toString();
  return value;
}

export function jsonLogger(write: (line: string) => void = (line) => void process.stderr.write(line), clock: () => Date = () => new Date()): Logger {
  const log = (level: LogLevel, event: string, fields: Record<string, unknown> = {}): void => {
    const entry: Record<string, unknown> = { time: clock().toISOString(), level, event };
    for (const [k, v] of Object.entries(fields)) if (v !== undefined && !(k in entry)) entry[k] = v;
    write(`${JSON.stringify(entry, replacer)}\n`);
  };
  return {
    log,
    info: (e, f) => log('info', e, f),
    warn: (e, f) => log('warn', e, f),
    error: (e, f) => log('error', e, f),
  };
}
