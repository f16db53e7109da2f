/**
 * The small slice of the wasm backend our kernels use: allocate outputs on the wasm heap, view
 * them as Float32Array, release temporaries, and call the backend's own kernels directly (the way
 * its built-in kernels compose each other) so intermediates never enter the engine's tape.
 */
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { KernelFunc, NamedAttrMap, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs-core';
import { fail } from '../../core/errors.js';

/** Stock kernels captured before we replace any, so wrappers can delegate to the originals. */
export interface StockKernels {
  batchMatMul: KernelFunc;
  fusedMatMul: KernelFunc;
  transpose: KernelFunc;
  conv2d: KernelFunc;
}

export type KernelArgs = Parameters<KernelFunc>[0];

export function asWasmBackend(backend: unknown, kernel: string): BackendWasm {
  const b = backend as Partial<BackendWasm> | null;
  if (b == null || typeof b.makeOutput !== 'function' || typeof b.typedArrayFromHeap !== 'function') {
    fail('internal', `${kernel}: the tuned kernel was called with a backend that is not tfjs-backend-wasm`);
  }
  return b as BackendWasm;
}

export function input(inputs: NamedTensorInfoMap, name: string, kernel: string): TensorInfo {
  const t = inputs[name];
  if (t == null) fail('internal', `${kernel}: missing input "${name}"`);
  return t;
}

export function requireFloat32(kernel: string, ...tensors: TensorInfo[]): void {
  for (const t of tensors) {
    if (t.dtype !== 'float32') {
      fail('model', `${kernel} on wasm supports float32 tensors only, got ${t.dtype}`, 'cast inputs to float32');
    }
  }
}

/** Same buffer, another shape (a free reshape; never dispose an alias). */
export function withShape(t: TensorInfo, shape: number[]): TensorInfo {
  return { dataId: t.dataId, shape, dtype: t.dtype };
}

/**
 * A live view of a float32 tensor on the wasm heap. Any allocation may grow (and so detach) the
 * heap, so take views only after every allocation of the current step.
 */
export function heapF32(backend: BackendWasm, t: TensorInfo): Float32Array {
  const view = backend.typedArrayFromHeap(t);
  if (!(view instanceof Float32Array)) fail('internal', `expected a float32 heap view, got ${t.dtype}`);
  return view;
}

export function runStock(f: KernelFunc, backend: BackendWasm, inputs: NamedTensorInfoMap, attrs: NamedAttrMap): TensorInfo {
  const out = f({ inputs, backend, attrs });
  if (Array.isArray(out)) {
    const first = out[0];
    if (out.length !== 1 || first == null) fail('internal', 'expected a single-output kernel');
    return first;
  }
  return out;
}

export function release(backend: BackendWasm, ...tensors: TensorInfo[]): void {
  for (const t of tensors) backend.disposeData(t.dataId);
}
