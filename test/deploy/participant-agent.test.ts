// The participant's side against a scripted coordinator (grpc-js with TLS, the real proto): its own
// policy (model size, epochs), its idle watchdog, and refusing a coordinator of another federation.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeLayout } from '../../src/core/params.js';
import type { TrainRequest } from '../../src/federation/protocol.js';
import { runParticipantSession, type AgentOptions } from '../../src/transport/network/participant-agent.js';
import { sha256 } from '../../src/transport/network/payload-chunks.js';
import { SESSION_METHOD_PATH, decodeParticipantMessage, encodeCoordinatorMessage, type CoordinatorMessage, type ParticipantMessage } from '../../src/transport/network/wire.js';
import { credsOf, makePki } from './helpers.js';

let root: string;
let pki: string;
beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'fedsec-agent-'));
  pki = join(root, 'pki');
  await makePki(pki, [{ name: 'alice', org: 'Org A' }]);
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

type Script = (send: (m: CoordinatorMessage) => void, received: ParticipantMessage[], call: grpc.ServerDuplexStream<Buffer, Buffer>) => void;

/** A coordinator that follows a script; returns its port and what the participant sent. */
async function scriptedCoordinator(script: Script): Promise<{ port: number; received: ParticipantMessage[]; stop: () => void }> {
  const server = new grpc.Server();
  const received: ParticipantMessage[] = [];
  const id = (b: Buffer): Buffer => b;
  server.addService({ session: { path: SESSION_METHOD_PATH, requestStream: true, responseStream: true, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id } }, {
    session: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      call.on('data', (b: Buffer) => received.push(decodeParticipantMessage(b)));
      call.on('error', () => undefined);
      script((m) => call.write(encodeCoordinatorMessage(m)), received, call);
    },
  });
  const creds = grpc.ServerCredentials.createSsl(readFileSync(join(pki, 'ca.crt')), [{ cert_chain: readFileSync(join(pki, 'coordinator.crt')), private_key: readFileSync(join(pki, 'coordinator.key')) }], true);
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', creds, (err, p) => (err ? reject(err) : resolve(p))));
  return { port, received, stop: () => server.forceShutdown() };
}

const welcome = (heartbeatMs = 60_000): CoordinatorMessage => ({
  body: 'welcome',
  welcome: { participant: 'alice', org: 'Org A', chunkBytes: 1024, maxMessageBytes: 2048, maxPayloadBytes: 1 << 20, modelSpecJson: '{"kind":"logreg"}', featureShape: [2], numClasses: 2, heartbeatMs },
});
const challenge = (federation = 'testfed'): CoordinatorMessage => ({ body: 'challenge', challenge: { sessionId: randomBytes(16), serverNonce: randomBytes(32), federation, protocolVersion: 1 } });

function agent(port: number, over: Partial<AgentOptions> = {}): ReturnType<typeof runParticipantSession> {
  const c = credsOf(pki, 'alice');
  const layout = makeLayout([{ name: 'w', shape: [6] }]);
  let trained = 0;
  return runParticipantSession({
    connection: { address: `127.0.0.1:${port}`, serverName: 'localhost', caPem: readFileSync(join(pki, 'ca.crt'), 'utf8'), certPem: c.certPem, keyPem: c.keyPem, deadlineMs: 30_000, maxMessageBytes: 1 << 20 },
    credentials: c,
    policy: { maxModelBytes: 4096, maxEpochs: 3 },
    prepare: async () => ({ layout, handler: { id: 'alice', handle: async (_k, req) => ({ participantId: 'alice', round: (req as TrainRequest).round, delta: (req as TrainRequest).params, numSamples: ++trained, metrics: { loss: 1, trainMs: 1 } }) } }),
    ...over,
  });
}

const task = (taskId: number, payloadBytes: number, epochs: number): CoordinatorMessage => ({
  body: 'task',
  task: { taskId, round: taskId, stage: 'train', timeoutMs: 10_000, training: { epochs, batchSize: 4, learningRate: 0.1, optimizer: 'sgd' }, seed: 's', payloadBytes, payloadSha256: sha256(Buffer.alloc(payloadBytes)) },
});

describe('participant agent', () => {
  it('refuses tasks beyond its own policy with a signed failure report', async () => {
    const coord = await scriptedCoordinator((send, received, call) => {
      send(challenge());
      const wait = setInterval(() => {
        if (received.length === 0) return;
        clearInterval(wait);
        send(welcome());
        send(task(1, 8192, 1)); // model larger than policy.maxModelBytes
        send(task(2, 64, 10)); // more epochs than policy.maxEpochs
        setTimeout(() => {
          send({ body: 'notice', notice: { kind: 'finished', reason: 'finished', message: 'done', taskId: 0, round: 0 } });
          call.end();
        }, 300);
      }, 10);
    });
    const outcome = await agent(coord.port);
    coord.stop();
    expect(outcome).toMatchObject({ kind: 'finished', message: 'done', tasks: 0 });
    const failed = coord.received.filter((m) => m.body === 'failed');
    expect(failed.map((m) => (m.body === 'failed' ? m.failed.message : ''))).toEqual([
      "the global model is 8192 bytes; this participant's policy.maxModelBytes is 4096",
      "the round asks for 10 local epochs; this participant's policy.maxEpochs is 3",
    ]);
    expect(coord.received.map((m) => m.seq)).toEqual([1, 2, 3]);
  });

  it('gives up on a coordinator that falls silent (idle watchdog: three heartbeat intervals)', async () => {
    const coord = await scriptedCoordinator((send, received) => {
      send(challenge());
      const wait = setInterval(() => {
        if (received.length === 0) return;
        clearInterval(wait);
        send(welcome(100));
      }, 10);
    });
    const outcome = await agent(coord.port);
    coord.stop();
    expect(outcome).toMatchObject({ kind: 'ended', code: grpc.status.UNAVAILABLE, admitted: true, permanent: false });
    expect(outcome.kind === 'ended' && outcome.details).toBe('no message from the coordinator for 300 ms (it pings idle sessions every 100 ms); reconnecting');
  });

  it('refuses a coordinator serving another federation before sending anything', async () => {
    const coord = await scriptedCoordinator((send) => send(challenge('otherfed')));
    await expect(agent(coord.port, { federation: 'testfed' })).rejects.toThrow(/the coordinator serves federation "otherfed", this participant is configured for "testfed"/);
    expect(coord.received).toEqual([]);
    coord.stop();
  });
});
