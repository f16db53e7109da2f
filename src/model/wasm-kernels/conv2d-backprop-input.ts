/**
 * Conv2DBackpropInput for the wasm backend (gradient w.r.t. a convolution's input, also the
 * forward pass of conv2dTranspose). The stock kernel is a direct loop. Ours:
 *  - stride 1: the input gradient is itself a convolution — of dy with the filter rotated by 180°
 *    and its channel axes swapped, padded by (kernel − 1 − original padding) — so it runs on the
 *    backend's fast (XNNPACK) Conv2D;
 *  - otherwise: one matmul dCols = dy · Wᵀ (N × K) and col2im's scatter-add onto the NHWC grid.
 */
import { Conv2DBackpropInput } from '@tensorflow/tfjs-core';
import type { Conv2DBackpropInputAttrs, KernelConfig, TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { fail } from '../../core/errors.js';
import { asShape4, convGeometry, sameShape, type Padding } from './conv-geometry.js';
import { col2im, outputPositions, patchSize, type ConvGeometry } from './im2col.js';
import {
  asWasmBackend, heapF32, input, release, requireFloat32, runStock, withShape, type KernelArgs, type StockKernels,
} from './wasm-backend.js';

/** out[kh, kw, co, ci] = w[KH−1−kh, KW−1−kw, ci, co] for a [KH, KW, Ci, Co] filter. */
export function rotateFilter(w: Float32Array, shape: readonly [number, number, number, number], out: Float32Array): void {
  const [kh, kw, ci, co] = shape;
  let o = 0;
  for (let y = 0; y < kh; y++) {
    for (let x = 0; x < kw; x++) {
      const src = ((kh - 1 - y) * kw + (kw - 1 - x)) * ci * co;
      for (let c = 0; c < co; c++) {
        for (let i = 0; i < ci; i++) out[o++] = w[src + i * co + c]!;
      }
    }
  }
}

function viaConvolution(stock: StockKernels, wasm: BackendWasm, dy: TensorInfo, filter: TensorInfo,
  filterShape: [number, number, number, number], p: Padding): TensorInfo {
  const [kh, kw, ci, co] = filterShape;
  const rotated = wasm.makeOutput([kh, kw, co, ci], 'float32');
  try {
    rotateFilter(heapF32(wasm, filter), filterShape, heapF32(wasm, rotated));
    const pad = [[0, 0], [kh - 1 - p.top, kh - 1 - p.bottom], [kw - 1 - p.left, kw - 1 - p.right], [0, 0]];
    return runStock(stock.conv2d, wasm, { x: dy, filter: rotated },
      { strides: 1, dilations: 1, pad, dataFormat: 'NHWC', dimRoundingMode: 'floor' });
  } finally {
    release(wasm, rotated);
  }
}

function viaCol2im(stock: StockKernels, wasm: BackendWasm, dy: TensorInfo, filter: TensorInfo,
  inShape: [number, number, number, number], g: ConvGeometry): TensorInfo {
  const k = patchSize(g);
  const n = outputPositions(g);
  const co = filter.shape[3]!;
  // Wᵀ explicitly (small), so the big product below is an untransposed matmul.
  const wT = runStock(stock.transpose, wasm, { x: withShape(filter, [k, co]) }, { perm: [1, 0] });
  let dCols: TensorInfo;
  try {
    dCols = runStock(stock.batchMatMul, wasm, { a: withShape(dy, [n, co]), b: wT }, { transposeA: false, transposeB: false });
  } finally {
    release(wasm, wT);
  }
  try {
    const dx = wasm.makeOutput(inShape, 'float32');
    col2im(heapF32(wasm, dCols), g, heapF32(wasm, dx));
    return dx;
  } finally {
    release(wasm, dCols);
  }
}

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
    const { geometry: g, outShape, padding: p } = convGeometry(name, inShape, filterShape, a);
    if (!sameShape(dy.shape, outShape)) {
      fail('shape', `${name}: dy has shape [${dy.shape.join(', ')}], expected [${outShape.join(', ')}]`);
    }
    const [kh, kw] = filterShape;
    const convolvable = g.strideHeight === 1 && g.strideWidth === 1
      && Math.max(p.top, p.bottom) <= kh - 1 && Math.max(p.left, p.right) <= kw - 1;
    return convolvable ? viaConvolution(stock, wasm, dy, filter, filterShape, p) : viaCol2im(stock, wasm, dy, filter, inShape, g);
  };
  return { kernelName: Conv2DBackpropInput, backendName: 'wasm', kernelFunc };
}
