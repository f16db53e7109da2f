import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { AuditLog } from '../../src/audit/audit-log.js';
import { register } from '../../src/cli/commands/audit.js';
import { CoordinatorStore } from '../../src/store/coordinator-store.js';

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'fedsec-audit-cli-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));
afterEach(() => {
  process.exitCode = undefined;
  vi.restoreAllMocks();
});

async function run(...args: string[]): Promise<{ exitCode: number; stdout: string }> {
  let stdout = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout += chunk.toString();
    return true;
  });
  const program = new Command('fedsec').exitOverride();
  register(program);
  await program.parseAsync(['node', 'fedsec', ...args]);
  const exitCode = Number(process.exitCode ?? 0);
  vi.restoreAllMocks();
  return { exitCode, stdout };
}

function makeLog(name: string, count: number): string {
  const path = join(root, name);
  const log = AuditLog.open(path, { sync: false });
  for (let r = 1; r <= count; r++) log.append('round.started', 'coordinator', { round: r, participants: ['alice', 'bob'] });
  log.close();
  return path;
}

describe('fedsec audit verify', () => {
  it('exits 0 on an intact log and 1 with the first bad seq on a tampered one', async () => {
    const path = makeLog('a.jsonl', 5);
    const ok = await run('audit', 'verify', '--log', path);
    expect(ok.exitCode).toBe(0);
    expect(ok.stdout).toMatch(/^audit log intact: 5 entries, head seq 5 [0-9a-f]{64}/);

    const lines = readFileSync(path, 'utf8').split('\n');
    lines[2] = (lines[2] as string).replace('"bob"', '"eve"');
    writeFileSync(path, lines.join('\n'));
    const bad = await run('audit', 'verify', '--log', path);
    expect(bad.exitCode).toBe(1);
    expect(bad.stdout).toMatch(/FAILED at seq 3 \(line 3\): hash-mismatch/);

    const json = await run('audit', 'verify', '--log', path, '--json');
    expect(json.exitCode).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, reason: 'hash-mismatch', seq: 3, validEntries: 2 });
  });

  it('uses the head recorded in the coordinator store to detect a log cut short', async () => {
    const path = makeLog('b.jsonl', 4);
    const log = AuditLog.open(path);
    const storeDir = join(root, 'store');
    const store = CoordinatorStore.open(storeDir);
    store.beginRound(1);
    store.commitRound({ round: 1, model: new Uint8Array([1, 2, 3]), auditHead: log.head });
    store.close();
    log.close();
    expect((await run('audit', 'verify', '--log', path, '--store', storeDir)).exitCode).toBe(0);

    const lines = readFileSync(path, 'utf8').split('\n');
    writeFileSync(path, `${lines.slice(0, 3).join('\n')}\n`);
    expect((await run('audit', 'verify', '--log', path)).exitCode).toBe(0); // the chain alone cannot tell
    const cut = await run('audit', 'verify', '--log', path, '--store', storeDir);
    expect(cut.exitCode).toBe(1);
    expect(cut.stdout).toMatch(/FAILED at seq 4 .*truncated: the log ends at seq 3 but seq 4 was recorded/);
    const anchored = await run('audit', 'verify', '--log', path, '--anchor', `4:${'0'.repeat(64)}`, '--json');
    expect(JSON.parse(anchored.stdout)).toMatchObject({ ok: false, reason: 'truncated' });
  });

  it('rejects unusable arguments with a message', async () => {
    const path = makeLog('c.jsonl', 1);
    await expect(run('audit', 'verify', '--log', path, '--anchor', '12:xyz')).rejects.toThrow(/--anchor must be SEQ:SHA256HEX/);
    await expect(run('audit', 'verify', '--log', join(root, 'missing.jsonl'))).rejects.toThrow(/does not exist/);
    await expect(run('audit', 'verify', '--log', path, '--store', join(root, 'no-store'))).rejects.toThrow(/no coordinator store/);
  });
});
