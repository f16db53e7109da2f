/**
 * Worker-thread entry point for simulated participants: tfjs-wasm is single-threaded in Node, so
 * the simulation trains participants in parallel in several workers. Each worker rebuilds its
 * participants from the (serialisable) config and answers requests one at a time.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { SimulationConfig } from '../config/simulation.js';
import type { ParticipantHandler, RequestKind } from '../federation/protocol.js';
import { buildSimulatedParticipants } from '../federation/simulation-setup.js';
import { initRuntime } from '../model/backend.js';
import type { WorkerReply, WorkerRequest } from './worker-messages.js';

interface Setup {
  readonly config: SimulationConfig;
  readonly ids: readonly string[];
}

const port = parentPort;
if (!port) throw new Error('participant-worker must run in a worker thread');

async function start(): Promise<void> {
  const setup = workerData as Setup;
  await initRuntime(setup.config.runtime.backend);
  const handlers = new Map<string, ParticipantHandler>((await buildSimulatedParticipants(setup.config, setup.ids)).map((p) => [p.id, p]));
  let queue: Promise<void> = Promise.resolve();
  port!.on('message', (msg: WorkerRequest) => {
    queue = queue.then(async () => {
      let reply: WorkerReply;
      try {
        const handler = handlers.get(msg.participantId);
        if (!handler) throw new Error(`participant ${msg.participantId} is not hosted by this worker`);
        reply = { id: msg.id, ok: true, body: await handler.handle(msg.kind as RequestKind, msg.body as never) };
      } catch (err) {
        reply = { id: msg.id, ok: false, error: err instanceof Error ? err.message : String(err) };
      }
      port!.postMessage(reply);
    });
  });
  port!.postMessage({ ready: true });
}

start().catch((err: unknown) => {
  port.postMessage({ ready: false, error: err instanceof Error ? err.message : String(err) });
});
