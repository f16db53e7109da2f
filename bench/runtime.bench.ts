/**
 * Training-runtime speed: one epoch of plain SGD (2000 real MNIST digits, batch 32) for the zoo's
 * MLP (784→128→10, relu) and CNN (conv5×5×8 same → pool2 → conv5×5×16 → pool2 → dense64 → 10) on
 * the tuned wasm backend (baseline), the stock wasm backend, and tfjs-cpu — all measured in the
 * same run, reported as epoch time and ratio to tuned wasm.
 *
 * Options: --images=<n> (2000), --batch=<n> (32), --repeats=<n> timed epochs per cell, best kept
 * (2), --cpu-batches=<n> (3): tfjs-cpu trains the CNN at several seconds per batch, so that cell
 * times a few batches after a warm-up one and extrapolates to the epoch (marked in the output).
 */
import { availableParallelism, loadavg } from 'node:os';
import type { Dataset } from '../src/data/dataset.js';
import { loadMnist } from '../src/data/mnist.js';
import { initRuntime, tf, type BackendName } from '../src/model/backend.js';
import { registerTunedWasmKernels, unregisterTunedWasmKernels } from '../src/model/wasm-kernels/index.js';
import { buildModel, type ModelSpec } from '../src/model/zoo.js';

type Variant = 'wasm (tuned)' | 'wasm (stock)' | 'cpu';

interface Cell {
  model: string;
  variant: Variant;
  epochMs?: number;
  steps?: number; // timed steps when extrapolated
  unsupported?: string;
}

function intOption(args: string[], key: string, fallback: number): number {
  const hit = args.find((a) => a.startsWith(`--${key}=`));
  if (hit === undefined) return fallback;
  const v = Number(hit.slice(key.length + 3));
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${key} must be a positive integer, got "${hit}"`);
  return v;
}

const MODELS: readonly { name: string; spec: ModelSpec }[] = [
  { name: 'mlp 784-128-10', spec: { kind: 'mlp', hidden: [128] } },
  { name: 'cnn 2-conv', spec: { kind: 'cnn', filters: [8, 16], kernelSize: 5, dense: 64 } },
];

function batches(ds: Dataset, batchSize: number): { x: Float32Array; y: Int32Array; n: number }[] {
  const f = 784;
  const out: { x: Float32Array; y: Int32Array; n: number }[] = [];
  for (let start = 0; start < ds.size; start += batchSize) {
    const n = Math.min(batchSize, ds.size - start);
    out.push({ x: ds.x.subarray(start * f, (start + n) * f), y: ds.y.subarray(start, start + n), n });
  }
  return out;
}

async function selectVariant(variant: Variant): Promise<void> {
  if (variant === 'cpu') {
    await initRuntime('cpu');
    return;
  }
  if (variant === 'wasm (stock)') unregisterTunedWasmKernels();
  else registerTunedWasmKernels();
  await initRuntime('wasm');
}

/** Times `steps` SGD steps (all when undefined) after one warm-up step; returns ms per step. */
async function timeSteps(spec: ModelSpec, data: ReturnType<typeof batches>, steps: number | undefined, repeats: number): Promise<number> {
  const model = await buildModel(spec, [28, 28, 1], 10, 'bench');
  const optimizer = tf.train.sgd(0.05);
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const step = (b: (typeof data)[number]): number => {
    const x = tf.tensor4d(b.x, [b.n, 28, 28, 1]);
    const y = tf.tidy(() => tf.oneHot(tf.tensor1d(b.y, 'int32'), 10));
    const loss = optimizer.minimize(() => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar, true, vars);
    const value = loss?.dataSync()[0] ?? Number.NaN;
    tf.dispose([x, y, ...(loss ? [loss] : [])]);
    return value;
  };
  try {
    step(data[0]!); // warm-up: first-use allocations, kernel setup
    const tensorsBefore = tf.memory().numTensors;
    const timed = data.slice(0, steps ?? data.length);
    let best = Number.POSITIVE_INFINITY;
    for (let r = 0; r < repeats; r++) {
      const t0 = performance.now();
      let last = 0;
      for (const b of timed) last = step(b);
      best = Math.min(best, (performance.now() - t0) / timed.length);
      if (!Number.isFinite(last)) throw new Error(`training diverged (loss ${last})`);
    }
    if (tf.memory().numTensors !== tensorsBefore) console.warn(`  leak: ${tf.memory().numTensors - tensorsBefore} tensors per run`);
    return best;
  } finally {
    optimizer.dispose();
    model.dispose();
  }
}

function fmtMs(ms: number): string {
  return ms >= 10_000 ? `${(ms / 1000).toFixed(0)} s` : ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`;
}

export async function run(args: string[]): Promise<void> {
  const images = intOption(args, 'images', 2000);
  const batchSize = intOption(args, 'batch', 32);
  const repeats = intOption(args, 'repeats', 2);
  const cpuBatches = intOption(args, 'cpu-batches', 3);
  const { train } = loadMnist();
  if (images > train.size) throw new Error(`--images: at most ${train.size} training digits are available`);
  const ds: Dataset = { ...train, x: train.x.subarray(0, images * 784), y: train.y.subarray(0, images), size: images };
  const data = batches(ds, batchSize);
  console.log(`${images} MNIST digits, batch ${batchSize} → ${data.length} SGD steps per epoch; best of ${repeats} epoch(s) per cell`);
  const load = loadavg()[0] ?? 0;
  const cores = availableParallelism();
  console.log(`load average ${load.toFixed(1)} on ${cores} cores${load > cores ? ' — the machine is busy: absolute times are inflated, ratios less so' : ''}\n`);

  const cells: Cell[] = [];
  const variants: Variant[] = ['wasm (tuned)', 'wasm (stock)', 'cpu'];
  for (const { name, spec } of MODELS) {
    for (const variant of variants) {
      await selectVariant(variant);
      const slow = variant === 'cpu' && spec.kind === 'cnn';
      try {
        const msPerStep = await timeSteps(spec, data, slow ? cpuBatches : undefined, slow ? 1 : repeats);
        cells.push({ model: name, variant, epochMs: msPerStep * data.length, ...(slow ? { steps: cpuBatches } : {}) });
      } catch (err) {
        const msg = err instanceof Error ? err.message : String(err);
        if (!/not registered/.test(msg)) throw err;
        cells.push({ model: name, variant, unsupported: msg });
      }
    }
  }
  registerTunedWasmKernels();
  await initRuntime('wasm');

  const rows = [['model', 'backend', 'epoch', 'vs tuned wasm', 'note']];
  for (const c of cells) {
    const base = cells.find((b) => b.model === c.model && b.variant === 'wasm (tuned)')?.epochMs;
    if (c.epochMs === undefined) {
      rows.push([c.model, c.variant, 'unsupported', '—', c.unsupported ?? '']);
      continue;
    }
    const ratio = base === undefined ? '—' : `${(c.epochMs / base).toFixed(c.epochMs / base < 10 ? 2 : 0)}×`;
    const note = c.steps !== undefined ? `extrapolated from ${c.steps} timed batch(es)` : `${fmtMs(c.epochMs / data.length)}/step`;
    rows.push([c.model, c.variant, fmtMs(c.epochMs), ratio, note]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) console.log(r.map((v, i) => (i === rows[0]!.length - 1 ? v : v.padEnd(widths[i]!))).join('  '));
  const backend: BackendName = (await initRuntime('wasm')).backend;
  console.log(`\n(runtime restored to ${backend} with tuned kernels)`);
}
