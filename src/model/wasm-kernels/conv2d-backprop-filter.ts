/**
 * Conv2DBackpropFilter for the wasm backend, which ships none (so conv nets cannot train on it).
 * dW = colsᵀ · dy: patches are written already transposed (K × N) so the backend's matmul runs
 * its fast untransposed path, and the [K, Co] product is the [KH, KW, Ci, Co] filter as is.
 */
import { Conv2DBackpropFilter } from '@tensorflow/tfjs-core';
import type { Conv2DBackpropFilterAttrs, KernelConfig, TensorInfo } from '@tensorflow/tfjs-core';
import { fail } from '../../core/errors.js';
import { asShape4, convGeometry, sameShape } from './conv-geometry.js';
import { im2colTransposed, outputPositions, patchSize } from './im2col.js';
import {
  asWasmBackend, heapF32, input, release, requireFloat32, runStock, withShape, type KernelArgs, type StockKernels,
} from './wasm-backend.js';

export function conv2dBackpropFilterConfig(stock: StockKernels): KernelConfig {
  const kernelFunc = ({ inputs, backend, attrs }: KernelArgs): TensorInfo => {
    const name = Conv2DBackpropFilter;
    const wasm = asWasmBackend(backend, name);
    const x = input(inputs, 'x', name);
    const dy = input(inputs, 'dy', name);
    requireFloat32(name, x, dy);
    const a = attrs as unknown as Conv2DBackpropFilterAttrs;
    const filterShape = asShape4(a.filterShape, 'filterShape', name);
    const { geometry, outShape } = convGeometry(name, asShape4(x.shape, 'x', name), filterShape, a);
    if (!sameShape(dy.shape, outShape)) {
      fail('shape', `${name}: dy has shape [${dy.shape.join(', ')}], expected [${outShape.join(', ')}]`);
    }
    const k = patchSize(geometry);
    const n = outputPositions(geometry);
    const cols = wasm.makeOutput([k, n], 'float32');
    try {
      im2colTransposed(heapF32(wasm, x), geometry, heapF32(wasm, cols));
      const dw = runStock(stock.batchMatMul, wasm, { a: cols, b: withShape(dy, [n, filterShape[3]]) },
        { transposeA: false, transposeB: false });
      return withShape(dw, filterShape);
    } finally {
      release(wasm, cols);
    }
  };
  return { kernelName: Conv2DBackpropFilter, backendName: 'wasm', kernelFunc };
}
