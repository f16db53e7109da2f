/**
 * Conv2DBackpropInput for the wasm backend (gradient w.r.t. a convolution's input, also the
 * forward pass of conv2dTranspose). The stock kernel is a direct loop; this one is one fast matmul
 * dCols = dy · Wᵀ (N × K) followed by col2im's scatter-add back onto the NHWC grid.
 */
import { Conv2DBackpropInput } from '@tensorflow/tfjs-core';
import type { Conv2DBackpropInputAttrs, KernelConfig, TensorInfo } from '@tensorflow/tfjs-core';
import { fail } from '../../core/errors.js';
import { asShape4, convGeometry, sameShape } from './conv-geometry.js';
import { col2im, outputPositions, patchSize } from './im2col.js';
import {
  asWasmBackend, heapF32, input, release, requireFloat32, runStock, withShape, type KernelArgs, type StockKernels,
} from './wasm-backend.js';

export function conv2dBackpropInputConfig(stock: StockKernels): KernelConfig {
  const kernelFunc = ({ inputs, backend, attrs }: KernelArgs): TensorInfo => {
    const name = Conv2DBackpropInput;
    const wasm = asWasmBackend(backend, name);
    const dy = input(inputs, 'dy', name);
    const filter = input(inputs, 'filter', name);
    requireFloat32(name, dy, filter);
    const a = attrs as unknown as Conv2DBackpropInputAttrs;
    const inShape = asShape4(a.inputShape, 'inputShape', name);
    const filterShape = asShape4(filter.shape, 'filter', name);
    const { geometry, outShape } = convGeometry(name, inShape, filterShape, a);
    if (!sameShape(dy.shape, outShape)) {
      fail('shape', `${name}: dy has shape [${dy.shape.join(', ')}], expected [${outShape.join(', ')}]`);
    }
    const k = patchSize(geometry);
    const n = outputPositions(geometry);
    const co = filterShape[3];
    // Wᵀ explicitly (small), so the big product below is an untransposed matmul.
    const wT = runStock(stock.transpose, wasm, { x: withShape(filter, [k, co]) }, { perm: [1, 0] });
    let dCols: TensorInfo;
    try {
      dCols = runStock(stock.batchMatMul, wasm, { a: withShape(dy, [n, co]), b: wT },
        { transposeA: false, transposeB: false });
    } finally {
      release(wasm, wT);
    }
    try {
      const dx = wasm.makeOutput(inShape, 'float32');
      col2im(heapF32(wasm, dCols), geometry, heapF32(wasm, dx));
      return dx;
    } finally {
      release(wasm, dCols);
    }
  };
  return { kernelName: Conv2DBackpropInput, backendName: 'wasm', kernelFunc };
}
