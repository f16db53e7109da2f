/**
 * Network transport cost: one train round trip (global model down, update up) per participant
 * over the real mTLS 1.3 gRPC transport on 127.0.0.1, against the in-process transport as the
 * baseline (same stub participants that return their input, so only moving bytes is measured).
 * Reports ms per round, protobuf bytes on the wire per round, and effective MB/s
 * (2 · n · d · 4 bytes / time). Also: the per-message cost of signing + verifying a 1 MiB chunk.
 *
 * Options: --quick (d ∈ {10⁴, 10⁵}), --rounds=<k> per cell (default 5, quick 3).
 * Cells: n ∈ {1, 5} participants × d ∈ {10⁴, 10⁵, 10⁶, 4·10⁶} parameters.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeLayout } from '../src/core/params.js';
import { FileTlsSource } from '../src/deploy/coordinator-tls.js';
import type { ParticipantHandler, TrainRequest } from '../src/federation/protocol.js';
import { initPki, issueCoordinator, issueParticipant } from '../src/pki/certificate-authority.js';
import { InProcessTransport } from '../src/transport/in-process.js';
import { signMessage, verifyMessage } from '../src/transport/network/message-signature.js';
import { NetworkTransport } from '../src/transport/network/network-transport.js';
import { runParticipantSession, type SessionOutcome } from '../src/transport/network/participant-agent.js';
import type { ParticipantTransport } from '../src/transport/types.js';
import { loadCredentials } from '../src/deploy/participant-client.js';

function option(args: string[], key: string): string | undefined {
  return args.find((a) => a.startsWith(`--${key}=`))?.slice(key.length + 3);
}

const echo = (id: string): ParticipantHandler => ({
  id,
  handle: async (_kind, req) => ({ participantId: id, round: (req as TrainRequest).round, delta: (req as TrainRequest).params, numSamples: 1, metrics: { loss: 0, trainMs: 0 } }),
});

async function roundMs(transport: ParticipantTransport, ids: readonly string[], d: number, rounds: number): Promise<number> {
  const training = { epochs: 1, batchSize: 1, learningRate: 0.1, optimizer: 'sgd' as const };
  const one = async (round: number): Promise<void> => {
    const req: TrainRequest = { round, params: new Float32Array(d).fill(round / 10), training, seed: 'b' };
    await Promise.all(ids.map((id) => transport.request(id, 'train', req, { timeoutMs: 120_000 })));
  };
  await one(1); // warm-up
  const t0 = performance.now();
  for (let r = 2; r <= rounds + 1; r++) await one(r);
  return (performance.now() - t0) / rounds;
}

export async function run(args: string[]): Promise<void> {
  const quick = args.includes('--quick');
  const rounds = Number(option(args, 'rounds') ?? (quick ? 3 : 5));
  const dims = quick ? [1e4, 1e5] : [1e4, 1e5, 1e6, 4e6];
  console.log(`cores ${availableParallelism()}, load ${loadavg()[0]?.toFixed(1)}; ${rounds} rounds per cell; stub participants echo the model`);

  const root = mkdtempSync(join(tmpdir(), 'fedsec-bench-net-'));
  const pki = join(root, 'pki');
  const names = ['b1', 'b2', 'b3', 'b4', 'b5'];
  await initPki({ dir: pki, federation: 'bench' });
  await issueCoordinator({ dir: pki, hosts: ['localhost'] });
  for (const [i, name] of names.entries()) await issueParticipant({ dir: pki, name, org: `Org ${i}` });
  const tls = await FileTlsSource.load({ ca: join(pki, 'ca.crt'), crl: join(pki, 'crl.pem'), cert: join(pki, 'coordinator.crt'), key: join(pki, 'coordinator.key') });

  console.log('\n| participants | parameters | in-process ms | mTLS gRPC ms | ratio | wire bytes / round | MB/s |');
  console.log('|---:|---:|---:|---:|---:|---:|---:|');
  try {
    for (const n of [1, 5]) {
      for (const d of dims) {
        const layout = makeLayout([{ name: 'w', shape: [d] }]);
        const ids = names.slice(0, n);
        const baseline = await roundMs(new InProcessTransport(ids.map(echo)), ids, d, rounds);
        let wire = 0;
        const transport = await NetworkTransport.listen({
          host: '127.0.0.1', port: 0, tls,
          admission: { decide: () => ({ ok: true }) },
          model: { specJson: '{"kind":"logreg"}', featureShape: [d], numClasses: 2, layout },
          limits: { chunkBytes: 1 << 20, maxMessageBytes: (1 << 20) + 65_536, maxPayloadBytes: 1 << 30, helloTimeoutMs: 10_000, heartbeatMs: 60_000, handshakeTimeoutMs: 10_000, maxConnections: 64, reconnectGraceMs: 5_000 },
          events: { bytes: (_dir, b) => void (wire += b) },
        });
        const sessions: Promise<SessionOutcome>[] = ids.map((id) => {
          const creds = loadCredentials({ ca: join(pki, 'ca.crt'), cert: join(pki, 'participants', `${id}.crt`), key: join(pki, 'participants', `${id}.key`) });
          return runParticipantSession({
            connection: { address: `127.0.0.1:${transport.port}`, serverName: 'localhost', caPem: creds.caPem, certPem: creds.certPem, keyPem: creds.keyPem, deadlineMs: 600_000, maxMessageBytes: (1 << 20) + 65_536 },
            credentials: creds,
            policy: { maxModelBytes: 1 << 30 },
            prepare: async () => ({ handler: echo(id), layout }),
          });
        });
        await transport.waitForParticipants(n, 30_000);
        const before = wire;
        const ms = await roundMs(transport, ids, d, rounds);
        const perRound = (wire - before) / (rounds + 1);
        transport.finish('bench done');
        await Promise.all(sessions);
        await transport.close();
        const mbps = (2 * n * d * 4) / 1e6 / (ms / 1000);
        console.log(`| ${n} | ${d.toExponential(0)} | ${baseline.toFixed(2)} | ${ms.toFixed(1)} | ${(ms / Math.max(baseline, 1e-3)).toFixed(0)}× | ${Math.round(perRound).toLocaleString('en')} | ${mbps.toFixed(0)} |`);
      }
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }

  // Signing cost per 1 MiB chunk (hash + ECDSA P-256 sign, then hash + verify).
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const binding = { federation: 'bench', participant: 'b1', certFingerprint: 'ab'.repeat(32), sessionId: Buffer.alloc(16), serverNonce: Buffer.alloc(32) };
  const body = { body: 'chunk' as const, chunk: { taskId: 1, index: 0, data: Buffer.alloc(1 << 20, 3) } };
  const k = quick ? 50 : 200;
  let t0 = performance.now();
  const sigs = Array.from({ length: k }, (_, i) => signMessage(binding, i + 1, body, privateKey));
  const signMs = (performance.now() - t0) / k;
  t0 = performance.now();
  for (let i = 0; i < k; i++) if (!verifyMessage(binding, i + 1, body, sigs[i]!, publicKey)) throw new Error('verify failed');
  const verifyMs = (performance.now() - t0) / k;
  console.log(`\nper 1 MiB chunk: sign ${signMs.toFixed(2)} ms, verify ${verifyMs.toFixed(2)} ms (SHA-256 of the data + ECDSA P-256)`);
}
