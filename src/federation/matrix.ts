/**
 * Runs a defence × attack matrix: every cell (aggregator, attack, seed) is one full simulation.
 * `parallel.cells` simulations run at once: with `parallel.workersPerCell` ≥ 1 worker threads each
 * (started per cell), or with 0, each in a long-lived thread of its own that trains its
 * participants itself. A failing cell is recorded with its error and the others go on.
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { RoundObserver } from './engine.js';
import type { MatrixCell, MatrixPlan } from './matrix-config.js';
import type { SimulationResult } from './simulation.js';
import { runSimulation } from './simulation.js';

export interface CellRun {
  readonly defence: string;
  readonly attack: string;
  readonly seed: number | string;
  /** Held-out accuracy after each round, index 0 = the initial model. */
  readonly accuracy: readonly number[];
  /** Targeted attacks: the attack success rate after each round, index 0 = round 1. */
  readonly attackSuccessRate?: readonly number[];
  readonly finalAccuracy: number;
  readonly finalAttackSuccessRate?: number;
  /** Means over the attack's rounds in which they are defined (see attacks/server-feature.ts). */
  readonly flagPrecision?: number;
  readonly flagRecall?: number;
  /** Rounds in which the aggregator refused to aggregate (the model was kept). */
  readonly skippedRounds: number;
  readonly ms: number;
  readonly error?: string;
}

export interface Stat {
  readonly mean: number;
  /** Sample standard deviation over seeds (0 for a single seed). */
  readonly std: number;
}

export interface MatrixSummaryCell {
  readonly defence: string;
  readonly attack: string;
  /** Runs that finished (errors excluded). */
  readonly runs: number;
  readonly accuracy?: Stat;
  readonly attackSuccessRate?: Stat;
  readonly flagPrecision?: Stat;
  readonly flagRecall?: Stat;
  readonly skippedRounds: number;
  readonly errors: readonly string[];
}

export interface MatrixResult {
  readonly plan: MatrixPlan;
  readonly runs: readonly CellRun[];
  readonly summary: readonly MatrixSummaryCell[];
  readonly startedAt: string;
  readonly totalMs: number;
}

export interface MatrixHooks {
  onCellStart?(cell: MatrixCell, index: number): void;
  /** `index` is the cell's position in plan.cells. */
  onCellDone?(run: CellRun, done: number, total: number, index: number): void;
  /** Observers for one cell's simulation (e.g. per-round progress); not with workersPerCell 0 (cells run in threads). */
  observersFor?(cell: MatrixCell): readonly RoundObserver[];
}

const meanOf = (xs: readonly number[]): number | undefined => (xs.length > 0 ? xs.reduce((s, x) => s + x, 0) / xs.length : undefined);

export function stat(xs: readonly number[]): Stat | undefined {
  const m = meanOf(xs);
  if (m === undefined) return undefined;
  const std = xs.length > 1 ? Math.sqrt(xs.reduce((s, x) => s + (x - m) ** 2, 0) / (xs.length - 1)) : 0;
  return { mean: m, std };
}

export function summariseRun(cell: MatrixCell, result: SimulationResult, ms: number): CellRun {
  const rounds = result.rounds;
  const asr = rounds.map((r) => r.evaluation.extra?.attackSuccessRate);
  const hasAsr = asr.some((v) => v !== undefined);
  const defined = (key: string): number[] => rounds.flatMap((r) => (typeof r.extra[key] === 'number' && Number.isFinite(r.extra[key]) ? [r.extra[key]] : []));
  const precision = meanOf(defined('flagPrecision'));
  const recall = meanOf(defined('flagRecall'));
  const last = rounds.at(-1)?.evaluation ?? result.initial;
  return {
    defence: cell.defence.label,
    attack: cell.attack.label,
    seed: cell.seed,
    accuracy: [result.initial.accuracy, ...rounds.map((r) => r.evaluation.accuracy)],
    ...(hasAsr ? { attackSuccessRate: asr.map((v) => v ?? NaN), finalAttackSuccessRate: last.extra?.attackSuccessRate ?? NaN } : {}),
    finalAccuracy: last.accuracy,
    ...(precision !== undefined ? { flagPrecision: precision } : {}),
    ...(recall !== undefined ? { flagRecall: recall } : {}),
    skippedRounds: rounds.filter((r) => r.skipped !== undefined).length,
    ms,
  };
}

export function summarise(plan: MatrixPlan, runs: readonly CellRun[]): MatrixSummaryCell[] {
  return plan.defences.flatMap((d) =>
    plan.attacks.map((a) => {
      const mine = runs.filter((r) => r.defence === d.label && r.attack === a.label);
      const ok = mine.filter((r) => r.error === undefined);
      const pick = (f: (r: CellRun) => number | undefined): Stat | undefined => stat(ok.flatMap((r) => (f(r) !== undefined && Number.isFinite(f(r)) ? [f(r)!] : [])));
      const accuracy = pick((r) => r.finalAccuracy);
      const attackSuccessRate = pick((r) => r.finalAttackSuccessRate);
      const flagPrecision = pick((r) => r.flagPrecision);
      const flagRecall = pick((r) => r.flagRecall);
      return {
        defence: d.label,
        attack: a.label,
        runs: ok.length,
        ...(accuracy ? { accuracy } : {}),
        ...(attackSuccessRate ? { attackSuccessRate } : {}),
        ...(flagPrecision ? { flagPrecision } : {}),
        ...(flagRecall ? { flagRecall } : {}),
        skippedRounds: ok.reduce((s, r) => s + r.skippedRounds, 0),
        errors: mine.flatMap((r) => (r.error !== undefined ? [r.error] : [])),
      };
    }),
  );
}

/** One cell: a full simulation, summarised; an error is recorded, not thrown. */
export async function runCell(cell: MatrixCell, observers: readonly RoundObserver[] = []): Promise<CellRun> {
  const started = performance.now();
  try {
    return summariseRun(cell, await runSimulation(cell.config, observers), performance.now() - started);
  } catch (err) {
    return failedRun(cell, err instanceof Error ? err.message : String(err), performance.now() - started);
  }
}

function failedRun(cell: MatrixCell, error: string, ms: number): CellRun {
  return { defence: cell.defence.label, attack: cell.attack.label, seed: cell.seed, accuracy: [], finalAccuracy: NaN, skippedRounds: 0, ms, error };
}

/** The worker script: compiled JS in dist/; from source, the TypeScript through tsx's loader. */
function spawnCellThread(): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./matrix-worker.js', import.meta.url));
  const tsxApi = pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm/api').replace(/\.cjs$/, '.mjs')).href;
  const entry = new URL('./matrix-worker.ts', import.meta.url).href;
  return new Worker(`import(${JSON.stringify(tsxApi)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); });`, { eval: true });
}

/** A long-lived thread running cells one at a time (parallel.workersPerCell = 0). */
class CellThread {
  private readonly worker = spawnCellThread();
  private readonly ready: Promise<void>;
  private pending: { resolve(run: CellRun): void; reject(err: Error): void } | undefined;
  private dead: string | undefined;

  constructor() {
    this.ready = new Promise((resolve, reject) => {
      this.worker.on('message', (msg: { ready: true } | { index: number; run: CellRun }) => {
        if ('ready' in msg) resolve();
        else this.pending?.resolve(msg.run);
      });
      const die = (reason: string): void => {
        this.dead = reason;
        reject(new Error(reason));
        this.pending?.reject(new Error(`matrix worker stopped: ${reason}`));
      };
      this.worker.on('error', (err) => die(err.message));
      this.worker.on('exit', (code) => die(`exit code ${code}`));
    });
    // A thread that dies before its first cell is reported through run(), not as an unhandled rejection.
    this.ready.catch(() => undefined);
  }

  async run(cell: MatrixCell, index: number): Promise<CellRun> {
    await this.ready;
    if (this.dead) throw new Error(`matrix worker stopped: ${this.dead}`);
    return new Promise<CellRun>((resolve, reject) => {
      this.pending = { resolve, reject };
      this.worker.postMessage({ index, cell });
    }).finally(() => {
      this.pending = undefined;
    });
  }

  async close(): Promise<void> {
    if (!this.dead) await this.worker.terminate();
  }
}

export async function runMatrix(plan: MatrixPlan, hooks: MatrixHooks = {}): Promise<MatrixResult> {
  const startedAt = new Date().toISOString();
  const t0 = performance.now();
  const runs: (CellRun | undefined)[] = new Array<CellRun | undefined>(plan.cells.length);
  const slots = Math.min(plan.parallel.cells, plan.cells.length);
  // workersPerCell 0: each slot is a thread of its own (the cell trains there); otherwise the cells
  // run here, each starting its own participant workers.
  const threads = plan.parallel.workersPerCell === 0 ? Array.from({ length: slots }, () => new CellThread()) : [];
  let next = 0;
  let done = 0;
  const slot = async (k: number): Promise<void> => {
    while (next < plan.cells.length) {
      const index = next++;
      const cell = plan.cells[index]!;
      hooks.onCellStart?.(cell, index);
      const thread = threads[k];
      const started = performance.now();
      const run = thread
        ? await thread.run(cell, index).catch((err: Error) => failedRun(cell, err.message, performance.now() - started))
        : await runCell(cell, hooks.observersFor?.(cell) ?? []);
      runs[index] = run;
      hooks.onCellDone?.(run, ++done, plan.cells.length, index);
    }
  };
  try {
    await Promise.all(Array.from({ length: slots }, (_, k) => slot(k)));
  } finally {
    await Promise.all(threads.map((t) => t.close()));
  }
  const all = runs.map((r, i) => r ?? failedRun(plan.cells[i]!, 'not run', 0));
  return { plan, runs: all, summary: summarise(plan, all), startedAt, totalMs: performance.now() - t0 };
}
