/**
 * Costs of the coordinator's durable state: audit append with and without fdatasync (the ratio is
 * the price of "an acknowledged entry survives power loss"), audit verification throughput, a
 * round commit with a 1 MiB model (blob fsync + SQLite WAL synchronous=FULL) against a plain
 * unsynced file write of the same bytes, and PKI issue / peer verification.
 *
 * Options: --quick (fewer repetitions).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditLog } from '../src/audit/audit-log.js';
import { verifyAuditLog } from '../src/audit/verify-audit-log.js';
import { initPki, issueParticipant } from '../src/pki/certificate-authority.js';
import { loadPki } from '../src/pki/load-pki.js';
import { verifyPeerCertificate } from '../src/pki/verify-peer.js';
import { CoordinatorStore } from '../src/store/coordinator-store.js';

async function timeIt(reps: number, f: (i: number) => unknown): Promise<number> {
  await f(-1); // warm up
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) await f(i);
  return (performance.now() - t0) / reps;
}

export async function run(args: string[]): Promise<void> {
  const quick = args.includes('--quick');
  const dir = mkdtempSync(join(tmpdir(), 'fedsec-bench-durability-'));
  try {
    const entries = quick ? 200 : 1000;
    const details = { round: 1, aggregator: 'trimmed-mean', accepted: ['alice', 'bob', 'carol'], rejected: [{ participant: 'mallory', reason: 'norm 12.5 > bound 5' }] };
    const appendWith = async (sync: boolean, name: string) => {
      const log = AuditLog.open(join(dir, name), { sync });
      const ms = await timeIt(entries, () => log.append('aggregation.decision', 'coordinator', details));
      log.close();
      return ms;
    };
    const unsynced = await appendWith(false, 'nosync.jsonl');
    const synced = await appendWith(true, 'sync.jsonl');
    const verifyMs = await timeIt(3, () => verifyAuditLog(join(dir, 'nosync.jsonl')));

    console.log('| operation | µs or ms | ratio |');
    console.log('|---|---|---|');
    console.log(`| audit append, no fsync | ${(unsynced * 1000).toFixed(1)} µs/entry | 1.00 |`);
    console.log(`| audit append + fdatasync | ${(synced * 1000).toFixed(1)} µs/entry | ${(synced / unsynced).toFixed(1)} × no fsync |`);
    console.log(`| verifyAuditLog (${entries + 1} entries) | ${((verifyMs * 1000) / (entries + 1)).toFixed(1)} µs/entry | |`);

    const model = randomBytes(1 << 20);
    const plain = await timeIt(quick ? 5 : 20, (i) => writeFileSync(join(dir, `plain-${i}.bin`), model));
    const store = CoordinatorStore.open(join(dir, 'store'));
    let round = 0;
    const commit = await timeIt(quick ? 5 : 20, () => {
      round++;
      model[0] = round & 0xff; // a new blob each round
      model[1] = round >> 8;
      store.beginRound(round, ['alice', 'bob', 'carol']);
      store.commitRound({ round, model, metrics: { loss: 0.5 }, participantMetrics: [{ participant: 'alice', name: 'train_loss', value: 0.4 }] });
    });
    const read = await timeIt(quick ? 5 : 20, () => store.readModel(store.latestModel('any') ?? 0));
    store.close();
    console.log(`| plain writeFileSync 1 MiB (no fsync) | ${plain.toFixed(2)} ms | 1.00 |`);
    console.log(`| beginRound + commitRound, 1 MiB model | ${commit.toFixed(2)} ms | ${(commit / plain).toFixed(1)} × plain write |`);
    console.log(`| readModel 1 MiB (SHA-256 verified) | ${read.toFixed(2)} ms | |`);

    const pkiDir = join(dir, 'pki');
    await initPki({ dir: pkiDir });
    const issue = await timeIt(quick ? 5 : 20, (i) => issueParticipant({ dir: pkiDir, name: `p${i + 1}` }));
    const pki = await loadPki(pkiDir);
    const cert = readFileSync(join(pkiDir, 'participants', 'p1.crt'), 'utf8');
    const verify = await timeIt(quick ? 20 : 200, () => verifyPeerCertificate(cert, { ca: pki.ca, crl: pki.crl }));
    console.log(`| pki issue participant (P-256 keygen + sign + files) | ${issue.toFixed(2)} ms | |`);
    console.log(`| verifyPeerCertificate (chain + CRL + role) | ${verify.toFixed(2)} ms | |`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
