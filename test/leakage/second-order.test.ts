import { beforeAll, describe, expect, it } from 'vitest';
import { SeededRng } from '../../src/core/rng.js';
import { initRuntime, tf, tfl } from '../../src/model/backend.js';
import { LocalModel } from '../../src/model/local-model.js';
import { forwardLogits, parameterGradients, softCrossEntropy } from '../../src/attacks/privacy/gradients.js';
import { invertGradient } from '../../src/attacks/privacy/gradient-inversion.js';
import { ensureSecondOrderGradients } from '../../src/attacks/privacy/second-order.js';
import { buildVictimModel, type VictimModelSpec } from '../../src/attacks/privacy/victim-models.js';
import { FedsecError } from '../../src/core/errors.js';

function expectClose(a: ArrayLike<number>, b: ArrayLike<number>, tol: number): void {
  expect(a.length).toBe(b.length);
  let scale = 0;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]!));
  for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - b[i]!)).toBeLessThanOrEqual(tol * Math.max(1, scale));
}

beforeAll(async () => {
  await initRuntime('wasm');
  ensureSecondOrderGradients();
});

// ---- float64 reference for a 1-hidden-layer sigmoid MLP (tfjs kernel layout [in, out]) --------
interface Net { d: number; h: number; c: number; w1: number[]; b1: number[]; w2: number[]; b2: number[] }

const sigmoid = (a: number): number => 1 / (1 + Math.exp(-a));

/** ∂ℓ/∂θ (layout order: w1, b1, w2, b2) of softmax cross-entropy for one example, in doubles. */
function refGradient(n: Net, x: number[], y: number | number[]): number[] {
  const t = typeof y === 'number' ? Array.from({ length: n.c }, (_, k) => (k === y ? 1 : 0)) : y;
  const hid = Array.from({ length: n.h }, (_, j) => sigmoid(n.b1[j]! + x.reduce((s, xi, i) => s + xi * n.w1[i * n.h + j]!, 0)));
  const z = Array.from({ length: n.c }, (_, k) => n.b2[k]! + hid.reduce((s, hj, j) => s + hj * n.w2[j * n.c + k]!, 0));
  const m = Math.max(...z);
  const e = z.map((v) => Math.exp(v - m));
  const tot = e.reduce((a, b) => a + b, 0);
  const d2 = e.map((v, k) => v / tot - t[k]!);
  const d1 = hid.map((hj, j) => d2.reduce((s, dk, k) => s + n.w2[j * n.c + k]! * dk, 0) * hj * (1 - hj));
  const gw1 = x.flatMap((xi) => d1.map((dj) => xi * dj));
  const gw2 = hid.flatMap((hj) => d2.map((dk) => hj * dk));
  return [...gw1, ...d1, ...gw2, ...d2];
}

const softmax = (l: number[]): number[] => {
  const m = Math.max(...l);
  const e = l.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
};

function refMatchLoss(n: Net, x: number[], y: number | number[], target: number[]): number {
  return refGradient(n, x, y).reduce((s, g, i) => s + (g - target[i]!) ** 2, 0);
}

describe('second-order gradients through tfjs (gradient matching)', () => {
  it('∂/∂x of ‖∇θℓ(x) − G‖² for a sigmoid MLP matches float64 finite differences', async () => {
    const rng = SeededRng.from('second-order-mlp');
    const n: Net = { d: 5, h: 4, c: 3, w1: [], b1: [], w2: [], b2: [] };
    const u = (): number => 2 * rng.next() - 1;
    n.w1 = Array.from({ length: n.d * n.h }, u);
    n.b1 = Array.from({ length: n.h }, u);
    n.w2 = Array.from({ length: n.h * n.c }, () => 2 * u());
    n.b2 = Array.from({ length: n.c }, u);
    const model = await buildVictimModel({ kind: 'mlp', hidden: [n.h], activation: 'sigmoid' }, [n.d], n.c, 1);
    model.setParams(Float32Array.from([...n.w1, ...n.b1, ...n.w2, ...n.b2]));
    const x = Array.from({ length: n.d }, () => rng.next());
    const y = 1;
    const target = refGradient(n, Array.from({ length: n.d }, () => rng.next()), 2);

    const analytic = tf.tidy(() => {
      const targets = model.layout.entries.map((e) => tf.tensor(target.slice(e.offset, e.offset + e.size), [...e.shape]));
      const onehot = tf.oneHot(tf.tensor1d([y], 'int32'), n.c);
      const f = (xt: tf.Tensor): tf.Scalar => {
        const g = parameterGradients(model, xt, onehot);
        return tf.addN(g.map((gi, i) => tf.sum(tf.square(tf.sub(gi, targets[i]!))))) as tf.Scalar;
      };
      return tf.grad(f)(tf.tensor2d([x]));
    });
    const got = Array.from(analytic.dataSync());
    analytic.dispose();
    const h = 1e-6;
    const numeric = x.map((_, i) => {
      const xp = [...x];
      const xm = [...x];
      xp[i]! += h;
      xm[i]! -= h;
      return (refMatchLoss(n, xp, y, target) - refMatchLoss(n, xm, y, target)) / (2 * h);
    });
    const scale = Math.max(...numeric.map(Math.abs));
    expect(scale).toBeGreaterThan(1e-3); // the check is not vacuous
    numeric.forEach((v, i) => expect(Math.abs(got[i]! - v)).toBeLessThan(2e-3 * scale));
    model.dispose();
  });

  it('∂/∂(label logits) of the DLG loss (soft labels) matches float64 finite differences', async () => {
    const rng = SeededRng.from('second-order-labels');
    const u = (): number => 2 * rng.next() - 1;
    const n: Net = { d: 4, h: 3, c: 3, w1: [], b1: [], w2: [], b2: [] };
    n.w1 = Array.from({ length: n.d * n.h }, u);
    n.b1 = Array.from({ length: n.h }, u);
    n.w2 = Array.from({ length: n.h * n.c }, () => 2 * u());
    n.b2 = Array.from({ length: n.c }, u);
    const model = await buildVictimModel({ kind: 'mlp', hidden: [n.h], activation: 'tanh' }, [n.d], n.c, 2);
    model.setParams(Float32Array.from([...n.w1, ...n.b1, ...n.w2, ...n.b2]));
    // The reference above is sigmoid; use tanh in both by swapping the activation of the reference.
    const tanhNet = (x: number[], t: number[]): number[] => {
      const hid = Array.from({ length: n.h }, (_, j) => Math.tanh(n.b1[j]! + x.reduce((s, xi, i) => s + xi * n.w1[i * n.h + j]!, 0)));
      const z = Array.from({ length: n.c }, (_, k) => n.b2[k]! + hid.reduce((s, hj, j) => s + hj * n.w2[j * n.c + k]!, 0));
      const p = softmax(z);
      const d2 = p.map((v, k) => v - t[k]!);
      const d1 = hid.map((hj, j) => d2.reduce((s, dk, k) => s + n.w2[j * n.c + k]! * dk, 0) * (1 - hj * hj));
      return [...x.flatMap((xi) => d1.map((dj) => xi * dj)), ...d1, ...hid.flatMap((hj) => d2.map((dk) => hj * dk)), ...d2];
    };
    const x = Array.from({ length: n.d }, () => rng.next());
    const labels = [0.3, -0.2, 0.5];
    const target = tanhNet(Array.from({ length: n.d }, () => rng.next()), [0, 0, 1]);
    const loss = (l: number[]): number => tanhNet(x, softmax(l)).reduce((s, g, i) => s + (g - target[i]!) ** 2, 0);
    const [gx, gl] = tf.tidy(() => {
      const targets = model.layout.entries.map((e) => tf.tensor(target.slice(e.offset, e.offset + e.size), [...e.shape]));
      const f = (xt: tf.Tensor, lt: tf.Tensor): tf.Scalar => {
        const g = parameterGradients(model, xt, tf.softmax(lt));
        return tf.addN(g.map((gi, i) => tf.sum(tf.square(tf.sub(gi, targets[i]!))))) as tf.Scalar;
      };
      return tf.grads(f)([tf.tensor2d([x]), tf.tensor2d([labels])]);
    });
    const got = Array.from(gl!.dataSync());
    tf.dispose([gx!, gl!]);
    const h = 1e-6;
    const numeric = labels.map((_, k) => {
      const lp = [...labels];
      const lm = [...labels];
      lp[k]! += h;
      lm[k]! -= h;
      return (loss(lp) - loss(lm)) / (2 * h);
    });
    const scale = Math.max(...numeric.map(Math.abs));
    expect(scale).toBeGreaterThan(1e-3);
    numeric.forEach((v, k) => expect(Math.abs(got[k]! - v)).toBeLessThan(2e-3 * scale));
    model.dispose();
  });

  it('replays the model exactly: logits, loss and first-order gradients equal tfjs-layers + LocalModel.lossFn', async () => {
    const specs: VictimModelSpec[] = [{ kind: 'lenet', channels: 3, activation: 'sigmoid' }, { kind: 'mlp', hidden: [7, 5], activation: 'relu' }, { kind: 'zoo', spec: { kind: 'mlp', hidden: [6] } }];
    for (const spec of specs) {
      const model = await buildVictimModel(spec, [12, 12, 1], 4, 'replay');
      const rng = SeededRng.from('replay', spec.kind);
      const x = tf.tensor(Float32Array.from({ length: 3 * 144 }, () => rng.next()), [3, 12, 12, 1]);
      const y = tf.oneHot(tf.tensor1d([0, 3, 1], 'int32'), 4);
      const ours = tf.tidy(() => forwardLogits(model, x));
      const theirs = tf.tidy(() => model.model.apply(x) as tf.Tensor);
      expectClose(ours.dataSync(), theirs.dataSync(), 1e-5);
      const l1 = tf.tidy(() => softCrossEntropy(ours, y)).dataSync()[0]!;
      const l2 = tf.tidy(() => model.lossFn(theirs, y)).dataSync()[0]!;
      expect(Math.abs(l1 - l2)).toBeLessThan(1e-5);
      const g1 = tf.tidy(() => parameterGradients(model, x, y));
      const vars = model.model.weights.map((w) => w.read() as tf.Variable);
      const { grads } = tf.variableGrads(() => model.lossFn(model.model.apply(x) as tf.Tensor, y), vars);
      vars.forEach((v, i) => expectClose(g1[i]!.dataSync(), grads[v.name]!.dataSync(), 1e-5));
      tf.dispose([x, y, ours, theirs, ...g1, ...Object.values(grads)]);
      model.dispose();
    }
  });

  it('the registered Conv2DBackpropFilter gradient is exact (bilinear ⇒ central differences are exact)', () => {
    const rng = SeededRng.from('bf');
    const rand = (shape: number[]): tf.Tensor => tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.next() - 0.5), shape);
    for (const [stride, pad] of [[1, 'same'], [2, 'same'], [1, 'valid'], [2, 'valid']] as const) {
      const x = rand([2, 7, 7, 2]);
      const w0 = rand([3, 3, 2, 3]);
      const outShape = tf.conv2d(x as tf.Tensor4D, w0 as tf.Tensor4D, stride, pad).shape;
      const dy = rand(outShape);
      const G = rand([3, 3, 2, 3]);
      // f(x, dy) = ⟨G, ∂⟨dy, conv(x, W)⟩/∂W⟩ — the inner gradient is the Conv2DBackpropFilter op.
      const f = (xx: tf.Tensor, dd: tf.Tensor): tf.Scalar => {
        const bf = tf.grad((w: tf.Tensor) => tf.sum(tf.mul(dd, tf.conv2d(xx as tf.Tensor4D, w as tf.Tensor4D, stride, pad))))(w0);
        return tf.sum(tf.mul(G, bf));
      };
      const [gx, gdy] = tf.grads(f)([x, dy]);
      const vx = rand(x.shape);
      const vdy = rand(dy.shape);
      const dirX = (f(tf.add(x, vx), dy).dataSync()[0]! - f(tf.sub(x, vx), dy).dataSync()[0]!) / 2;
      const dirDy = (f(x, tf.add(dy, vdy)).dataSync()[0]! - f(x, tf.sub(dy, vdy)).dataSync()[0]!) / 2;
      const ax = tf.sum(tf.mul(gx!, vx)).dataSync()[0]!;
      const ady = tf.sum(tf.mul(gdy!, vdy)).dataSync()[0]!;
      expect(Math.abs(dirX)).toBeGreaterThan(1e-2);
      expect(Math.abs(ax - dirX)).toBeLessThan(1e-4 * Math.max(1, Math.abs(dirX)));
      expect(Math.abs(ady - dirDy)).toBeLessThan(1e-4 * Math.max(1, Math.abs(dirDy)));
    }
  });

  it('gradient matching through a strided-conv sigmoid net agrees with finite differences', async () => {
    const model = await buildVictimModel({ kind: 'lenet', channels: 2, activation: 'sigmoid' }, [8, 8, 1], 3, 'conv-fd');
    const rng = SeededRng.from('conv-fd');
    const img = (): Float32Array => Float32Array.from({ length: 64 }, () => rng.next());
    const x0 = img();
    const targets = tf.tidy(() => parameterGradients(model, tf.tensor(img(), [1, 8, 8, 1]), tf.oneHot(tf.tensor1d([0], 'int32'), 3)).map((t) => tf.keep(t)));
    const onehot = tf.oneHot(tf.tensor1d([2], 'int32'), 3);
    const f = (xt: tf.Tensor): tf.Scalar => tf.tidy(() => {
      const g = parameterGradients(model, xt, onehot);
      return tf.addN(g.map((gi, i) => tf.sum(tf.square(tf.sub(gi, targets[i]!))))) as tf.Scalar;
    });
    const grad = tf.grad(f)(tf.tensor(x0, [1, 8, 8, 1])).dataSync();
    const v = Float32Array.from({ length: 64 }, () => rng.next() - 0.5);
    const h = 1e-2;
    const at = (s: number): number => f(tf.tensor(x0.map((xi, i) => xi + s * v[i]!), [1, 8, 8, 1])).dataSync()[0]!;
    const numeric = (at(h) - at(-h)) / (2 * h);
    const analytic = v.reduce((s, vi, i) => s + vi * grad[i]!, 0);
    expect(Math.abs(numeric)).toBeGreaterThan(1e-6);
    expect(Math.abs(analytic - numeric)).toBeLessThan(0.01 * Math.abs(numeric));
    tf.dispose([...targets, onehot]);
    model.dispose();
  });

  it('a model with pooling fails with an actionable error (tfjs has no second-order MaxPool gradient)', async () => {
    const net = tfl.sequential({
      layers: [
        tfl.layers.conv2d({ inputShape: [8, 8, 1], filters: 2, kernelSize: 3, activation: 'sigmoid', padding: 'same' }),
        tfl.layers.maxPooling2d({ poolSize: 2 }),
        tfl.layers.flatten(),
        tfl.layers.dense({ units: 3 }),
      ],
    });
    const model = LocalModel.wrap(net, [8, 8, 1], 3);
    const observed = Float32Array.from({ length: model.layout.size }, (_, i) => Math.sin(i) * 1e-2);
    let err: unknown;
    try {
      invertGradient(model, observed, { batchSize: 1, labels: [0], distance: 'l2', tv: 0, optimizer: { kind: 'lbfgs', iterations: 2 }, rng: SeededRng.from(1) });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FedsecError);
    expect(String((err as Error).message)).toMatch(/MaxPooling2D.*second-order.*lenet/s);
    model.dispose();
  });
});
