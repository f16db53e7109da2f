/**
 * Backend selection: 'auto' picks the tuned wasm backend here (tfjs-node cannot be installed on
 * these machines), explicit choices switch backends, unknown or unavailable ones fail with an
 * actionable FedsecError, and a worker_thread gets its own working runtime.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { FedsecError } from '../../src/core/errors.js';
import { initRuntime, tf, type BackendPreference } from '../../src/model/backend.js';
import { installChainedOps } from '../../src/model/chained-ops.js';

const TUNED = ['Conv2DBackpropFilter', 'Conv2DBackpropInput', 'BatchMatMul', '_FusedMatMul', 'MaxPoolGrad'];

function nativeInstalled(): boolean {
  try {
    createRequire(import.meta.url).resolve('@tensorflow/tfjs-node');
    return true;
  } catch {
    return false;
  }
}

/** Filter gradient of a tiny strided conv: needs Conv2DBackpropFilter, which stock wasm lacks. */
function convFilterGrad(): number[] {
  return tf.tidy(() => {
    const x = tf.div(tf.reshape(tf.range(0, 2 * 5 * 5 * 2), [2, 5, 5, 2]), 10) as tf.Tensor4D;
    const w = tf.div(tf.reshape(tf.range(0, 3 * 3 * 2 * 3), [3, 3, 2, 3]), -7) as tf.Tensor4D;
    const g = tf.grad((f: tf.Tensor) => tf.sum(tf.square(tf.conv2d(x, f as tf.Tensor4D, 2, 'same'))))(w);
    return Array.from(g.dataSync());
  });
}

function maxRelDiff(a: number[], b: number[]): number {
  const scale = Math.max(...b.map(Math.abs));
  return Math.max(...a.map((v, i) => Math.abs(v - b[i]!))) / scale;
}

describe('initRuntime', () => {
  it.skipIf(nativeInstalled())('auto picks the tuned wasm backend when tfjs-node is absent, and is idempotent', async () => {
    const first = await initRuntime();
    expect(first.backend).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(first.tunedKernels).toEqual(expect.arrayContaining(TUNED));
    expect(first.notes).toEqual([]); // a missing optional package is not worth a note
    const kernel = tf.getKernel('BatchMatMul', 'wasm');
    const again = await initRuntime('auto');
    expect(again).toEqual(first);
    expect(tf.getKernel('BatchMatMul', 'wasm')).toBe(kernel); // not re-registered
    expect(convFilterGrad().every(Number.isFinite)).toBe(true);
  });

  it('switches between explicit backends and back', async () => {
    expect((await initRuntime('cpu')).backend).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
    const onCpu = convFilterGrad();
    const wasm = await initRuntime('wasm');
    expect(wasm.backend).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    const onWasm = convFilterGrad();
    expect(onWasm).toHaveLength(onCpu.length);
    expect(maxRelDiff(onWasm, onCpu)).toBeLessThan(1e-5);
    expect((await initRuntime('cpu')).tunedKernels).toEqual([]);
    await initRuntime('wasm');
  });

  it.skipIf(nativeInstalled())('explicit "tensorflow" without tfjs-node fails with what to install', async () => {
    const err = await initRuntime('tensorflow').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FedsecError);
    expect((err as FedsecError).code).toBe('config');
    expect((err as FedsecError).message).toMatch(/@tensorflow\/tfjs-node.*4\.22\.0/);
    expect(tf.getBackend()).not.toBe('tensorflow');
  });

  it('rejects an unknown backend name', async () => {
    const err = await initRuntime('gpu' as BackendPreference).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FedsecError);
    expect((err as FedsecError).message).toMatch(/unknown backend "gpu".*auto, tensorflow, wasm, cpu/);
  });

  it('installs method-style tensor ops once (tfjs-layers needs some, e.g. .flatten())', async () => {
    await initRuntime('wasm');
    expect(installChainedOps()).toBe(0); // backend.ts already installed them
    type Chained = tf.Tensor & { flatten(): tf.Tensor; reshape(s: number[]): tf.Tensor; concat(x: tf.Tensor, axis?: number): tf.Tensor };
    const t = tf.tensor2d([[1, 2, 3], [4, 5, 6]]) as Chained;
    expect(t.flatten().shape).toEqual([6]);
    expect(Array.from(t.reshape([3, 2]).dataSync())).toEqual([1, 2, 3, 4, 5, 6]);
    expect(t.concat(t, 0).shape).toEqual([4, 3]);
    t.dispose();
    expect(() => t.flatten()).toThrow(/disposed/);
  });

  it('works inside a worker_thread (its own engine), with the same results as the main thread', async () => {
    await initRuntime('wasm');
    const expected = convFilterGrad();
    // The worker imports the TypeScript source through tsx's API (an eval worker ignores --import).
    const code = `
      const { parentPort, workerData } = require('node:worker_threads');
      import('tsx/esm/api').then((tsx) => tsx.tsImport(workerData.url, workerData.url)).then(async (m) => {
        const a = await m.initRuntime();
        const b = await m.initRuntime();
        const x = m.tf.div(m.tf.reshape(m.tf.range(0, 2 * 5 * 5 * 2), [2, 5, 5, 2]), 10);
        const w = m.tf.div(m.tf.reshape(m.tf.range(0, 3 * 3 * 2 * 3), [3, 3, 2, 3]), -7);
        const g = m.tf.grad((f) => m.tf.sum(m.tf.square(m.tf.conv2d(x, f, 2, 'same'))))(w);
        parentPort.postMessage({ a, b, grad: Array.from(g.dataSync()) });
      }).catch((e) => parentPort.postMessage({ error: String(e && e.stack || e) }));`;
    const url = new URL('../../src/model/backend.ts', import.meta.url).href;
    const worker = new Worker(code, { eval: true, workerData: { url } });
    try {
      const reply = await new Promise<{ a?: { backend: string; tunedKernels: string[] }; b?: unknown; grad?: number[]; error?: string }>(
        (resolve, reject) => {
          worker.once('message', resolve);
          worker.once('error', reject);
        },
      );
      expect(reply.error).toBeUndefined();
      expect(reply.a?.backend).toBe(nativeInstalled() ? 'tensorflow' : 'wasm');
      expect(reply.b).toEqual(reply.a);
      expect(reply.grad).toHaveLength(expected.length);
      expect(maxRelDiff(reply.grad ?? [], expected)).toBe(0); // same backend, same kernels: bit-identical
    } finally {
      await worker.terminate();
    }
  });
});
