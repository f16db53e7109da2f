// Every way the coordinator refuses a participant or a message: the participant gets a clear
// status naming the reason, the audit log gets an entry, and the coordinator keeps serving an
// honest participant (alice) afterwards. Real mTLS on 127.0.0.1, coordinator in this process.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyAuditLog } from '../../src/audit/verify-audit-log.js';
import { tokenHash } from '../../src/deploy/admission.js';
import { CoordinatorService } from '../../src/deploy/coordinator-service.js';
import { jsonLogger } from '../../src/deploy/json-log.js';
import type { TrainReply, TrainRequest } from '../../src/federation/protocol.js';
import { LocalModel } from '../../src/model/local-model.js';
import { initPki, issueParticipant, revokeCertificate } from '../../src/pki/certificate-authority.js';
import { encodeFloat32 } from '../../src/transport/network/coordinator-session.js';
import { MessageSigner, runParticipantSession, type SessionOutcome } from '../../src/transport/network/participant-agent.js';
import { PayloadAssembler, sha256 } from '../../src/transport/network/payload-chunks.js';
import { encodeParticipantMessage, type CoordinatorMessage, type ParticipantBody } from '../../src/transport/network/wire.js';
import { coordinatorConfig, credsOf, makePki, readAudit, Script, type Creds } from './helpers.js';

const TOKEN = 'enroll-0123456789abcdef';
const DAY = 86_400_000;

let root: string;
let pki: string;
let caPem: string;
let service: CoordinatorService;
let alice: Promise<SessionOutcome>;
let dim: number;
const logs: string[] = [];
let round = 0;

const training = { epochs: 1, batchSize: 32, learningRate: 0.1, optimizer: 'sgd' as const };
const trainRequest = (r: number): TrainRequest => ({ round: r, params: new Float32Array(dim).fill(0.01), training, seed: `s${r}` });

function request(who: string, r: number): Promise<TrainReply> {
  return service.transport.request(who, 'train', trainRequest(r), { timeoutMs: 15_000 });
}

/** The honest participant still gets and answers tasks. */
async function stillServing(): Promise<void> {
  const reply = await request('alice', ++round);
  expect(reply.participantId).toBe('alice');
  expect(reply.delta.length).toBe(dim);
}

function auditEntry(type: string, reason: string): { type: string; actor: string; details: Record<string, unknown> } | undefined {
  return readAudit(join(root, 'state', 'audit.jsonl')).find((e) => e.type === type && e.details.reason === reason);
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'fedsec-reject-'));
  pki = join(root, 'pki');
  await makePki(pki, [
    { name: 'alice', org: 'Org A' },
    { name: 'alice2', org: 'Org A' },
    { name: 'mallory', org: 'Org M' },
    { name: 'nobody', org: 'Org N' },
    { name: 'revokee', org: 'Org R' },
    { name: 'noorg' },
    { name: 'enrollee', org: 'Org T1' },
    { name: 'enrollee2', org: 'Org T2' },
  ]);
  await issueParticipant({ dir: pki, name: 'oldie', org: 'Org O', now: new Date(Date.now() - 3 * DAY), days: 1 });
  const config = coordinatorConfig(root, {
    admission: { allow: ['alice', 'alice2', 'mallory', 'revokee', 'noorg', 'oldie'], tokens: [{ sha256: tokenHash(TOKEN) }], maxIdentitiesPerOrg: 1 },
    metrics: { host: '127.0.0.1', port: 0 },
    limits: { helloTimeoutMs: 1500 },
  });
  service = await CoordinatorService.start(config, jsonLogger((line) => void logs.push(line)));
  caPem = readFileSync(join(pki, 'ca.crt'), 'utf8');
  const model = await LocalModel.create({ kind: 'logreg' }, [28, 28, 1], 10, 0);
  dim = model.layout.size;
  const a = credsOf(pki, 'alice');
  alice = runParticipantSession({
    connection: { address: `127.0.0.1:${service.port}`, serverName: 'localhost', caPem, certPem: a.certPem, keyPem: a.keyPem, deadlineMs: 120_000, maxMessageBytes: 17 << 20 },
    credentials: a,
    policy: { maxModelBytes: 1 << 20 },
    prepare: async () => ({
      layout: model.layout,
      handler: {
        id: 'alice',
        handle: async (_kind, req) => {
          const r = req as TrainRequest;
          // DP fields cross the wire: the clip bound down, the within-clip bit and ε back.
          const dp = r.clipNorm === undefined ? {} : { withinClip: r.clipNorm > 1, epsilon: r.clipNorm / 4 };
          return { participantId: 'alice', round: r.round, delta: new Float32Array(dim).fill(0.001), numSamples: 10, metrics: { loss: 0.5, trainMs: 1, ...dp } };
        },
      },
    }),
  });
  await service.transport.waitForParticipants(1, 10_000);
});

afterAll(async () => {
  await service?.stop();
  await alice;
  rmSync(root, { recursive: true, force: true });
});

/** Reads one task and its payload as a participant would. */
async function receiveTask(s: Script): Promise<Extract<CoordinatorMessage, { body: 'task' }>['task']> {
  const { task } = await s.expect('task');
  const asm = new PayloadAssembler(task.payloadBytes, task.payloadSha256, 1 << 20, 'test');
  let done: Buffer | undefined;
  while (!done) {
    const { chunk } = await s.expect('chunk');
    done = asm.add(chunk.index, chunk.data);
  }
  return task;
}

function replyBodies(task: { taskId: number; round: number; stage: string }, delta: Float32Array, over: Partial<Extract<ParticipantBody, { body: 'reply' }>['reply']> = {}): ParticipantBody[] {
  const bytes = encodeFloat32(delta);
  return [
    { body: 'reply', reply: { taskId: task.taskId, round: task.round, stage: task.stage, numSamples: 10, loss: 0.4, trainMs: 2, payloadBytes: bytes.length, payloadSha256: sha256(bytes), ...over } },
    { body: 'chunk', chunk: { taskId: task.taskId, index: 0, data: bytes } },
  ];
}

async function admitted(name = 'mallory'): Promise<{ s: Script; signer: MessageSigner; creds: Creds }> {
  const creds = credsOf(pki, name);
  const s = new Script(service.port, caPem, creds);
  const signer = await s.hello(creds);
  await s.expect('welcome');
  return { s, signer, creds };
}

describe('connection refusals (certificate checked before any message is read)', () => {
  it('no client certificate', async () => {
    const s = new Script(service.port, caPem);
    const end = await s.end();
    s.close();
    expect(end.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(end.details).toMatch(/^no-client-certificate: no client certificate was presented/);
    expect(auditEntry('participant.rejected', 'no-client-certificate')).toMatchObject({ actor: 'unauthenticated' });
    await stillServing();
  });

  it('certificate from another CA (same name, foreign federation)', async () => {
    const foreign = join(root, 'foreign');
    await initPki({ dir: foreign, federation: 'evil' });
    await issueParticipant({ dir: foreign, name: 'alice', org: 'Org A' });
    const s = new Script(service.port, caPem, credsOf(foreign, 'alice'));
    const end = await s.end();
    s.close();
    expect(end.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(end.details).toMatch(/^unknown-ca: certificate .* was not issued by this federation's CA/);
    const entry = auditEntry('participant.rejected', 'unknown-ca');
    expect(entry?.details.participant).toBeUndefined(); // an unverified name is not recorded as the participant
    expect(String(entry?.details.message)).toMatch(/claims CN=alice/);
    await stillServing();
  });

  it('revoked certificate (CRL replaced on disk while the coordinator runs)', async () => {
    const creds = credsOf(pki, 'revokee');
    const connected = new Script(service.port, caPem, creds);
    await connected.hello(creds);
    await connected.expect('welcome');
    await revokeCertificate({ dir: pki, name: 'revokee', reason: 'key-compromise' });
    const s = new Script(service.port, caPem, creds);
    const end = await s.end();
    s.close();
    expect(end.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(end.details).toMatch(/^revoked: certificate [0-9a-f]+ was revoked at .*keyCompromise/);
    // The session that was already open is cut off too, once the new CRL is read.
    const cut = await connected.end();
    connected.close();
    expect(cut.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(cut.details).toMatch(/^revoked: certificate [0-9a-f]+ was revoked at .* while the participant was connected/);
    expect(auditEntry('participant.rejected', 'revoked')).toBeDefined();
    expect(service.store.participant('revokee')?.status).toBe('revoked');
    await stillServing();
  });

  it('expired certificate', async () => {
    const s = new Script(service.port, caPem, credsOf(pki, 'oldie'));
    const end = await s.end();
    s.close();
    expect(end.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(end.details).toMatch(/^expired: certificate expired at /);
    expect(auditEntry('participant.rejected', 'expired')).toBeDefined();
    await stillServing();
  });
});

describe('what crosses the wire', () => {
  it('the client-level DP clip bound goes down; the within-clip bit and ε come back', async () => {
    const reply = await service.transport.request('alice', 'train', { ...trainRequest(++round), clipNorm: 2 }, { timeoutMs: 15_000 });
    expect(reply.metrics).toMatchObject({ loss: 0.5, withinClip: true, epsilon: 0.5 });
    const plain = await request('alice', ++round);
    expect(plain.metrics.withinClip).toBeUndefined();
    expect(plain.metrics.epsilon).toBeUndefined();
  });
});

describe('transport limits', () => {
  it('TLS 1.2 is refused at the handshake', async () => {
    const a = credsOf(pki, 'alice');
    const error = await new Promise<string>((resolve) => {
      const socket = tls.connect({ host: '127.0.0.1', port: service.port, servername: 'localhost', ca: caPem, cert: a.certPem, key: a.keyPem, maxVersion: 'TLSv1.2', ALPNProtocols: ['h2'] });
      socket.on('secureConnect', () => resolve(`connected with ${String(socket.getProtocol())}`));
      socket.on('error', (err) => resolve(err.message));
    });
    expect(error).toMatch(/alert protocol version/);
    await stillServing();
  });

  it('a participant that never says Hello is cut off at the hello deadline', async () => {
    const s = new Script(service.port, caPem, credsOf(pki, 'mallory'));
    await s.expect('challenge');
    const end = await s.end();
    s.close();
    expect(end.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect(end.details).toBe('hello-timeout: no signed Hello within 1500 ms of the challenge');
    expect(auditEntry('participant.rejected', 'hello-timeout')).toBeDefined();
  });

  it('a task past its deadline fails for the engine and is cancelled at the participant', async () => {
    const { s } = await admitted();
    const outcome = service.transport.request('mallory', 'train', trainRequest(50), { timeoutMs: 400 }).then(() => 'resolved', (err: Error) => err.message);
    const task = await receiveTask(s);
    expect(await outcome).toBe('participant mallory did not answer the train request for round 50 within 400 ms (deadline exceeded)');
    const notice = await s.expect('notice');
    expect(notice.notice).toMatchObject({ kind: 'cancelled', taskId: task.taskId, round: 50 });
    s.close();
  });

  it('a new session of the same identity supersedes the old one', async () => {
    const first = await admitted();
    const second = await admitted();
    const end = await first.s.end();
    expect(end.code).toBe(grpc.status.ABORTED);
    expect(end.details).toMatch(/^superseded: a new session of mallory from 127.0.0.1:\d+ replaced this one/);
    first.s.close();
    second.s.close();
    await stillServing();
  });
});

describe('admission refusals (after the signed Hello)', () => {
  const refused = async (name: string, options: Parameters<Script['hello']>[1] = {}) => {
    const creds = credsOf(pki, name);
    const s = new Script(service.port, caPem, creds);
    await s.hello(creds, options);
    const end = await s.end();
    s.close();
    return end;
  };

  it('valid certificate, not on the allow-list', async () => {
    const end = await refused('nobody');
    expect(end.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(end.details).toBe('not-admitted: "nobody" is not on this coordinator\'s allow-list (deploy.admission.allow) and presented no enrollment token');
    expect(auditEntry('participant.rejected', 'not-admitted')).toMatchObject({ actor: 'nobody', details: { participant: 'nobody' } });
    await stillServing();
  });

  it('over the organisation quota (Sybil)', async () => {
    const end = await refused('alice2');
    expect(end.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(end.details).toMatch(/^org-quota: organisation "Org A" already has 1 identity in this federation \(alice\); deploy.admission.maxIdentitiesPerOrg is 1/);
    expect(auditEntry('participant.rejected', 'org-quota')).toBeDefined();
    await stillServing();
  });

  it('certificate without an organisation', async () => {
    const end = await refused('noorg');
    expect(end.details).toMatch(/^no-organisation: .*--org ORG/);
    expect(auditEntry('participant.rejected', 'no-organisation')).toBeDefined();
  });

  it('Hello claiming another identity than the certificate', async () => {
    const end = await refused('mallory', { claim: 'alice' });
    expect(end.details).toBe('identity-mismatch: Hello claims to be "alice" but the certificate identifies "mallory"');
    expect(auditEntry('participant.rejected', 'identity-mismatch')).toBeDefined();
  });

  it('one-time enrollment token: admits once, then refuses its reuse', async () => {
    const creds = credsOf(pki, 'enrollee');
    const s = new Script(service.port, caPem, creds);
    await s.hello(creds, { token: TOKEN });
    expect((await s.expect('welcome')).welcome.participant).toBe('enrollee');
    s.close();
    const again = await refused('enrollee2', { token: TOKEN });
    expect(again.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(again.details).toMatch(/^bad-token: the enrollment token was already used by "enrollee"/);
    const wrong = await refused('enrollee2', { token: 'not-the-token-0123456789' });
    expect(wrong.details).toBe('bad-token: the enrollment token is not valid for this coordinator');
    // Enrolled by token: admitted later without presenting it again.
    const back = new Script(service.port, caPem, creds);
    await back.hello(creds);
    await back.expect('welcome');
    back.close();
    await stillServing();
  });
});

describe('message refusals (admitted participant misbehaving)', () => {
  /** mallory gets a task for round r; `misbehave` sends something; returns the end and the request's fate. */
  async function during(r: number, misbehave: (s: Script, signer: MessageSigner, task: Extract<CoordinatorMessage, { body: 'task' }>['task']) => Promise<void>) {
    const { s, signer } = await admitted();
    // Settle-handler attached at once: the request fails while the test is still reading.
    const pending = request('mallory', r).then(() => 'resolved', (err: Error) => err.message);
    const task = await receiveTask(s);
    await misbehave(s, signer, task);
    const end = await s.end();
    s.close();
    return { end, outcome: await pending };
  }

  it('replayed message (a signed reply sent again for the next round)', async () => {
    const { s, signer } = await admitted();
    const first = request('mallory', 100);
    const task = await receiveTask(s);
    const captured = replyBodies(task, new Float32Array(dim).fill(0.002)).map((b) => encodeParticipantMessage(signer.sign(b)));
    for (const buf of captured) await s.conn.send(buf);
    expect((await first).delta[0]).toBeCloseTo(0.002);

    const second = request('mallory', 101).then(() => 'resolved', (err: Error) => err.message);
    await receiveTask(s);
    await s.conn.send(captured[0]!);
    const end = await s.end();
    s.close();
    expect(end.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(end.details).toMatch(/^replay: seq 2 was already used in this session \(next expected: 4\)/);
    expect(await second).toMatch(/mallory left during round 101: rejected \(replay\)/);
    expect(auditEntry('message.rejected', 'replay')).toMatchObject({ actor: 'mallory', details: { seq: 2 } });

    // The same bytes in a new session: the signature binds the old session, so it fails there.
    const again = await admitted();
    void request('mallory', 102).catch(() => undefined);
    await receiveTask(again.s);
    await again.s.conn.send(captured[0]!);
    const end2 = await again.s.end();
    again.s.close();
    expect(end2.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(end2.details).toMatch(/^bad-signature: the reply message \(seq 2\) is not signed .* for this session/);
    expect(auditEntry('message.rejected', 'bad-signature')).toBeDefined();
    await stillServing();
  });

  it('reply for the wrong round', async () => {
    const { end, outcome } = await during(7, async (s, signer, task) => {
      for (const b of replyBodies({ ...task, round: 6 }, new Float32Array(dim))) await s.conn.send(signer.encode(b));
    });
    expect(end.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(end.details).toMatch(/^wrong-round: reply is for round 6, but task \d+ belongs to round 7/);
    expect(outcome).toMatch(/left during round 7/);
    expect(auditEntry('message.rejected', 'wrong-round')).toMatchObject({ details: { round: 6, stage: 'train' } });
    await stillServing();
  });

  it('reply for the wrong stage', async () => {
    const { end } = await during(8, async (s, signer, task) => {
      for (const b of replyBodies({ ...task, stage: 'secagg-unmask' }, new Float32Array(dim))) await s.conn.send(signer.encode(b));
    });
    expect(end.details).toMatch(/^wrong-stage: reply is for stage "secagg-unmask", but task \d+ is stage "train"/);
    expect(auditEntry('message.rejected', 'wrong-stage')).toBeDefined();
    await stillServing();
  });

  it('oversized payload declared in the reply', async () => {
    const { end } = await during(9, async (s, signer, task) => {
      await s.conn.send(signer.encode(replyBodies(task, new Float32Array(dim), { payloadBytes: 600 * 1024 * 1024 })[0]!));
    });
    expect(end.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(end.details).toMatch(/^oversized: reply declares a 629145600-byte payload; the limit is 536870912 bytes/);
    expect(auditEntry('message.rejected', 'oversized')).toBeDefined();
    await stillServing();
  });

  it('oversized message (one chunk larger than the limit)', async () => {
    const { end } = await during(10, async (s, signer, task) => {
      await s.conn.send(signer.encode(replyBodies(task, new Float32Array(dim))[0]!));
      await s.conn.send(signer.encode({ body: 'chunk', chunk: { taskId: task.taskId, index: 0, data: Buffer.alloc(1200 * 1024) } }));
    });
    expect(end.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(end.details).toMatch(/^oversized: message of \d+ bytes exceeds the limit of 1114112 bytes/);
    await stillServing();
  });

  it('malformed protobuf', async () => {
    const { end } = await during(11, async (s) => {
      await s.conn.send(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x7f, 0x01]));
    });
    expect(end.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(end.details).toMatch(/^malformed: message is not a valid ParticipantMessage protobuf/);
    expect(auditEntry('message.rejected', 'malformed')).toBeDefined();
    await stillServing();
  });

  it('update containing NaN', async () => {
    const delta = new Float32Array(dim);
    delta[17] = Number.NaN;
    const { end } = await during(12, async (s, signer, task) => {
      for (const b of replyBodies(task, delta)) await s.conn.send(signer.encode(b));
    });
    expect(end.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(end.details).toMatch(/^non-finite: update value 17 is NaN/);
    expect(auditEntry('message.rejected', 'non-finite')).toBeDefined();
    await stillServing();
  });

  it('update containing Infinity', async () => {
    const delta = new Float32Array(dim);
    delta[dim - 1] = Number.POSITIVE_INFINITY;
    const { end } = await during(13, async (s, signer, task) => {
      for (const b of replyBodies(task, delta)) await s.conn.send(signer.encode(b));
    });
    expect(end.details).toBe(`non-finite: update value ${dim - 1} is Infinity`);
    await stillServing();
  });

  it('wrongly shaped update', async () => {
    const { end } = await during(14, async (s, signer, task) => {
      for (const b of replyBodies(task, new Float32Array(dim - 10))) await s.conn.send(signer.encode(b));
    });
    expect(end.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(end.details).toBe(`wrong-shape: update has ${dim - 10} values (${(dim - 10) * 4} bytes), the model has ${dim} parameters (${dim * 4} bytes)`);
    expect(auditEntry('message.rejected', 'wrong-shape')).toBeDefined();
    await stillServing();
  });

  it('chunks that do not hash to the signed payload', async () => {
    const { end } = await during(15, async (s, signer, task) => {
      const [header] = replyBodies(task, new Float32Array(dim));
      await s.conn.send(signer.encode(header!));
      await s.conn.send(signer.encode({ body: 'chunk', chunk: { taskId: task.taskId, index: 0, data: encodeFloat32(new Float32Array(dim).fill(1)) } }));
    });
    expect(end.details).toMatch(/^hash-mismatch: /);
    await stillServing();
  });
});

describe('after all refusals', () => {
  it('the audit log verifies, and metrics count refusals by reason', async () => {
    const v = verifyAuditLog(join(root, 'state', 'audit.jsonl'));
    expect(v.ok).toBe(true);
    const res = await fetch(`http://127.0.0.1:${service.metricsPort}/metrics`);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0.0.4/);
    const text = await res.text();
    for (const reason of ['no-client-certificate', 'unknown-ca', 'revoked', 'expired', 'not-admitted', 'org-quota', 'replay', 'wrong-round', 'oversized', 'malformed', 'non-finite', 'wrong-shape']) {
      expect(text).toMatch(new RegExp(`^fedsec_rejections_total\\{reason="${reason}"\\} [1-9]`, 'm'));
    }
    expect(text).toMatch(/^fedsec_participants_connected 1$/m);
    expect(text).toMatch(/^fedsec_bytes_received_total [1-9]\d*$/m);
    expect(logs.some((l) => JSON.parse(l).event === 'message.rejected')).toBe(true);
  });
});

describe('configurations a deployment refuses', () => {
  it('secure aggregation (not carried over the network yet) fails closed before round 1', async () => {
    const config = coordinatorConfig(root, { store: 'state-secagg' }, { secureAggregation: {} });
    const other = await CoordinatorService.start(config, jsonLogger(() => undefined));
    try {
      await expect(other.run()).rejects.toThrow(/secure aggregation does not run over the network transport yet/);
      expect(other.store.rounds()).toEqual([]);
    } finally {
      await other.stop();
    }
  });
});
