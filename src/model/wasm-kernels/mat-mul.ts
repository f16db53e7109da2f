/**
 * BatchMatMul / _FusedMatMul for wasm with transpose flags. The stock kernels accept the flags but
 * then run ~15–60× slower than untransposed (measured on 2 cores, Node 20). Backprop through a
 * dense layer always asks for aᵀ·dy and dy·bᵀ, so we transpose the flagged operand explicitly
 * (a cheap copy) and call the stock kernel without flags.
 *
 * The stock _FusedMatMul also adds the bias wrongly when the output has a batch dimension > 1
 * (every row but each batch's first gets the bias's last entry; tfjs 4.22): there we run the
 * product unfused and add bias and activation with the backend's own elementwise kernels.
 */
import { _FusedMatMul, Add, BatchMatMul, Elu, LeakyRelu, Prelu, Relu, Relu6, Sigmoid, getKernel } from '@tensorflow/tfjs-core';
import type { _FusedMatMulAttrs, KernelConfig, KernelFunc, NamedAttrMap, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { fail } from '../../core/errors.js';
import { asWasmBackend, input, release, runStock, type KernelArgs, type StockKernels } from './wasm-backend.js';

function transposeLastTwo(stock: StockKernels, wasm: BackendWasm, t: TensorInfo): TensorInfo {
  const r = t.shape.length;
  const perm = [...Array.from({ length: r - 2 }, (_, i) => i), r - 1, r - 2];
  return runStock(stock.transpose, wasm, { x: t }, { perm });
}

function runWasmKernel(name: string, wasm: BackendWasm, inputs: NamedTensorInfoMap, attrs: NamedAttrMap = {}): TensorInfo {
  const config = getKernel(name, 'wasm');
  if (config === undefined) fail('internal', `the wasm backend has no ${name} kernel`);
  return runStock(config.kernelFunc, wasm, inputs, attrs);
}

/** Bias add + activation as separate kernels (the fallback for batched fused products). */
function biasAndActivation(wasm: BackendWasm, product: TensorInfo, inputs: NamedTensorInfoMap, attrs: _FusedMatMulAttrs): TensorInfo {
  const bias = inputs.bias;
  const biased = bias == null ? product : runWasmKernel(Add, wasm, { a: product, b: bias });
  if (biased !== product) release(wasm, product);
  const unary: Partial<Record<string, string>> = { relu: Relu, relu6: Relu6, elu: Elu, sigmoid: Sigmoid };
  const act = attrs.activation;
  let out: TensorInfo;
  if (act === undefined || act === 'linear') return biased;
  const kernel = unary[act];
  if (kernel !== undefined) out = runWasmKernel(kernel, wasm, { x: biased });
  else if (act === 'leakyrelu') out = runWasmKernel(LeakyRelu, wasm, { x: biased }, { alpha: attrs.leakyreluAlpha ?? 0.2 });
  else if (act === 'prelu') out = runWasmKernel(Prelu, wasm, { x: biased, alpha: input(inputs, 'preluActivationWeights', _FusedMatMul) });
  else fail('model', `activation "${String(act)}" is not supported by fused matMul on wasm`);
  release(wasm, biased);
  return out;
}

function batchSize(a: TensorInfo, b: TensorInfo): number {
  const rank = Math.max(a.shape.length, b.shape.length) - 2;
  let size = 1;
  for (let i = 1; i <= rank; i++) size *= Math.max(a.shape[a.shape.length - 2 - i] ?? 1, b.shape[b.shape.length - 2 - i] ?? 1);
  return size;
}

function untransposing(kernel: string, stockFunc: KernelFunc, stock: StockKernels): KernelFunc {
  return (args: KernelArgs) => {
    const attrs = args.attrs as unknown as _FusedMatMulAttrs;
    const fused = kernel === _FusedMatMul;
    const a = input(args.inputs, 'a', kernel);
    const b = input(args.inputs, 'b', kernel);
    const buggyBias = fused && args.inputs.bias != null && batchSize(a, b) > 1;
    if (!attrs.transposeA && !attrs.transposeB && !buggyBias) return stockFunc(args);
    const wasm = asWasmBackend(args.backend, kernel);
    const temps: TensorInfo[] = [];
    try {
      const a2 = attrs.transposeA ? transposeLastTwo(stock, wasm, a) : a;
      if (attrs.transposeA) temps.push(a2);
      const b2 = attrs.transposeB ? transposeLastTwo(stock, wasm, b) : b;
      if (attrs.transposeB) temps.push(b2);
      if (buggyBias) {
        const product = runStock(stock.batchMatMul, wasm, { a: a2, b: b2 }, { transposeA: false, transposeB: false });
        return biasAndActivation(wasm, product, args.inputs, attrs);
      }
      return stockFunc({
        inputs: { ...args.inputs, a: a2, b: b2 },
        backend: wasm,
        attrs: { ...args.attrs, transposeA: false, transposeB: false },
      });
    } finally {
      release(wasm, ...temps);
    }
  };
}

export function batchMatMulConfig(stock: StockKernels, stockConfig: KernelConfig): KernelConfig {
  return { ...stockConfig, kernelFunc: untransposing(BatchMatMul, stock.batchMatMul, stock) };
}

export function fusedMatMulConfig(stock: StockKernels, stockConfig: KernelConfig): KernelConfig {
  return { ...stockConfig, kernelFunc: untransposing(_FusedMatMul, stock.fusedMatMul, stock) };
}
