import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../src/store/blob-store.js';
import { CoordinatorStore } from '../../src/store/coordinator-store.js';

let root: string;
let n = 0;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'fedsec-store-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));
const freshDir = () => join(root, `store-${++n}`);
const bytes = (s: string) => new Uint8Array(Buffer.from(s));

describe('CoordinatorStore', () => {
  it('round-trips participants, rounds, models and metrics across reopen', () => {
    const dir = freshDir();
    const s = CoordinatorStore.open(dir);
    expect(s.lastCommittedRound()).toBe(0);
    expect(s.latestModel()).toBeUndefined();
    s.upsertParticipant({ name: 'alice', org: 'Hospital A', serial: '01ab', fingerprint: 'f'.repeat(64) });
    s.upsertParticipant({ name: 'bob', serial: '02cd', fingerprint: 'e'.repeat(64), status: 'active' });
    s.setParticipantStatus('alice', 'active');
    const init = s.putInitialModel(bytes('initial model'), { accuracy: 0.1 });
    expect(init).toMatchObject({ version: 1, round: 0, status: 'promoted', sha256: sha256Hex(bytes('initial model')) });

    s.beginRound(1, ['alice', 'bob']);
    const c1 = s.commitRound({
      round: 1,
      model: bytes('model after round 1'),
      metrics: { loss: 0.7, accuracy: 0.6 },
      modelMetrics: { accuracy: 0.6 },
      participantMetrics: [{ participant: 'alice', name: 'train_loss', value: 0.8 }, { participant: 'bob', name: 'train_loss', value: 0.9 }],
      timings: { collect: 120, aggregate: 3.5 },
      auditHead: { seq: 7, hash: 'c'.repeat(64) },
    });
    expect(c1.round).toMatchObject({ round: 1, status: 'committed', participants: ['alice', 'bob'], modelVersion: 2, metrics: { loss: 0.7, accuracy: 0.6 }, timings: { collect: 120, aggregate: 3.5 }, audit: { seq: 7, hash: 'c'.repeat(64) } });
    expect(c1.model).toMatchObject({ version: 2, round: 1, status: 'candidate', bytes: 19, metrics: { accuracy: 0.6 } });
    expect(s.latestModel()?.version).toBe(1); // candidate not yet promoted
    expect(s.latestModel('candidate')?.version).toBe(2);
    s.setModelStatus(2, 'promoted');
    s.recordMetric({ name: 'epsilon', value: 1.25, round: 1 });
    s.close();

    const again = CoordinatorStore.open(dir);
    expect(again.lastCommittedRound()).toBe(1);
    expect(again.latestModel()).toMatchObject({ version: 2, status: 'promoted' });
    expect(Buffer.from(again.readModel(2)).toString()).toBe('model after round 1');
    expect(again.participants().map((p) => [p.name, p.org, p.status])).toEqual([['alice', 'Hospital A', 'active'], ['bob', undefined, 'active']]);
    expect(again.metrics({ round: 1, name: 'train_loss' }).map((m) => [m.participant, m.value])).toEqual([['alice', 0.8], ['bob', 0.9]]);
    expect(again.metrics({ name: 'epsilon' })).toHaveLength(1);
    expect(again.auditAnchor()).toEqual({ seq: 7, hash: 'c'.repeat(64) });
    const rejected = again.setModelStatus(2, 'rejected', 'accuracy dropped 12 points on the holdout set');
    expect(rejected.statusReason).toMatch(/accuracy dropped/);
    expect(again.latestModel()?.version).toBe(1);
    again.close();

    // WAL mode is a property of the database file.
    const raw = new Database(join(dir, 'coordinator.db'), { readonly: true });
    expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    raw.close();
  });

  it('enforces the round lifecycle with actionable errors', () => {
    const s = CoordinatorStore.open(freshDir());
    expect(() => s.commitRound({ round: 1, model: bytes('m') })).toThrow(/round 1 is not started.*beginRound\(1\)/);
    s.beginRound(1);
    expect(() => s.beginRound(2)).toThrow(/round 1 is still in progress.*commit or abort round 1/);
    expect(() => s.commitRound({ round: 1, model: bytes('m'), metrics: { loss: Number.NaN } })).toThrow(/round metrics "loss" is NaN/);
    expect(() => s.commitRound({ round: 1, model: bytes('m'), participantMetrics: [{ participant: 'a', name: 'l', value: Infinity }] })).toThrow(/metric of a "l" is Infinity/);
    expect(s.interruptedRound()?.round).toBe(1);
    s.abortRound(1, 'too few participants (2 < 3)');
    expect(s.round(1)).toMatchObject({ status: 'aborted', abortReason: 'too few participants (2 < 3)' });
    expect(() => s.abortRound(1, 'again')).toThrow(/not in progress/);
    s.beginRound(1); // retry of an aborted round
    s.commitRound({ round: 1, model: bytes('m1') });
    expect(() => s.beginRound(1)).toThrow(/round 1 is already committed.*start round 2/);
    expect(() => s.beginRound(0)).toThrow(/positive integer/);
    expect(() => s.commitRound({ round: 1, model: bytes('m1') })).toThrow(/round 1 is committed/);
    expect(() => s.putInitialModel(bytes('late'))).toThrow(/already has a model/);
    expect(() => s.setParticipantStatus('nobody', 'active')).toThrow(/not enrolled/);
    expect(() => s.readModel(99)).toThrow(/does not exist/);
    s.close();
  });

  it('detects a corrupted or missing model blob on read', () => {
    const dir = freshDir();
    const s = CoordinatorStore.open(dir);
    s.beginRound(1);
    const { model } = s.commitRound({ round: 1, model: bytes('precious weights') });
    const path = s.blobs.pathOf(model.sha256);
    const corrupted = Buffer.from(readFileSync(path));
    corrupted[3] = (corrupted[3] ?? 0) ^ 0x01;
    writeFileSync(path, corrupted);
    expect(() => s.readModel(model)).toThrow(/blob [0-9a-f]{64} is corrupted: its content hashes to/);
    // storing the same content again heals the blob
    s.blobs.put(bytes('precious weights'));
    expect(Buffer.from(s.readModel(model)).toString()).toBe('precious weights');
    unlinkSync(path);
    expect(() => s.readModel(model)).toThrow(/is missing/);
    s.close();
  });

  it('reports rows that fail validation instead of trusting them', () => {
    const dir = freshDir();
    const s = CoordinatorStore.open(dir);
    s.beginRound(1);
    s.commitRound({ round: 1, model: bytes('m') });
    const raw = new Database(join(dir, 'coordinator.db'));
    raw.prepare("UPDATE rounds SET metrics_json = '{\"loss\": \"high\"}' WHERE round = 1").run();
    raw.close();
    expect(() => s.round(1)).toThrow(/corrupt round row .*metrics_json/);
    s.close();
  });

  it('refuses stores it cannot understand', () => {
    expect(() => CoordinatorStore.open(freshDir(), { readonly: true })).toThrow(/no coordinator store/);
    const dir = freshDir();
    CoordinatorStore.open(dir).close();
    const raw = new Database(join(dir, 'coordinator.db'));
    raw.pragma('user_version = 99');
    raw.close();
    expect(() => CoordinatorStore.open(dir)).toThrow(/newer fedsec \(schema 99/);
  });
});

/** Runs the crash child until it prints `until(line)`, then SIGKILLs it. Returns the lines it printed. */
async function runAndKill(mode: 'partial' | 'loop', dir: string, until: (line: string) => boolean): Promise<string[]> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'fixtures', 'crash-child.ts'), mode, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  const seen: string[] = [];
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  await new Promise<void>((resolve, reject) => {
    let buffered = '';
    child.stdout.on('data', (d: Buffer) => {
      buffered += d.toString();
      const done = buffered.split('\n');
      buffered = done.pop() ?? '';
      seen.push(...done);
      if (done.some(until)) child.kill('SIGKILL');
    });
    child.on('exit', (code, signal) => (signal === 'SIGKILL' ? resolve() : reject(new Error(`child exited ${code}: ${stderr}`))));
  });
  return seen;
}

describe('CoordinatorStore after kill -9', () => {
  it('an uncommitted round-commit transaction vanishes; the last committed round is intact', async () => {
    const dir = freshDir();
    const seen = await runAndKill('partial', dir, (l) => l === 'in-transaction');
    expect(seen).toEqual(['1', '2', 'in-transaction']);
    const s = CoordinatorStore.open(dir);
    expect(s.lastCommittedRound()).toBe(2);
    expect(s.round(3)).toMatchObject({ status: 'started', modelVersion: undefined });
    expect(s.interruptedRound()?.round).toBe(3);
    expect(s.metrics({ round: 3 })).toEqual([]);
    const latest = s.latestModel('any');
    expect(latest).toMatchObject({ round: 2, version: 2 });
    expect(Buffer.from(s.readModel(latest ?? 0).subarray(0, 8)).toString()).toBe('round 2\n');
    // the engine can resume: abort the interrupted attempt and run round 3 again
    s.abortRound(3, 'coordinator restarted');
    s.beginRound(3);
    s.commitRound({ round: 3, model: bytes('m3') });
    expect(s.lastCommittedRound()).toBe(3);
    s.close();
  });

  it('killed at an arbitrary point while committing rounds in a loop: every acknowledged round is complete', async () => {
    const dir = freshDir();
    const seen = await runAndKill('loop', dir, (l) => Number(l) >= 6);
    const acknowledged = Math.max(...seen.map(Number));
    const s = CoordinatorStore.open(dir);
    const last = s.lastCommittedRound();
    expect(last).toBeGreaterThanOrEqual(acknowledged);
    for (let r = 1; r <= last; r++) {
      const round = s.round(r);
      expect(round?.status).toBe('committed');
      const model = s.modelVersion(round?.modelVersion ?? 0);
      expect(model?.round).toBe(r);
      expect(Buffer.from(s.readModel(model ?? 0).subarray(0, `round ${r}\n`.length)).toString()).toBe(`round ${r}\n`);
      expect(s.metrics({ round: r })).toHaveLength(3);
    }
    const next = s.round(last + 1);
    if (next) expect(next).toMatchObject({ status: 'started', modelVersion: undefined });
    expect(s.metrics({ round: last + 1 })).toEqual([]);
    s.close();
  });
});
