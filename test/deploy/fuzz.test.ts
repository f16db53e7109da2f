// Fuzzing the coordinator's message handling.
// 1. The session state machine directly (no network, thousands of messages): random bytes,
//    bit-flipped / truncated / extended honest messages, honest messages re-signed with one field
//    changed, replays, oversized ones — at random points of an honest exchange. Invariants: it never
//    throws; it either stays consistent or ends with exactly one known reason; an accepted update is
//    bit-for-bit the honest one; every message it sends is one a participant accepts.
// 2. The running coordinator over mTLS: mutated sessions, then the audit log verifies, the store
//    holds no round or stray participant, and an honest participant is still served.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { fail } from '../../src/core/errors.js';
import { verifyAuditLog } from '../../src/audit/verify-audit-log.js';
import { CoordinatorService } from '../../src/deploy/coordinator-service.js';
import { jsonLogger } from '../../src/deploy/json-log.js';
import type { TrainReply } from '../../src/federation/protocol.js';
import type { PeerIdentity } from '../../src/pki/verify-peer.js';
import { CoordinatorSession, encodeFloat32, type SessionLimits } from '../../src/transport/network/coordinator-session.js';
import { MessageSigner } from '../../src/transport/network/participant-agent.js';
import { sha256 } from '../../src/transport/network/payload-chunks.js';
import { deserializeParams } from '../../src/core/params.js';
import { decodeCoordinatorMessage, encodeCoordinatorMessage, encodeParticipantMessage, type CoordinatorMessage, type ParticipantBody } from '../../src/transport/network/wire.js';
import { coordinatorConfig, credsOf, makePki, readAudit, Script } from './helpers.js';

const DIM = 8;
const LIMITS: SessionLimits = { chunkBytes: 16, maxMessageBytes: 16 + 1024, maxPayloadBytes: 4096, helloTimeoutMs: 60_000, heartbeatMs: 60_000 };
const KNOWN_REASONS = new Set(['malformed', 'oversized', 'bad-signature', 'replay', 'bad-sequence', 'unexpected', 'unknown-task', 'wrong-round', 'wrong-stage', 'duplicate-reply', 'wrong-shape', 'non-finite', 'invalid-reply', 'chunk-order', 'hash-mismatch', 'protocol-version', 'wrong-federation', 'identity-mismatch']);
const HONEST_DELTA = Float32Array.from({ length: DIM }, (_, i) => (i - 3) / 7);
const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const identity: PeerIdentity = { role: 'participant', name: 'fuzzer', org: 'Org F', serial: '0f', fingerprint: 'ab'.repeat(32), notAfter: new Date(Date.now() + 86_400_000) };

type Action =
  | { readonly kind: 'honest' }
  | { readonly kind: 'random'; readonly bytes: Uint8Array }
  | { readonly kind: 'flip'; readonly which: number; readonly positions: readonly number[] }
  | { readonly kind: 'truncate'; readonly which: number; readonly at: number }
  | { readonly kind: 'extend'; readonly which: number; readonly extra: Uint8Array }
  | { readonly kind: 'replay'; readonly which: number }
  | { readonly kind: 'field'; readonly which: number; readonly field: number; readonly value: number; readonly text: string }
  | { readonly kind: 'oversized' };

const action: fc.Arbitrary<Action> = fc.oneof(
  { weight: 4, arbitrary: fc.constant({ kind: 'honest' as const }) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 96 }).map((bytes) => ({ kind: 'random' as const, bytes })) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('flip' as const), which: fc.nat(), positions: fc.array(fc.nat(), { minLength: 1, maxLength: 4 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const), which: fc.nat(), at: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('extend' as const), which: fc.nat(), extra: fc.uint8Array({ minLength: 1, maxLength: 24 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('replay' as const), which: fc.nat() }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('field' as const), which: fc.nat(), field: fc.nat({ max: 9 }), value: fc.oneof(fc.integer({ min: -3, max: 3 }), fc.nat()), text: fc.string({ maxLength: 40 }) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'oversized' as const }) },
);

/** The honest exchange: hello, then for the task: reply header and its chunks. */
function honestBodies(taskId: number, round = 3, delta = HONEST_DELTA, chunkBytes = LIMITS.chunkBytes): ParticipantBody[] {
  const bytes = encodeFloat32(delta);
  const chunks: ParticipantBody[] = [];
  for (let off = 0, index = 0; off < bytes.length; off += chunkBytes) chunks.push({ body: 'chunk', chunk: { taskId, index: index++, data: bytes.subarray(off, off + chunkBytes) } });
  return [
    { body: 'hello', hello: { federation: 'fuzzfed', participant: 'fuzzer', protocolVersion: 1, enrollmentToken: '', software: 'fuzz' } },
    { body: 'reply', reply: { taskId, round, stage: 'train', numSamples: 12, loss: 0.25, trainMs: 4, payloadBytes: bytes.length, payloadSha256: sha256(bytes) } },
    ...chunks,
  ];
}

/** One field of an honest body changed (then properly signed): the semantic attacks. */
function withField(b: ParticipantBody, field: number, value: number, text: string): ParticipantBody {
  switch (b.body) {
    case 'hello':
      return { ...b, hello: [{ ...b.hello, participant: text }, { ...b.hello, federation: text }, { ...b.hello, protocolVersion: Math.abs(value) }][field % 3]! };
    case 'reply': {
      const r = b.reply;
      const variants = [
        { ...r, round: Math.max(0, r.round + value) }, { ...r, stage: text }, { ...r, taskId: Math.max(1, r.taskId + value) },
        { ...r, payloadBytes: Math.abs(value) }, { ...r, numSamples: Math.abs(value) % 3 }, { ...r, loss: [Number.NaN, Infinity, -Infinity][Math.abs(value) % 3]! },
        { ...r, payloadSha256: randomBytes(32) }, { ...r, trainMs: Number.NaN }, { ...r, clippedNorm: -Infinity }, { ...r, payloadBytes: 2 ** 31 + Math.abs(value) },
      ];
      return { ...b, reply: variants[field % variants.length]! };
    }
    case 'chunk': {
      const c = b.chunk;
      const nan = Buffer.from(c.data);
      nan.writeFloatLE(Number.NaN, 0);
      const variants = [{ ...c, index: Math.abs(value) }, { ...c, taskId: Math.max(1, c.taskId + value) }, { ...c, data: nan }, { ...c, data: Buffer.alloc(Math.abs(value) % 40) }, { ...c, data: randomBytes(c.data.length) }];
      return { ...b, chunk: variants[field % variants.length]! };
    }
    default:
      return b;
  }
}

interface RunResult {
  readonly messages: number;
  /** The rejection reason that ended the session, if any. */
  readonly ended: string | undefined;
  /** The train task's fate: the accepted reply, or why it failed (undefined: never started). */
  readonly task: Promise<{ reply?: TrainReply; failure?: string } | undefined>;
}

function runSession(actions: readonly Action[]): RunResult {
  const sent: CoordinatorMessage[] = [];
  const ends: { code: number; details: string }[] = [];
  const rejections: string[] = [];
  let taskCounter = 40;
  const session = new CoordinatorSession({
    identity, publicKey, remote: 'fuzz', federation: 'fuzzfed', limits: LIMITS,
    model: { specJson: '{"kind":"logreg"}', featureShape: [DIM], numClasses: 2, dim: DIM },
    admit: () => ({ ok: true }),
    nextTaskId: () => ++taskCounter,
    io: {
      send: (m) => {
        // Everything the coordinator sends must be encodable and acceptable to a participant.
        decodeCoordinatorMessage(encodeCoordinatorMessage(m));
        sent.push(m);
        return Promise.resolve();
      },
      end: (code, details) => void ends.push({ code, details }),
    },
    events: { admitted: () => undefined, rejected: (_s, r) => void rejections.push(r.reason), closed: () => undefined },
  });
  session.start();
  const challenge = sent[0];
  if (challenge?.body !== 'challenge') throw new Error('no challenge');
  const signer = new MessageSigner({ federation: 'fuzzfed', participant: 'fuzzer', certFingerprint: identity.fingerprint, sessionId: challenge.challenge.sessionId, serverNonce: challenge.challenge.serverNonce }, privateKey);

  let task: RunResult['task'] = Promise.resolve(undefined);
  let started = false;
  const history: Buffer[] = [];
  let next = 0;
  const bodies = honestBodies(taskCounter + 1);
  let messages = 0;
  const deliver = (buf: Buffer): void => {
    messages++;
    session.receive(buf); // must never throw
    // As soon as the participant is admitted, the coordinator has a train task outstanding for it.
    if (!started && session.isReady) {
      started = true;
      const payload = Buffer.alloc(40, 7);
      task = session
        .requestTrain({ round: 3, params: new Float32Array(DIM), training: { epochs: 1, batchSize: 4, learningRate: 0.1, optimizer: 'sgd' }, seed: 'f' }, { bytes: payload, sha256: sha256(payload) }, undefined)
        .then((reply) => ({ reply }), (e: Error) => ({ failure: e.message }));
    }
  };
  const base = (which: number): Buffer => history[which % Math.max(1, history.length)] ?? signer.encode(bodies[0]!);
  for (const a of actions) {
    if (session.isClosed) break;
    switch (a.kind) {
      case 'honest': {
        const body = bodies[next];
        if (!body) break;
        const buf = signer.encode(body);
        history.push(buf);
        next++;
        deliver(buf);
        break;
      }
      case 'random':
        deliver(Buffer.from(a.bytes));
        break;
      case 'flip': {
        const buf = Buffer.from(base(a.which));
        for (const p of a.positions) buf[p % buf.length] = (buf[p % buf.length] ?? 0) ^ (1 << (p % 8));
        deliver(buf);
        break;
      }
      case 'truncate': {
        const buf = base(a.which);
        deliver(buf.subarray(0, a.at % buf.length));
        break;
      }
      case 'extend':
        deliver(Buffer.concat([base(a.which), Buffer.from(a.extra)]));
        break;
      case 'replay':
        if (history.length > 0) deliver(base(a.which));
        break;
      case 'field': {
        const body = bodies[Math.min(next, bodies.length - 1)] ?? bodies[0]!;
        deliver(signer.encode(withField(body, a.field, a.value, a.text)));
        break;
      }
      case 'oversized':
        deliver(encodeParticipantMessage(signer.sign({ body: 'chunk', chunk: { taskId: taskCounter, index: 0, data: Buffer.alloc(LIMITS.maxMessageBytes) } })));
        break;
    }
  }
  // Invariants on the session itself.
  expect(ends.length).toBeLessThanOrEqual(1);
  if (rejections.length > 0) {
    expect(rejections).toHaveLength(1);
    expect(KNOWN_REASONS.has(rejections[0]!)).toBe(true);
    expect(session.isClosed).toBe(true);
    expect(ends[0]?.details.startsWith(`${rejections[0]}: `)).toBe(true);
    const last = sent.at(-1);
    expect(last?.body === 'notice' && last.notice.kind === 'rejected' && last.notice.reason === rejections[0]).toBe(true);
    expect(session.outstandingTasks).toBe(0);
  } else {
    expect(session.isClosed).toBe(false);
    expect(ends).toHaveLength(0);
    expect(session.outstandingTasks).toBeLessThanOrEqual(1);
    // End it so an unfinished task settles (rejected) instead of waiting forever.
    session.close('closing', 'shutdown', 'fuzz run over');
  }
  return { messages, ended: rejections[0], task };
}

/** An accepted update must be exactly what the honest participant signed. */
function expectHonest(reply: TrainReply): void {
  expect(reply).toMatchObject({ participantId: 'fuzzer', round: 3, numSamples: 12, metrics: { loss: 0.25, trainMs: 4 } });
  expect(Buffer.from(reply.delta.buffer).equals(Buffer.from(HONEST_DELTA.buffer))).toBe(true);
}

describe('fuzzing the coordinator session state machine', () => {
  it('never throws, ends with one known reason, and accepts only the honest update', async () => {
    let total = 0;
    let runs = 0;
    let accepted = 0;
    const reasons: Record<string, number> = {};
    await fc.assert(
      // An honest prefix of random length, so every stage of the exchange gets attacked.
      fc.asyncProperty(fc.nat({ max: 5 }), fc.array(action, { minLength: 1, maxLength: 10 }), async (prefix, actions) => {
        const result = runSession([...Array.from({ length: prefix }, () => ({ kind: 'honest' as const })), ...actions]);
        runs++;
        total += result.messages;
        const key = result.ended ?? 'still-open';
        reasons[key] = (reasons[key] ?? 0) + 1;
        const fate = await result.task;
        if (fate?.reply) {
          accepted++;
          expectHonest(fate.reply);
        }
      }),
      { numRuns: 1500, seed: 20_251_124 },
    );
    const clean = runSession([{ kind: 'honest' }, { kind: 'honest' }, { kind: 'honest' }, { kind: 'honest' }]);
    expect(clean.ended).toBeUndefined();
    const fate = await clean.task;
    expectHonest(fate?.reply ?? fail('internal', 'the honest exchange produced no reply'));
    console.log(`fuzz (session): ${total} messages over ${runs} sessions, ${accepted} honest updates accepted; outcomes ${JSON.stringify(reasons)}`);
    expect(total).toBeGreaterThan(3000);
    expect(Object.keys(reasons).length).toBeGreaterThan(8);
  });
});

describe('fuzzing the running coordinator over mTLS', () => {
  let root: string | undefined;
  let service: CoordinatorService | undefined;
  afterAll(async () => {
    await service?.stop();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('survives mutated sessions with its store and audit log intact', async () => {
    root = mkdtempSync(join(tmpdir(), 'fedsec-fuzz-'));
    const pki = join(root, 'pki');
    await makePki(pki, [{ name: 'alice', org: 'Org A' }, { name: 'mallory', org: 'Org M' }]);
    service = await CoordinatorService.start(coordinatorConfig(root), jsonLogger(() => undefined));
    const caPem = readFileSync(join(pki, 'ca.crt'), 'utf8');
    const creds = credsOf(pki, 'mallory');
    const dim = deserializeParams(service.store.readModel(1)).layout.size;
    const training = { epochs: 1, batchSize: 32, learningRate: 0.1, optimizer: 'sgd' as const };
    const plans = fc.sample(fc.array(action, { minLength: 1, maxLength: 6 }), { numRuns: 30, seed: 7 });
    let messages = 0;
    let round = 0;
    const outcomes: Record<string, number> = {};
    for (const actions of plans) {
      const s = new Script(service.port, caPem, creds);
      const signer = await s.hello(creds);
      await s.expect('welcome');
      // A real outstanding task, so mutations hit the reply/chunk handlers and not only "unknown task".
      const pending = service.transport.request('mallory', 'train', { round: ++round, params: new Float32Array(dim), training, seed: 'x' }, { timeoutMs: 20_000 }).catch(() => undefined);
      const { task } = await s.expect('task');
      const honest = honestBodies(task.taskId, task.round, new Float32Array(dim).fill(0.25), 1 << 20).slice(1);
      let sentHonest = 0;
      for (const a of actions) {
        let buf: Buffer;
        if (a.kind === 'random') buf = Buffer.from(a.bytes);
        else if (a.kind === 'field') buf = signer.encode(withField(honest[Math.min(sentHonest, honest.length - 1)]!, a.field, a.value, a.text));
        else if (a.kind === 'flip' || a.kind === 'truncate' || a.kind === 'extend') {
          buf = signer.encode(honest[Math.min(sentHonest, honest.length - 1)]!);
          if (a.kind === 'flip') for (const p of a.positions) buf[p % buf.length] = (buf[p % buf.length] ?? 0) ^ (1 << (p % 8));
          else if (a.kind === 'truncate') buf = buf.subarray(0, a.at % buf.length);
          else buf = Buffer.concat([buf, Buffer.from(a.extra)]);
        } else {
          const body = honest[sentHonest++];
          if (!body) continue;
          buf = signer.encode(body);
        }
        await s.conn.send(buf);
        messages++;
      }
      s.conn.finishSending();
      const end = await s.end(10_000);
      const reason = /^([a-z-]+):/.exec(end.details)?.[1] ?? (end.code === 0 ? 'clean-close' : `status-${end.code}`);
      outcomes[reason] = (outcomes[reason] ?? 0) + 1;
      s.close();
      await pending;
    }
    console.log(`fuzz (network): ${messages} messages over ${plans.length} sessions; outcomes ${JSON.stringify(outcomes)}`);
    const log = join(root, 'state', 'audit.jsonl');
    expect(verifyAuditLog(log).ok).toBe(true);
    const entries = readAudit(log);
    const refused = plans.length - (outcomes['clean-close'] ?? 0);
    expect(entries.filter((e) => e.type === 'message.rejected').length).toBe(refused);
    expect(refused).toBeGreaterThan(plans.length / 2);
    expect(entries.filter((e) => e.type.startsWith('round.'))).toEqual([]);
    expect(service.store.rounds()).toEqual([]);
    expect(service.store.participants().map((p) => p.name)).toEqual(['mallory']);

    // Still serving: an honest session is admitted and can be asked to train.
    const alice = credsOf(pki, 'alice');
    const s = new Script(service.port, caPem, alice);
    const signer = await s.hello(alice);
    await s.expect('welcome');
    const pending = service.transport.request('alice', 'train', { round: ++round, params: new Float32Array(dim), training, seed: 'x' }, { timeoutMs: 10_000 });
    const { task } = await s.expect('task');
    const delta = encodeFloat32(new Float32Array(dim).fill(0.5));
    await s.conn.send(signer.encode({ body: 'reply', reply: { taskId: task.taskId, round, stage: 'train', numSamples: 5, loss: 1, trainMs: 1, payloadBytes: delta.length, payloadSha256: sha256(delta) } }));
    let index = 0;
    for (let off = 0; off < delta.length; off += 1 << 20) await s.conn.send(signer.encode({ body: 'chunk', chunk: { taskId: task.taskId, index: index++, data: delta.subarray(off, off + (1 << 20)) } }));
    expect((await pending).delta[dim - 1]).toBe(0.5);
    s.close();
  });
});
