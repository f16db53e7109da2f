/**
 * UnsortedSegmentSum for the wasm backend, which lacks it; tfjs uses it for the gradient of
 * gather (so embedding layers cannot train on stock wasm). out[s, …] = Σ over rows i with
 * segmentIds[i] = s of x[i, …]; ids outside [0, numSegments) are dropped, as on the cpu backend.
 */
import { UnsortedSegmentSum } from '@tensorflow/tfjs-core';
import type { KernelConfig, TensorInfo, UnsortedSegmentSumAttrs } from '@tensorflow/tfjs-core';
import { fail } from '../../core/errors.js';
import { asWasmBackend, input, type KernelArgs } from './wasm-backend.js';

export function segmentSum(x: Float32Array | Int32Array, ids: Int32Array, inner: number, numSegments: number,
  out: Float32Array | Int32Array): void {
  out.fill(0, 0, numSegments * inner);
  for (let i = 0; i < ids.length; i++) {
    const s = ids[i]!;
    if (s < 0 || s >= numSegments) continue;
    const from = i * inner;
    const to = s * inner;
    for (let j = 0; j < inner; j++) out[to + j]! += x[from + j]!;
  }
}

export function unsortedSegmentSumConfig(): KernelConfig {
  const kernelFunc = ({ inputs, backend, attrs }: KernelArgs): TensorInfo => {
    const name = UnsortedSegmentSum;
    const wasm = asWasmBackend(backend, name);
    const x = input(inputs, 'x', name);
    const segmentIds = input(inputs, 'segmentIds', name);
    const { numSegments } = attrs as unknown as UnsortedSegmentSumAttrs;
    if (x.dtype !== 'float32' && x.dtype !== 'int32') fail('model', `${name} on wasm supports float32 and int32 data, got ${x.dtype}`);
    if (segmentIds.dtype !== 'int32') fail('model', `${name}: segment ids must be int32, got ${segmentIds.dtype}`);
    if (segmentIds.shape.length !== 1 || segmentIds.shape[0] !== x.shape[0]) {
      fail('shape', `${name} on wasm needs one segment id per row: ids [${segmentIds.shape.join(', ')}] for data [${x.shape.join(', ')}]`);
    }
    if (!Number.isInteger(numSegments) || numSegments < 0) fail('shape', `${name}: numSegments must be a non-negative integer, got ${numSegments}`);
    const inner = x.shape.slice(1).reduce((p, d) => p * d, 1);
    const out = wasm.makeOutput([numSegments, ...x.shape.slice(1)], x.dtype);
    const xs = wasm.typedArrayFromHeap(x);
    const ids = wasm.typedArrayFromHeap(segmentIds);
    const os = wasm.typedArrayFromHeap(out);
    if (!(ids instanceof Int32Array) || (!(xs instanceof Float32Array) && !(xs instanceof Int32Array))
      || (!(os instanceof Float32Array) && !(os instanceof Int32Array))) {
      fail('internal', `${name}: unexpected heap views`);
    }
    segmentSum(xs, ids, inner, numSegments, os);
    return out;
  };
  return { kernelName: UnsortedSegmentSum, backendName: 'wasm', kernelFunc };
}
