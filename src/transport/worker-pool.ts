/**
 * Simulated participants spread over worker threads (sticky: a participant always lives in the
 * same worker, so protocol state such as secure-aggregation keys stays put). Both cores train.
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { FedsecError, fail } from '../core/errors.js';
import type { SimulationConfig } from '../config/simulation.js';
import type { ProtocolMap, RequestKind } from '../federation/protocol.js';
import type { ParticipantTransport, RequestOptions } from './types.js';
import { withDeadline } from './deadline.js';
import type { WorkerReply, WorkerStatus } from './worker-messages.js';

interface Pending {
  resolve(body: unknown): void;
  reject(err: Error): void;
}

interface PoolWorker {
  readonly worker: Worker;
  readonly pending: Map<number, Pending>;
  dead?: string;
}

/**
 * The worker script: compiled JS in dist/; under tsx/vitest the TypeScript source, loaded through
 * a tiny bootstrap that registers tsx's loader inside the worker (Node 20 workers do not inherit
 * `--import` hooks).
 */
function spawnWorker(workerData: unknown): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./participant-worker.js', import.meta.url), { workerData });
  const tsxApi = pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm/api').replace(/\.cjs$/, '.mjs')).href;
  const entry = new URL('./participant-worker.ts', import.meta.url).href;
  const bootstrap = `import(${JSON.stringify(tsxApi)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); });`;
  return new Worker(bootstrap, { eval: true, workerData });
}

export class WorkerPoolTransport implements ParticipantTransport {
  private nextId = 1;

  private constructor(
    private readonly workers: readonly PoolWorker[],
    private readonly home: ReadonlyMap<string, PoolWorker>,
  ) {}

  static async start(config: SimulationConfig, ids: readonly string[], workerCount: number): Promise<WorkerPoolTransport> {
    const n = Math.max(1, Math.min(workerCount, ids.length));
    const groups: string[][] = Array.from({ length: n }, () => []);
    ids.forEach((id, i) => groups[i % n]!.push(id));
    const workers = groups.map((group) => ({ worker: spawnWorker({ config, ids: group }), pending: new Map<number, Pending>() }));
    try {
      await Promise.all(workers.map((w) => ready(w.worker)));
    } catch (err) {
      await Promise.all(workers.map((w) => w.worker.terminate()));
      throw err;
    }
    const home = new Map<string, PoolWorker>();
    workers.forEach((w, k) => groups[k]!.forEach((id) => home.set(id, w)));
    const pool = new WorkerPoolTransport(workers, home);
    for (const w of workers) pool.listen(w);
    return pool;
  }

  private listen(w: PoolWorker): void {
    w.worker.on('message', (msg: WorkerReply) => {
      const pending = w.pending.get(msg.id);
      if (!pending) return;
      w.pending.delete(msg.id);
      if (msg.ok) pending.resolve(msg.body);
      else pending.reject(new FedsecError('protocol', msg.error));
    });
    const die = (reason: string): void => {
      w.dead = reason;
      for (const p of w.pending.values()) p.reject(new FedsecError('protocol', `participant worker stopped: ${reason}`));
      w.pending.clear();
    };
    w.worker.on('error', (err) => die(err.message));
    w.worker.on('exit', (code) => die(`exit code ${code}`));
  }

  participants(): readonly string[] {
    return [...this.home.keys()];
  }

  request<K extends RequestKind>(participantId: string, kind: K, request: ProtocolMap[K]['request'], options?: RequestOptions): Promise<ProtocolMap[K]['reply']> {
    const w = this.home.get(participantId) ?? fail('protocol', `unknown participant ${participantId}`);
    if (w.dead) return Promise.reject(new FedsecError('protocol', `participant ${participantId} is unreachable: its worker stopped (${w.dead})`));
    const id = this.nextId++;
    const reply = new Promise<ProtocolMap[K]['reply']>((resolve, reject) => {
      w.pending.set(id, { resolve: (body) => resolve(body as ProtocolMap[K]['reply']), reject });
    });
    w.worker.postMessage({ id, participantId, kind, body: request });
    return withDeadline(reply, options?.timeoutMs, `participant ${participantId} did not answer the ${kind} request`).finally(() => w.pending.delete(id));
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => (w.dead ? undefined : w.worker.terminate())));
  }
}

function ready(worker: Worker): Promise<void> {
  return new Promise((resolve, reject) => {
    const onMessage = (msg: WorkerStatus): void => {
      cleanup();
      if (msg.ready) resolve();
      else reject(new FedsecError('internal', `participant worker failed to start: ${msg.error}`));
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(new FedsecError('internal', `participant worker failed to start: ${err.message}`));
    };
    const cleanup = (): void => {
      worker.off('message', onMessage);
      worker.off('error', onError);
    };
    worker.on('message', onMessage);
    worker.on('error', onError);
  });
}
