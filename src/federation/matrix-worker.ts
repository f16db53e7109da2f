/**
 * Worker-thread entry for `fedsec matrix` with parallel.workersPerCell = 0: a long-lived thread
 * that runs whole cells one after another, each simulation in-thread (participants included).
 * Compared with a fresh participant pool per cell this saves the per-cell cost of starting
 * workers and reloading the data (seconds per cell), and still keeps one core busy per thread.
 */
import { parentPort } from 'node:worker_threads';
import type { MatrixCell } from './matrix-config.js';
import { runCell } from './matrix.js';

export interface CellRequest {
  readonly index: number;
  readonly cell: MatrixCell;
}

const port = parentPort;
if (!port) throw new Error('matrix-worker must run in a worker thread');

let queue: Promise<void> = Promise.resolve();
port.on('message', (msg: CellRequest) => {
  queue = queue.then(async () => {
    port.postMessage({ index: msg.index, run: await runCell(msg.cell) });
  });
});
port.postMessage({ ready: true });
