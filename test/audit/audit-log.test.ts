import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync, appendFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GENESIS_HASH, hashEntry, type AuditEntry } from '../../src/audit/audit-entry.js';
import { AuditLog, MAX_ENTRY_BYTES } from '../../src/audit/audit-log.js';
import { canonicalJson } from '../../src/audit/canonical-json.js';
import { verifyAuditLog } from '../../src/audit/verify-audit-log.js';

let root: string;
let n = 0;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'fedsec-audit-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));
const freshPath = () => join(root, `log-${++n}.jsonl`);

/** A log with `count` entries of mixed types. */
function writeLog(count: number, path = freshPath()): string {
  const log = AuditLog.open(path, { sync: false });
  for (let i = 1; i <= count; i++) {
    if (i % 3 === 0) log.append('aggregation.decision', 'coordinator', { round: i, aggregator: 'trimmed-mean', accepted: ['alice'], rejected: [{ participant: 'mallory', reason: 'norm 12.5 > bound 5' }] });
    else if (i % 3 === 1) log.append('participant.admitted', 'coordinator', { participant: `p${i}`, org: 'Org', serial: 'ab12', fingerprint: 'f'.repeat(64) });
    else log.append('custom.note', 'operator', { text: `note ${i}`, values: [i, i / 7] });
  }
  log.close();
  return path;
}
const lines = (p: string) => readFileSync(p, 'utf8').split('\n').slice(0, -1);
const writeLines = (p: string, ls: string[]) => writeFileSync(p, ls.map((l) => `${l}\n`).join(''));

describe('AuditLog append', () => {
  it('writes canonical, hash-chained JSON lines starting at seq 1 from the zero hash', () => {
    const path = writeLog(5);
    const entries = lines(path).map((l) => JSON.parse(l) as AuditEntry);
    expect(entries.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(entries[0]?.prevHash).toBe(GENESIS_HASH);
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i] as AuditEntry;
      const { hash, ...body } = e;
      expect(hashEntry(body)).toBe(hash);
      if (i > 0) expect(e.prevHash).toBe(entries[i - 1]?.hash);
      expect(lines(path)[i]).toBe(canonicalJson(e));
    }
    expect(verifyAuditLog(path)).toEqual({ ok: true, entries: 5, head: { seq: 5, hash: entries[4]?.hash } });
  });

  it('continues the chain after reopening', () => {
    const path = writeLog(3);
    const log = AuditLog.open(path);
    expect(log.head.seq).toBe(3);
    const e = log.append('round.committed', 'coordinator', { round: 1, modelVersion: 2, modelSha256: 'a'.repeat(64), metrics: { accuracy: 0.91 } });
    log.close();
    expect(e.seq).toBe(4);
    expect(verifyAuditLog(path)).toMatchObject({ ok: true, entries: 4 });
  });

  it('validates entries before writing anything', () => {
    const path = freshPath();
    const log = AuditLog.open(path);
    expect(() => log.append('Round Started', 'c', {})).toThrow(/type "Round Started" is invalid/);
    expect(() => log.append('round.started', '', { round: 1, participants: [] })).toThrow(/actor must be 1-128/);
    expect(() => log.append('round.started', 'c', { round: 0, participants: [] })).toThrow(/details\.round/);
    expect(() => log.append('participant.rejected', 'c', { message: 'x' } as never)).toThrow(/details\.reason/);
    expect(() => log.append('custom.metric', 'c', { loss: Number.NaN })).toThrow(/invalid details\.loss|NaN/);
    expect(() => log.append('custom.blob', 'c', { data: 'x'.repeat(MAX_ENTRY_BYTES) })).toThrow(/limit is 65536/);
    log.close();
    expect(() => log.append('custom.x', 'c', {})).toThrow(/closed/);
    expect(statSync(path).size).toBe(0);
  });
});

describe('verifyAuditLog detects tampering', () => {
  it('an edited field → hash-mismatch at that seq', () => {
    const path = writeLog(6);
    const ls = lines(path);
    ls[3] = (ls[3] as string).replace('"coordinator"', '"mallory"');
    writeLines(path, ls);
    expect(verifyAuditLog(path)).toMatchObject({ ok: false, reason: 'hash-mismatch', seq: 4, validEntries: 3 });
  });

  it('an edited entry with a recomputed hash → chain-broken at the next seq', () => {
    const path = writeLog(6);
    const ls = lines(path);
    const e = JSON.parse(ls[2] as string) as AuditEntry;
    const forged = { ...e, details: { ...e.details, rejected: [] } };
    const { hash: _h, ...body } = forged;
    ls[2] = canonicalJson({ ...forged, hash: hashEntry(body) });
    writeLines(path, ls);
    expect(verifyAuditLog(path)).toMatchObject({ ok: false, reason: 'chain-broken', seq: 4 });
  });

  it('a deleted line → seq-mismatch naming the missing entries', () => {
    const path = writeLog(6);
    const ls = lines(path);
    ls.splice(2, 1);
    writeLines(path, ls);
    const v = verifyAuditLog(path);
    expect(v).toMatchObject({ ok: false, reason: 'seq-mismatch', seq: 3 });
    if (!v.ok) expect(v.message).toMatch(/entries 3\.\.3 are missing/);
  });

  it('two swapped lines → seq-mismatch at the first', () => {
    const path = writeLog(6);
    const ls = lines(path);
    [ls[1], ls[4]] = [ls[4] as string, ls[1] as string];
    writeLines(path, ls);
    expect(verifyAuditLog(path)).toMatchObject({ ok: false, reason: 'seq-mismatch', seq: 2 });
  });

  it('a duplicated (replayed) line → seq-mismatch', () => {
    const path = writeLog(4);
    const ls = lines(path);
    ls.splice(2, 0, ls[1] as string);
    writeLines(path, ls);
    const v = verifyAuditLog(path);
    expect(v).toMatchObject({ ok: false, reason: 'seq-mismatch', seq: 3 });
    if (!v.ok) expect(v.message).toMatch(/appears again or out of order/);
  });

  it('truncation mid-line → torn-tail; truncation at a line boundary → caught only with an anchor', () => {
    const path = writeLog(6);
    const full = verifyAuditLog(path);
    if (!full.ok) throw new Error('setup');
    const anchor = full.head;
    const size = statSync(path).size;
    truncateSync(path, size - 10);
    expect(verifyAuditLog(path)).toMatchObject({ ok: false, reason: 'torn-tail', seq: 6, validEntries: 5 });
    const cut = lines(path).slice(0, 4);
    writeLines(path, cut);
    expect(verifyAuditLog(path)).toMatchObject({ ok: true, entries: 4 }); // the chain alone cannot tell
    const v = verifyAuditLog(path, { anchor });
    expect(v).toMatchObject({ ok: false, reason: 'truncated', seq: 5 });
  });

  it('a log rewritten consistently from some seq on → caught by an anchor', () => {
    const path = writeLog(4);
    const first = verifyAuditLog(path);
    if (!first.ok) throw new Error('setup');
    // Rewrite: keep entries 1-2, then forge 3-4 with a valid chain.
    writeLines(path, lines(path).slice(0, 2));
    const log = AuditLog.open(path, { sync: false });
    log.append('custom.note', 'mallory', { text: 'nothing happened' });
    log.append('custom.note', 'mallory', { text: 'nothing happened' });
    log.close();
    expect(verifyAuditLog(path).ok).toBe(true);
    expect(verifyAuditLog(path, { anchor: first.head })).toMatchObject({ ok: false, reason: 'anchor-mismatch', seq: 4 });
  });

  it('streams logs larger than its 1 MiB read chunk, including lines that straddle a chunk boundary', () => {
    const path = freshPath();
    const log = AuditLog.open(path, { sync: false });
    for (let i = 0; i < 600; i++) log.append('custom.filler', 'c', { i, padding: 'y'.repeat(2500) });
    log.close();
    expect(statSync(path).size).toBeGreaterThan(1.4 * (1 << 20));
    expect(verifyAuditLog(path)).toMatchObject({ ok: true, entries: 600 });
    const ls = lines(path);
    ls[550] = (ls[550] as string).replace('"i":550', '"i":551');
    writeLines(path, ls);
    expect(verifyAuditLog(path)).toMatchObject({ ok: false, reason: 'hash-mismatch', seq: 551, validEntries: 550 });
  });

  it('garbage lines and schema violations → malformed', () => {
    const path = writeLog(3);
    const ls = lines(path);
    writeLines(path, [...ls.slice(0, 1), 'not json', ...ls.slice(1)]);
    expect(verifyAuditLog(path)).toMatchObject({ ok: false, reason: 'malformed', seq: 2 });
    const e = JSON.parse(ls[1] as string) as Record<string, unknown>;
    writeLines(path, [ls[0] as string, JSON.stringify({ ...e, extra: 1 })]);
    expect(verifyAuditLog(path)).toMatchObject({ ok: false, reason: 'malformed', seq: 2 });
    expect(() => verifyAuditLog(join(root, 'nope.jsonl'))).toThrow(/does not exist/);
  });

  it('property: any single-line edit, deletion, swap or duplication is detected at or before its position', () => {
    const base = writeLog(12);
    const original = lines(base);
    fc.assert(
      fc.property(
        fc.oneof(
          fc.record({ op: fc.constant('edit' as const), i: fc.nat(11), at: fc.nat(400) }),
          fc.record({ op: fc.constant('delete' as const), i: fc.nat(11) }),
          fc.record({ op: fc.constant('swap' as const), i: fc.nat(11), j: fc.nat(11) }).filter((r) => r.i !== r.j),
          fc.record({ op: fc.constant('duplicate' as const), i: fc.nat(11) }),
        ),
        (t) => {
          const ls = [...original];
          let first: number;
          if (t.op === 'edit') {
            const line = ls[t.i] as string;
            const k = t.at % line.length;
            const ch = line[k] === 'a' ? 'b' : 'a';
            ls[t.i] = line.slice(0, k) + ch + line.slice(k + 1);
            first = t.i;
          } else if (t.op === 'delete') {
            ls.splice(t.i, 1);
            first = t.i;
            if (t.i === 11) return; // cutting the last entry is truncation: needs an anchor (tested above)
          } else if (t.op === 'swap') {
            [ls[t.i], ls[t.j]] = [ls[t.j] as string, ls[t.i] as string];
            first = Math.min(t.i, t.j);
          } else {
            ls.splice(t.i + 1, 0, ls[t.i] as string);
            first = t.i + 1;
          }
          const p = freshPath();
          writeLines(p, ls);
          const v = verifyAuditLog(p);
          expect(v.ok).toBe(false);
          if (!v.ok) expect(v.seq).toBe(first + 1);
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe('AuditLog crash recovery', () => {
  it('refuses to open a tampered log for appending', () => {
    const path = writeLog(4);
    const ls = lines(path);
    ls.splice(1, 1);
    writeLines(path, ls);
    expect(() => AuditLog.open(path)).toThrow(/fails verification at seq 2 \(seq-mismatch\).*fedsec audit verify/);
  });

  it('repairs a torn final line by truncation, keeps the torn bytes, and logs the repair', () => {
    const path = writeLog(3);
    const intactSize = statSync(path).size;
    const torn = '{"seq":4,"time":"2026-01-01T00:00:00.000Z","ty';
    appendFileSync(path, torn);
    const log = AuditLog.open(path);
    expect(log.repair?.droppedBytes).toBe(torn.length);
    expect(readFileSync(log.repair?.savedTo ?? '', 'utf8')).toBe(torn);
    expect(log.head.seq).toBe(4); // the audit.repaired entry
    log.append('custom.note', 'c', { text: 'after repair' });
    log.close();
    const entries = lines(path).map((l) => JSON.parse(l) as AuditEntry);
    expect(entries[3]).toMatchObject({ seq: 4, type: 'audit.repaired', details: { droppedBytes: torn.length } });
    expect(statSync(path).size).toBeGreaterThan(intactSize);
    expect(verifyAuditLog(path)).toMatchObject({ ok: true, entries: 5 });
  });

  it('survives kill -9 of a process appending in a loop: every acknowledged entry is intact', async () => {
    const path = freshPath();
    const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'fixtures', 'append-forever.ts'), path], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let acknowledged = 0;
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    await new Promise<void>((resolve, reject) => {
      let buffered = '';
      child.stdout.on('data', (d: Buffer) => {
        buffered += d.toString();
        const done = buffered.split('\n');
        buffered = done.pop() ?? '';
        for (const s of done) acknowledged = Math.max(acknowledged, Number(s));
        if (acknowledged >= 300) {
          child.kill('SIGKILL');
          resolve();
        }
      });
      child.on('exit', (code, signal) => (signal === 'SIGKILL' ? resolve() : reject(new Error(`child exited ${code}: ${stderr}`))));
    });
    await new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve(undefined) : child.on('exit', resolve)));
    const before = verifyAuditLog(path);
    // Either intact or with a torn tail, never anything else; and no acknowledged entry lost.
    if (!before.ok) expect(before.reason).toBe('torn-tail');
    expect(before.ok ? before.entries : before.validEntries).toBeGreaterThanOrEqual(acknowledged);
    const log = AuditLog.open(path);
    log.close();
    expect(verifyAuditLog(path).ok).toBe(true);
    expect(existsSync(path)).toBe(true);
  });
});
