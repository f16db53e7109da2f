/**
 * Verifies a hash-chained audit log line by line, streaming (constant memory in the log size).
 *
 * What the chain detects on its own: an edited entry (its hash no longer matches), a deleted,
 * duplicated or reordered entry (seq / prevHash break), a torn final line (crash mid-append).
 * What it cannot detect alone: whole entries cut off the end, or a log rewritten from some point
 * on by someone who recomputes every hash. Pass an `anchor` (a head recorded elsewhere, e.g. by
 * the coordinator store at each committed round) to catch the first; the second needs keyed
 * checkpoints, which fedsec does not implement yet.
 */
import { closeSync, existsSync, openSync, readSync } from 'node:fs';
import { fail } from '../core/errors.js';
import { GENESIS_HASH, auditEntrySchema, detailsIssue, hashEntry, type AuditEntry, type AuditHead } from './audit-entry.js';

export type AuditFailureReason =
  | 'malformed'
  | 'hash-mismatch'
  | 'seq-mismatch'
  | 'chain-broken'
  | 'torn-tail'
  | 'truncated'
  | 'anchor-mismatch';

export interface AuditProblem {
  readonly reason: AuditFailureReason;
  /** The seq the first bad position should have held. */
  readonly seq: number;
  /** 1-based line number in the file. */
  readonly line: number;
  readonly message: string;
}

export interface AuditScan {
  /** The last entry that verified ({seq: 0, hash: GENESIS_HASH} if none). */
  readonly head: AuditHead;
  readonly validEntries: number;
  /** Byte length of the verified prefix of the file. */
  readonly validBytes: number;
  readonly problem: AuditProblem | undefined;
}

export type AuditVerification =
  | { readonly ok: true; readonly entries: number; readonly head: AuditHead }
  | ({ readonly ok: false; readonly validEntries: number; readonly head: AuditHead } & AuditProblem);

const CHUNK = 1 << 20;
const NEWLINE = 0x0a;

/** Walks the file, checking each line against the chain; stops at the first problem. */
export function scanAuditLog(path: string, onEntry?: (entry: AuditEntry) => void): AuditScan {
  let head: AuditHead = { seq: 0, hash: GENESIS_HASH };
  let validBytes = 0;
  let problem: AuditProblem | undefined;
  const fd = openSync(path, 'r');
  try {
    let pending: Buffer[] = [];
    let pendingLen = 0;
    let offset = 0;
    const buf = Buffer.allocUnsafe(CHUNK);
    for (;;) {
      const n = readSync(fd, buf, 0, CHUNK, offset);
      if (n === 0) break;
      offset += n;
      let start = 0;
      for (let i = 0; i < n && problem === undefined; i++) {
        if (buf[i] !== NEWLINE) continue;
        const piece = buf.subarray(start, i);
        const line = pendingLen === 0 ? piece : Buffer.concat([...pending, piece]);
        pending = [];
        pendingLen = 0;
        start = i + 1;
        const checked = checkLine(line.toString('utf8'), head);
        if ('reason' in checked) {
          problem = { ...checked, seq: head.seq + 1, line: head.seq + 1 };
          break;
        }
        onEntry?.(checked);
        head = { seq: checked.seq, hash: checked.hash };
        validBytes += line.length + 1;
      }
      if (problem !== undefined) break;
      if (start < n) {
        pending.push(Buffer.from(buf.subarray(start, n)));
        pendingLen += n - start;
      }
    }
    if (problem === undefined && pendingLen > 0) {
      problem = {
        reason: 'torn-tail',
        seq: head.seq + 1,
        line: head.seq + 1,
        message: `the last ${pendingLen} bytes are an unterminated line (a crash during append); opening the log for writing truncates them`,
      };
    }
  } finally {
    closeSync(fd);
  }
  return { head, validEntries: head.seq, validBytes, problem };
}

type LineProblem = Pick<AuditProblem, 'reason' | 'message'>;
const bad = (reason: AuditFailureReason, message: string): LineProblem => ({ reason, message });

function checkLine(text: string, prev: AuditHead): AuditEntry | LineProblem {
  const expected = prev.seq + 1;
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return bad('malformed', `line ${expected} is not JSON`);
  }
  const parsed = auditEntrySchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return bad('malformed', `line ${expected} is not an audit entry (${issue?.path.join('.') || 'entry'}: ${issue?.message ?? 'invalid'})`);
  }
  const entry = parsed.data;
  if (hashEntry(entry) !== entry.hash) return bad('hash-mismatch', `entry at line ${expected} (seq ${entry.seq}) was modified after it was written`);
  if (entry.seq !== expected) {
    const what = entry.seq > expected ? `entries ${expected}..${entry.seq - 1} are missing (deleted)` : `seq ${entry.seq} appears again or out of order`;
    return bad('seq-mismatch', `expected seq ${expected} at line ${expected}, found ${entry.seq}: ${what}`);
  }
  if (entry.prevHash !== prev.hash) return bad('chain-broken', `seq ${expected} does not follow seq ${prev.seq} (prevHash differs): an entry before it was replaced or rewritten`);
  const issue = detailsIssue(entry.type, entry.details);
  if (issue !== undefined) return bad('malformed', `seq ${expected} (${entry.type}) has invalid ${issue}`);
  return entry;
}

export interface VerifyAuditOptions {
  /** A head recorded elsewhere; the log must contain exactly this entry. */
  readonly anchor?: AuditHead;
}

export function verifyAuditLog(path: string, options: VerifyAuditOptions = {}): AuditVerification {
  if (!existsSync(path)) fail('io', `audit log ${path} does not exist`, 'check --log');
  let anchored: AuditEntry | undefined;
  const anchorSeq = options.anchor?.seq;
  const scan = scanAuditLog(path, (e) => {
    if (e.seq === anchorSeq) anchored = e;
  });
  const base = { validEntries: scan.validEntries, head: scan.head };
  if (scan.problem) return { ok: false, ...base, ...scan.problem };
  const anchor = options.anchor;
  if (anchor !== undefined && anchor.seq > 0) {
    if (anchored === undefined) {
      const seq = scan.head.seq + 1;
      return { ok: false, ...base, reason: 'truncated', seq, line: seq, message: `the log ends at seq ${scan.head.seq} but seq ${anchor.seq} was recorded as written: entries were cut off the end` };
    }
    if (anchored.hash !== anchor.hash) {
      return { ok: false, ...base, reason: 'anchor-mismatch', seq: anchor.seq, line: anchor.seq, message: `seq ${anchor.seq} has hash ${anchored.hash.slice(0, 16)}…, but ${anchor.hash.slice(0, 16)}… was recorded: the log was rewritten` };
    }
  }
  return { ok: true, entries: scan.validEntries, head: scan.head };
}
