/**
 * Training kernels we register on tfjs's wasm backend (4.22): the ones it lacks
 * (Conv2DBackpropFilter, depthwise conv backprop, UnsortedSegmentSum for gather/embedding
 * gradients), the ones it runs slowly (Conv2DBackpropInput, BatchMatMul/_FusedMatMul
 * with transpose flags) and the ones it gets wrong (MaxPoolGrad for negative windows, batched
 * _FusedMatMul with a bias).
 *
 * Registration gotchas handled here: tfjs keeps one kernel per (name, backend), so an existing
 * kernel must be unregistered before ours goes in; wrappers delegate to the stock kernelFunc
 * captured first; and replaced configs keep the stock setupFunc, because the stock kernelFunc
 * relies on it (it binds the wasm export) and tfjs only runs setupFuncs of kernels registered at
 * the time the backend is (re)selected.
 */
import { _FusedMatMul, BatchMatMul, Conv2D, Transpose, engine, getKernel, registerKernel, unregisterKernel } from '@tensorflow/tfjs-core';
import type { KernelConfig } from '@tensorflow/tfjs-core';
import { fail } from '../../core/errors.js';
import { conv2dBackpropFilterConfig } from './conv2d-backprop-filter.js';
import { conv2dBackpropInputConfig } from './conv2d-backprop-input.js';
import { batchMatMulConfig, fusedMatMulConfig } from './mat-mul.js';
import { depthwiseBackpropFilterConfig, depthwiseBackpropInputConfig } from './depthwise-conv2d-backprop.js';
import { maxPoolGradConfig } from './max-pool-grad.js';
import { unsortedSegmentSumConfig } from './unsorted-segment-sum.js';
import type { StockKernels } from './wasm-backend.js';

const BACKEND = 'wasm';

/** Stock configs we replaced (undefined: the name was not registered before us). */
let replaced: Map<string, KernelConfig | undefined> | undefined;

function stockConfig(name: string): KernelConfig {
  const config = getKernel(name, BACKEND);
  if (config === undefined) {
    fail('internal', `the wasm backend has no ${name} kernel`,
      'import @tensorflow/tfjs-backend-wasm (same version as @tensorflow/tfjs-core) before registering tuned kernels');
  }
  return config;
}

/**
 * Registers the tuned training kernels for 'wasm' (idempotent) and returns their names. Works
 * before or after the wasm backend is initialised.
 */
export function registerTunedWasmKernels(): string[] {
  if (replaced !== undefined) return [...replaced.keys()];
  const stockBmm = stockConfig(BatchMatMul);
  const stockFused = stockConfig(_FusedMatMul);
  const stock: StockKernels = {
    batchMatMul: stockBmm.kernelFunc,
    fusedMatMul: stockFused.kernelFunc,
    transpose: stockConfig(Transpose).kernelFunc,
    conv2d: stockConfig(Conv2D).kernelFunc,
  };
  const tuned = [
    conv2dBackpropFilterConfig(stock),
    conv2dBackpropInputConfig(stock),
    batchMatMulConfig(stock, stockBmm),
    fusedMatMulConfig(stock, stockFused),
    maxPoolGradConfig(),
    depthwiseBackpropFilterConfig(),
    depthwiseBackpropInputConfig(),
    unsortedSegmentSumConfig(),
  ];
  const saved = new Map<string, KernelConfig | undefined>();
  for (const config of tuned) {
    const previous = getKernel(config.kernelName, BACKEND);
    if (previous !== undefined) unregisterKernel(config.kernelName, BACKEND);
    registerKernel(config);
    saved.set(config.kernelName, previous);
  }
  replaced = saved;
  return [...saved.keys()];
}

/** Puts the stock kernels back (for benchmarks and tests that compare against stock wasm). */
export function unregisterTunedWasmKernels(): void {
  if (replaced === undefined) return;
  for (const [name, previous] of replaced) {
    unregisterKernel(name, BACKEND);
    if (previous === undefined) continue;
    registerKernel(previous);
    // If the backend started while ours was registered, the stock setup (binding its wasm
    // export) never ran, and tfjs will not run it until the backend is selected again.
    // (engine().registry holds started backends only; findBackend would start one.)
    const backend = engine().registry[BACKEND];
    if (backend !== undefined && previous.setupFunc !== undefined) previous.setupFunc(backend);
  }
  replaced = undefined;
}

export function tunedWasmKernels(): string[] {
  return replaced === undefined ? [] : [...replaced.keys()];
}
