/**
 * The tuned wasm training kernels must compute what tfjs's reference cpu backend computes. Both
 * backends live in one process: each case builds its tensors from the same Float32Arrays on one
 * backend, reads the results back, then repeats on the other.
 *
 * Agreement is measured norm-wise, max|wasm − cpu| / max|cpu| ≤ 1e-5: float32 sums taken in a
 * different order legitimately differ by a few ulps per element, which an element-wise relative
 * test would blow up on near-zero entries.
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { SeededRng } from '../../src/core/rng.js';
import { initRuntime, tf, tfl } from '../../src/model/backend.js';
import { col2im, im2colTransposed, type ConvGeometry } from '../../src/model/wasm-kernels/im2col.js';
import { registerTunedWasmKernels, tunedWasmKernels, unregisterTunedWasmKernels } from '../../src/model/wasm-kernels/index.js';

type Backend = 'cpu' | 'wasm';
const TOL = 1e-5;

beforeAll(async () => {
  await initRuntime('cpu');
  await initRuntime('wasm');
});

function randomArray(rng: SeededRng, n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal();
  return a;
}

/** Runs f on a backend; f returns tensors, which come back as plain arrays. */
async function on(backend: Backend, f: () => tf.Tensor[]): Promise<{ shape: number[]; data: Float32Array }[]> {
  await tf.setBackend(backend);
  expect(tf.getBackend()).toBe(backend);
  const outs = tf.tidy(f);
  const result = outs.map((t) => ({ shape: t.shape, data: Float32Array.from(t.dataSync()) }));
  tf.dispose(outs);
  return result;
}

/** Largest absolute difference relative to the largest expected magnitude (or `floor`, if larger). */
function relErr(actual: Float32Array, expected: Float32Array, floor = 0): number {
  let diff = 0;
  let scale = floor;
  for (let i = 0; i < expected.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i]! - expected[i]!));
    scale = Math.max(scale, Math.abs(expected[i]!));
  }
  return scale === 0 ? diff : diff / scale;
}

async function expectSameOnBoth(f: () => tf.Tensor[], { scaleFloor = 0 }: { scaleFloor?: number } = {}): Promise<number> {
  const cpu = await on('cpu', f);
  const wasm = await on('wasm', f);
  expect(wasm.length).toBe(cpu.length);
  let worst = 0;
  cpu.forEach((c, i) => {
    const w = wasm[i]!;
    expect(w.shape).toEqual(c.shape);
    expect(w.data.every(Number.isFinite)).toBe(true);
    worst = Math.max(worst, relErr(w.data, c.data, scaleFloor));
  });
  expect(worst).toBeLessThanOrEqual(TOL);
  return worst;
}

const convCase = fc.record({
  batch: fc.integer({ min: 1, max: 3 }),
  height: fc.integer({ min: 1, max: 9 }),
  width: fc.integer({ min: 1, max: 9 }),
  inChannels: fc.integer({ min: 1, max: 4 }),
  outChannels: fc.integer({ min: 1, max: 4 }),
  kh: fc.integer({ min: 1, max: 5 }),
  kw: fc.integer({ min: 1, max: 5 }),
  sh: fc.constantFrom(1, 2),
  sw: fc.constantFrom(1, 2),
  pad: fc.constantFrom<'same' | 'valid'>('same', 'valid'),
  seed: fc.integer({ min: 0, max: 2 ** 30 }),
}).filter((c) => c.pad === 'same' || (c.kh <= c.height && c.kw <= c.width));

describe('tuned wasm kernels', () => {
  it('are registered on the wasm runtime', () => {
    expect(tunedWasmKernels()).toEqual(
      expect.arrayContaining([
        'Conv2DBackpropFilter', 'Conv2DBackpropInput', 'BatchMatMul', '_FusedMatMul', 'MaxPoolGrad',
        'DepthwiseConv2dNativeBackpropFilter', 'DepthwiseConv2dNativeBackpropInput', 'UnsortedSegmentSum',
      ]),
    );
  });

  it('conv2d filter and input gradients match cpu (strides 1/2, same/valid)', async () => {
    await fc.assert(
      fc.asyncProperty(convCase, async (c) => {
        const rng = SeededRng.from(c.seed, 'conv');
        const xShape = [c.batch, c.height, c.width, c.inChannels] as const;
        const wShape = [c.kh, c.kw, c.inChannels, c.outChannels] as const;
        const xs = randomArray(rng, xShape.reduce((p, d) => p * d, 1));
        const ws = randomArray(rng, wShape.reduce((p, d) => p * d, 1));
        const outShape = tf.tidy(() => tf.conv2d(tf.zeros([...xShape]) as tf.Tensor4D, tf.zeros([...wShape]) as tf.Tensor4D, [c.sh, c.sw], c.pad).shape);
        const dys = randomArray(rng, outShape.reduce((p, d) => p * d, 1));
        await expectSameOnBoth(() => {
          const x = tf.tensor4d(xs, [...xShape]);
          const w = tf.tensor4d(ws, [...wShape]);
          const dy = tf.tensor4d(dys, outShape as [number, number, number, number]);
          // conv2dTranspose runs Conv2DBackpropInput directly; autodiff of conv2d runs both kernels.
          const dx = tf.conv2dTranspose(dy, w, [...xShape], [c.sh, c.sw], c.pad);
          const [gx, gw] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
            tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, [c.sh, c.sw], c.pad), dy)))([x, w]);
          return [dx, gx!, gw!];
        });
      }),
      { numRuns: 60 },
    );
  });

  it('plain and fused matmuls with transpose flags (2-D, batched, broadcast) match cpu', async () => {
    const mmCase = fc.record({
      batch: fc.constantFrom<number[]>([], [1], [3], [2, 2]),
      broadcastB: fc.boolean(),
      m: fc.integer({ min: 1, max: 12 }),
      k: fc.integer({ min: 1, max: 12 }),
      n: fc.integer({ min: 1, max: 12 }),
      ta: fc.boolean(),
      tb: fc.boolean(),
      bias: fc.boolean(),
      activation: fc.constantFrom('linear', 'relu', 'relu6', 'elu', 'sigmoid', 'leakyrelu', 'prelu'),
      seed: fc.integer({ min: 0, max: 2 ** 30 }),
    });
    await fc.assert(
      fc.asyncProperty(mmCase, async (c) => {
        const rng = SeededRng.from(c.seed, 'matmul');
        const aShape = [...c.batch, ...(c.ta ? [c.k, c.m] : [c.m, c.k])];
        const bShape = [...(c.broadcastB ? [] : c.batch), ...(c.tb ? [c.n, c.k] : [c.k, c.n])];
        const as = randomArray(rng, aShape.reduce((p, d) => p * d, 1));
        const bs = randomArray(rng, bShape.reduce((p, d) => p * d, 1));
        const bias = randomArray(rng, c.n);
        const alpha = randomArray(rng, c.n);
        await expectSameOnBoth(() => {
          const a = tf.tensor(as, aShape);
          const b = tf.tensor(bs, bShape);
          const plain = tf.matMul(a, b, c.ta, c.tb);
          const fused = tf.fused.matMul({
            a, b, transposeA: c.ta, transposeB: c.tb,
            bias: c.bias ? tf.tensor1d(bias) : undefined,
            activation: c.activation as tf.fused.Activation,
            preluActivationWeights: c.activation === 'prelu' ? tf.tensor1d(alpha) : undefined,
            leakyreluAlpha: 0.1,
          });
          return [plain, fused];
        });
      }),
      { numRuns: 100 },
    );
  });

  it('max-pool gradients match cpu, ties included', async () => {
    const poolCase = fc.record({
      batch: fc.integer({ min: 1, max: 2 }),
      size: fc.integer({ min: 2, max: 9 }),
      channels: fc.integer({ min: 1, max: 4 }),
      pool: fc.integer({ min: 1, max: 3 }),
      stride: fc.constantFrom(1, 2),
      pad: fc.constantFrom<'same' | 'valid'>('same', 'valid'),
      relu: fc.boolean(),
      seed: fc.integer({ min: 0, max: 2 ** 30 }),
    }).filter((c) => c.pad === 'same' || c.pool <= c.size);
    await fc.assert(
      fc.asyncProperty(poolCase, async (c) => {
        const rng = SeededRng.from(c.seed, 'pool');
        const shape: [number, number, number, number] = [c.batch, c.size, c.size, c.channels];
        const xs = randomArray(rng, shape.reduce((p, d) => p * d, 1));
        // ReLU before the pool makes many exact ties at 0: the gradient must go to the same slot.
        if (c.relu) xs.forEach((v, i) => (xs[i] = Math.max(0, v)));
        await expectSameOnBoth(() => {
          const x = tf.tensor4d(xs, shape);
          const g = tf.grad((a: tf.Tensor) => {
            const p = tf.maxPool(a as tf.Tensor4D, c.pool, c.stride, c.pad);
            return tf.sum(tf.mul(p, tf.reshape(tf.range(1, p.size + 1), p.shape))); // distinct dy per window
          })(x);
          return [g];
        });
      }),
      { numRuns: 60 },
    );
  });

  it('a full small CNN (fused conv+relu, max-pool, dense, softmax cross-entropy) has the cpu gradients', async () => {
    const rng = SeededRng.from(7, 'cnn');
    const batch = 4;
    const shapes = {
      w1: [3, 3, 1, 4], b1: [4], w2: [3, 3, 4, 6], b2: [6], w3: [2 * 2 * 6, 5], b3: [5],
    } as const;
    const values = Object.fromEntries(Object.entries(shapes).map(([k, s]) => [k, randomArray(rng, s.reduce((p, d) => p * d, 1))])) as Record<keyof typeof shapes, Float32Array>;
    const xs = randomArray(rng, batch * 10 * 10);
    const labels = Int32Array.from({ length: batch }, () => rng.int(5));
    const worst = await expectSameOnBoth(() => {
      const params = Object.fromEntries(Object.entries(values).map(([k, v]) => [k, tf.tensor(v, [...shapes[k as keyof typeof shapes]])])) as Record<keyof typeof shapes, tf.Tensor>;
      const x = tf.tensor4d(xs, [batch, 10, 10, 1]);
      const y = tf.oneHot(tf.tensor1d(labels, 'int32'), 5);
      const names = Object.keys(shapes) as (keyof typeof shapes)[];
      const loss = (...p: tf.Tensor[]): tf.Scalar => {
        const [w1, b1, w2, b2, w3, b3] = p as [tf.Tensor4D, tf.Tensor1D, tf.Tensor4D, tf.Tensor1D, tf.Tensor2D, tf.Tensor1D];
        let h: tf.Tensor4D = tf.fused.conv2d({ x, filter: w1, strides: 1, pad: 'same', bias: b1, activation: 'relu' });
        h = tf.maxPool(h, 2, 2, 'valid'); // 5×5
        h = tf.fused.conv2d({ x: h, filter: w2, strides: 2, pad: 'valid', bias: b2, activation: 'relu' }); // 2×2
        const logits = tf.fused.matMul({ a: tf.reshape(h, [batch, 2 * 2 * 6]), b: w3, bias: b3 });
        return tf.losses.softmaxCrossEntropy(y, logits) as tf.Scalar;
      };
      const grads = tf.grads(loss)(names.map((n) => params[n]));
      return [loss(...names.map((n) => params[n])), ...grads];
    });
    expect(worst).toBeLessThanOrEqual(TOL);
  });

  it('depthwise conv filter and input gradients match cpu (multiplier 1–3, strides 1/2, same/valid)', async () => {
    const dwCase = fc.record({
      batch: fc.integer({ min: 1, max: 2 }),
      height: fc.integer({ min: 1, max: 8 }),
      width: fc.integer({ min: 1, max: 8 }),
      channels: fc.integer({ min: 1, max: 4 }),
      multiplier: fc.integer({ min: 1, max: 3 }),
      kh: fc.integer({ min: 1, max: 4 }),
      kw: fc.integer({ min: 1, max: 4 }),
      stride: fc.constantFrom(1, 2),
      pad: fc.constantFrom<'same' | 'valid'>('same', 'valid'),
      seed: fc.integer({ min: 0, max: 2 ** 30 }),
    }).filter((c) => c.pad === 'same' || (c.kh <= c.height && c.kw <= c.width));
    await fc.assert(
      fc.asyncProperty(dwCase, async (c) => {
        const rng = SeededRng.from(c.seed, 'depthwise');
        const xShape: [number, number, number, number] = [c.batch, c.height, c.width, c.channels];
        const wShape: [number, number, number, number] = [c.kh, c.kw, c.channels, c.multiplier];
        const xs = randomArray(rng, xShape.reduce((p, d) => p * d, 1));
        const ws = randomArray(rng, wShape.reduce((p, d) => p * d, 1));
        await expectSameOnBoth(() => {
          const x = tf.tensor4d(xs, xShape);
          const w = tf.tensor4d(ws, wShape);
          const [gx, gw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => {
            const y = tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.stride, c.pad);
            return tf.sum(tf.mul(y, tf.reshape(tf.range(1, y.size + 1), y.shape))); // distinct dy
          })([x, w]);
          return [gx!, gw!];
        });
      }),
      { numRuns: 50 },
    );
  });

  it('unsorted segment sums (gather gradients) match cpu', async () => {
    const segCase = fc.record({
      rows: fc.integer({ min: 1, max: 12 }),
      inner: fc.constantFrom<number[]>([], [3], [2, 2]),
      numSegments: fc.integer({ min: 1, max: 6 }),
      seed: fc.integer({ min: 0, max: 2 ** 30 }),
    });
    await fc.assert(
      fc.asyncProperty(segCase, async (c) => {
        const rng = SeededRng.from(c.seed, 'segments');
        const xs = randomArray(rng, c.rows * c.inner.reduce((p, d) => p * d, 1));
        const ids = Int32Array.from({ length: c.rows }, () => rng.int(c.numSegments));
        const table = randomArray(rng, c.numSegments * 4);
        await expectSameOnBoth(() => {
          const summed = tf.unsortedSegmentSum(tf.tensor(xs, [c.rows, ...c.inner]), tf.tensor1d(ids, 'int32'), c.numSegments);
          // Gradient of gather (what an embedding layer trains through).
          const g = tf.grad((t: tf.Tensor) => tf.sum(tf.square(tf.gather(t, tf.tensor1d(ids, 'int32')))))(tf.tensor2d(table, [c.numSegments, 4]));
          return [summed, g];
          // Sums of up to 12 standard-normal terms can cancel to near 0: compare to the terms' scale, not the sum's.
        }, { scaleFloor: 1 });
      }),
      { numRuns: 50 },
    );
  });

  it('tfjs-layers models beyond the zoo (separable conv, embedding + LSTM, GRU) get the cpu gradients', async () => {
    const rng = SeededRng.from(11, 'layers');
    const models: { build: () => tfl.Sequential; input: () => tf.Tensor }[] = [
      {
        build: () => tfl.sequential({ layers: [
          tfl.layers.separableConv2d({ inputShape: [7, 7, 2], filters: 3, kernelSize: 3, depthMultiplier: 2, strides: 2, padding: 'same', activation: 'relu' }),
          tfl.layers.depthwiseConv2d({ kernelSize: 2 }),
          tfl.layers.flatten(),
          tfl.layers.dense({ units: 4 }),
        ] }),
        input: (() => { const v = randomArray(rng, 2 * 7 * 7 * 2); return () => tf.tensor4d(v, [2, 7, 7, 2]); })(),
      },
      {
        build: () => tfl.sequential({ layers: [
          tfl.layers.embedding({ inputDim: 12, outputDim: 4, inputLength: 6 }),
          tfl.layers.lstm({ units: 5 }),
          tfl.layers.dense({ units: 3 }),
        ] }),
        input: (() => { const v = Int32Array.from({ length: 2 * 6 }, () => rng.int(12)); return () => tf.tensor2d(v, [2, 6], 'int32'); })(),
      },
      {
        build: () => tfl.sequential({ layers: [tfl.layers.gru({ inputShape: [5, 3], units: 4 }), tfl.layers.dense({ units: 2 })] }),
        input: (() => { const v = randomArray(rng, 2 * 5 * 3); return () => tf.tensor3d(v, [2, 5, 3]); })(),
      },
    ];
    for (const { build, input } of models) {
      await tf.setBackend('cpu');
      const reference = build();
      const weights = reference.getWeights().map((w) => ({ shape: w.shape, data: Float32Array.from(w.dataSync()) }));
      reference.dispose();
      await expectSameOnBoth(() => {
        const model = build();
        model.setWeights(weights.map((w) => tf.tensor(w.data, w.shape)));
        const x = input();
        const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(model.apply(x) as tf.Tensor)) as tf.Scalar);
        const out = [value, ...model.trainableWeights.map((w) => grads[(w.read() as tf.Variable).name]!)]; // same order on both
        model.dispose();
        return out;
      });
    }
  });

  it('does not leak wasm buffers across training steps', async () => {
    await tf.setBackend('wasm');
    const w = tf.variable(tf.randomNormal([3, 3, 2, 4]));
    const d = tf.variable(tf.randomNormal([4 * 4 * 4, 3]));
    const x = tf.randomNormal([2, 8, 8, 2]);
    const opt = tf.train.sgd(0.01);
    const step = (): void => {
      const loss = opt.minimize(() => {
        const h = tf.maxPool(tf.relu(tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'same')), 2, 2, 'valid');
        return tf.sum(tf.matMul(tf.reshape(h, [2, 64]), d)) as tf.Scalar;
      }, true);
      loss?.dispose();
    };
    step();
    const backend = tf.engine().backend;
    const before = { tensors: tf.memory().numTensors, buffers: backend.numDataIds() };
    for (let i = 0; i < 3; i++) step();
    expect({ tensors: tf.memory().numTensors, buffers: backend.numDataIds() }).toEqual(before);
    tf.dispose([w, d, x]);
    opt.dispose();
  });

  it('can put the stock kernels back and re-tune (the stock setup runs although the backend started tuned)', async () => {
    await tf.setBackend('wasm');
    // Non-negative inputs: the stock MaxPoolGrad (tfjs 4.22) drops the gradient of windows whose
    // maximum is negative, one reason ours replaces it.
    const x = tf.abs(tf.randomNormal([2, 6, 6, 3]));
    const w = tf.randomNormal([3, 3, 3, 2]);
    const poolGrad = (): Float32Array => tf.tidy(() => tf.grad((a: tf.Tensor) => tf.sum(tf.maxPool(a as tf.Tensor4D, 2, 2, 'valid')))(x).dataSync() as Float32Array);
    const filterGrad = (): Float32Array => tf.tidy(() => tf.grad((f: tf.Tensor) => tf.sum(tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, 1, 'same')))(w).dataSync() as Float32Array);
    const tuned = poolGrad();
    unregisterTunedWasmKernels();
    try {
      expect(tunedWasmKernels()).toEqual([]);
      expect(Array.from(poolGrad())).toEqual(Array.from(tuned)); // stock MaxPoolGrad bound and working
      expect(filterGrad).toThrow(/Conv2DBackpropFilter' not registered/);
    } finally {
      registerTunedWasmKernels();
    }
    expect(filterGrad().every(Number.isFinite)).toBe(true);
    tf.dispose([x, w]);
  });

  it('refuses channels-first convolutions with a clear error', async () => {
    await tf.setBackend('wasm');
    const x = tf.zeros([1, 4, 4, 2]);
    const dy = tf.zeros([1, 4, 4, 3]);
    expect(() => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy },
      { strides: 1, pad: 'same', dataFormat: 'NCHW', filterShape: [3, 3, 2, 3] })).toThrow(/channels-last \(NHWC\)/);
    expect(() => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy },
      { strides: 1, pad: 'same', dataFormat: 'NHWC', filterShape: [3, 3, 5, 3] })).toThrow(/2 channels but the filter expects 5/);
    tf.dispose([x, dy]);
  });
});

describe('im2col / col2im', () => {
  const geometry = fc.record({
    batch: fc.integer({ min: 1, max: 2 }),
    inHeight: fc.integer({ min: 1, max: 7 }),
    inWidth: fc.integer({ min: 1, max: 7 }),
    inChannels: fc.integer({ min: 1, max: 3 }),
    filterHeight: fc.integer({ min: 1, max: 4 }),
    filterWidth: fc.integer({ min: 1, max: 4 }),
    strideHeight: fc.integer({ min: 1, max: 3 }),
    strideWidth: fc.integer({ min: 1, max: 3 }),
    padTop: fc.integer({ min: 0, max: 3 }),
    padLeft: fc.integer({ min: 0, max: 3 }),
    outHeight: fc.integer({ min: 1, max: 6 }),
    outWidth: fc.integer({ min: 1, max: 6 }),
  });

  it('col2im is the adjoint of im2col: <im2col(x), c> = <x, col2im(c)>', () => {
    fc.assert(
      fc.property(geometry, fc.integer({ min: 0, max: 2 ** 30 }), (g: ConvGeometry, seed) => {
        const rng = SeededRng.from(seed, 'adjoint');
        const k = g.filterHeight * g.filterWidth * g.inChannels;
        const n = g.batch * g.outHeight * g.outWidth;
        const x = randomArray(rng, g.batch * g.inHeight * g.inWidth * g.inChannels);
        const colsT = new Float32Array(k * n);
        im2colTransposed(x, g, colsT);
        const c = randomArray(rng, n * k); // row-major N × K
        const back = new Float32Array(x.length).fill(Number.NaN); // col2im must overwrite
        col2im(c, g, back);
        let lhs = 0;
        let rhs = 0;
        for (let row = 0; row < k; row++) for (let col = 0; col < n; col++) lhs += colsT[row * n + col]! * c[col * k + row]!;
        for (let i = 0; i < x.length; i++) rhs += x[i]! * back[i]!;
        expect(Math.abs(lhs - rhs)).toBeLessThanOrEqual(1e-4 * (1 + Math.abs(lhs)));
      }),
      { numRuns: 200 },
    );
  });

  it('im2col places padding zeros and pixels where the convolution reads them', () => {
    // 1×3×3×1 image 1..9, 2×2 filter, stride 1, one pixel of padding on top/left, 3×3 output.
    const g: ConvGeometry = {
      batch: 1, inHeight: 3, inWidth: 3, inChannels: 1, outHeight: 3, outWidth: 3,
      filterHeight: 2, filterWidth: 2, strideHeight: 1, strideWidth: 1, padTop: 1, padLeft: 1,
    };
    const out = new Float32Array(4 * 9);
    im2colTransposed(Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]), g, out);
    // Row k = (kh, kw): the pixel each output position multiplies with filter tap (kh, kw).
    expect(Array.from(out.subarray(0, 9))).toEqual([0, 0, 0, 0, 1, 2, 0, 4, 5]); // tap (0,0)
    expect(Array.from(out.subarray(9, 18))).toEqual([0, 0, 0, 1, 2, 3, 4, 5, 6]); // tap (0,1)
    expect(Array.from(out.subarray(18, 27))).toEqual([0, 1, 2, 0, 4, 5, 0, 7, 8]); // tap (1,0)
    expect(Array.from(out.subarray(27, 36))).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]); // tap (1,1)
  });
});
