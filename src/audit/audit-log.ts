/**
 * Append-only, hash-chained audit log in JSON lines (one writer per file).
 *
 * Durability: each entry is one write() of "<canonical json>\n" on an O_APPEND descriptor followed
 * by fdatasync before append() returns, so a returned entry survives kill -9 and power loss.
 * A crash mid-write can only leave an unterminated last line (the newline is the last byte
 * written). open() verifies the whole chain; if the only problem is such a torn tail it moves the
 * torn bytes to "<log>.torn-<seq>", truncates the log to the last complete entry, and appends an
 * "audit.repaired" entry saying so. Any other problem (edits, deletions, reordering) makes open()
 * refuse: appending to a tampered log would bury the evidence.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fdatasyncSync, ftruncateSync, openSync, readSync, statSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { fail } from '../core/errors.js';
import { fsyncDir, writeFileAtomic } from '../store/atomic-file.js';
import { auditTypeSchema, detailsIssue, hashEntry, type AuditDetails, type AuditEntry, type AuditHead } from './audit-entry.js';
import { canonicalJson } from './canonical-json.js';
import { scanAuditLog } from './verify-audit-log.js';

/** Entries are small records, not payloads; this bounds a runaway details object. */
export const MAX_ENTRY_BYTES = 64 * 1024;

export interface AuditLogOptions {
  /** fdatasync after every append (default true). Off only for throwaway logs in tests. */
  readonly sync?: boolean;
  /** Clock for entry times (default: now). */
  readonly clock?: () => Date;
}

export interface TornTailRepair {
  readonly droppedBytes: number;
  readonly droppedSha256: string;
  readonly savedTo: string;
}

export class AuditLog {
  readonly path: string;
  /** Set when open() found and removed a torn final line. */
  readonly repair: TornTailRepair | undefined;
  private fd: number | undefined;
  private last: AuditHead;
  private readonly sync: boolean;
  private readonly clock: () => Date;

  private constructor(path: string, fd: number, head: AuditHead, repair: TornTailRepair | undefined, options: AuditLogOptions) {
    this.path = path;
    this.fd = fd;
    this.last = head;
    this.repair = repair;
    this.sync = options.sync ?? true;
    this.clock = options.clock ?? (() => new Date());
  }

  /** Opens (or creates) a log, verifying it end to end first. */
  static open(path: string, options: AuditLogOptions = {}): AuditLog {
    const created = !existsSync(path);
    const fd = openSync(path, 'a+', 0o640);
    let log: AuditLog;
    try {
      if (created) fsyncDir(dirname(path));
      const scan = scanAuditLog(path);
      let repair: TornTailRepair | undefined;
      if (scan.problem?.reason === 'torn-tail') {
        repair = cutTornTail(fd, path, scan.validBytes, scan.head.seq + 1);
      } else if (scan.problem) {
        fail('io', `audit log ${path} fails verification at seq ${scan.problem.seq} (${scan.problem.reason}): ${scan.problem.message}`, `inspect it with \`fedsec audit verify --log ${path}\`; do not append to a tampered log`);
      }
      log = new AuditLog(path, fd, scan.head, repair, options);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
    if (log.repair) log.append('audit.repaired', 'fedsec', { ...log.repair });
    return log;
  }

  /** The last entry written ({seq: 0, hash: zeros} for an empty log); record it elsewhere as an anchor. */
  get head(): AuditHead {
    return this.last;
  }

  append<T extends string>(type: T, actor: string, details: AuditDetails<T>): AuditEntry {
    if (this.fd === undefined) fail('precondition', `audit log ${this.path} is closed`);
    const typeCheck = auditTypeSchema.safeParse(type);
    if (!typeCheck.success) fail('data', `audit entry type "${type}" is invalid: ${typeCheck.error.issues[0]?.message ?? ''}`);
    if (actor.length === 0 || actor.length > 128) fail('data', `audit actor must be 1-128 characters, got ${actor.length}`);
    const issue = detailsIssue(type, details);
    if (issue !== undefined) fail('data', `audit entry "${type}" has invalid ${issue}`);

    const body = {
      seq: this.last.seq + 1,
      time: this.clock().toISOString(),
      type,
      actor,
      // Round-trip through canonical JSON so what we hash is exactly what a reader will parse.
      details: JSON.parse(canonicalJson(details)) as AuditEntry['details'],
      prevHash: this.last.hash,
    };
    const entry: AuditEntry = { ...body, hash: hashEntry(body) };
    const line = Buffer.from(`${canonicalJson(entry)}\n`, 'utf8');
    if (line.length > MAX_ENTRY_BYTES) fail('data', `audit entry "${type}" is ${line.length} bytes; the limit is ${MAX_ENTRY_BYTES}`, 'record a digest or a file reference instead of the payload');

    // One write call per entry: with O_APPEND the line lands contiguously at the end.
    let off = 0;
    while (off < line.length) off += writeSync(this.fd, line, off, line.length - off);
    if (this.sync) fdatasyncSync(this.fd);
    this.last = { seq: entry.seq, hash: entry.hash };
    return entry;
  }

  close(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
  }
}

function cutTornTail(fd: number, path: string, validBytes: number, seq: number): TornTailRepair {
  const size = statSync(path).size;
  const torn = Buffer.alloc(size - validBytes);
  readSync(fd, torn, 0, torn.length, validBytes);
  // Keep the torn bytes beside the log before cutting them: nothing is destroyed silently.
  const savedTo = `${path}.torn-${seq}-${Date.now()}`;
  writeFileAtomic(savedTo, torn, { mode: 0o640 });
  ftruncateSync(fd, validBytes);
  fdatasyncSync(fd);
  return { droppedBytes: torn.length, droppedSha256: createHash('sha256').update(torn).digest('hex'), savedTo };
}
