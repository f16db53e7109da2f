/**
 * DepthwiseConv2dNativeBackpropFilter / -Input for the wasm backend, which ships neither (so
 * depthwise and separable conv layers cannot train on it). Depthwise convolutions are cheap
 * (no sum over input channels), so direct loops over output positions are enough; channels and
 * the channel multiplier are innermost, contiguous in NHWC and in the [KH, KW, C, M] filter.
 */
import { DepthwiseConv2dNativeBackpropFilter, DepthwiseConv2dNativeBackpropInput, backend_util } from '@tensorflow/tfjs-core';
import type {
  DepthwiseConv2dNativeBackpropFilterAttrs, DepthwiseConv2dNativeBackpropInputAttrs, KernelConfig, TensorInfo,
} from '@tensorflow/tfjs-core';
import { fail } from '../../core/errors.js';
import { asShape4, sameShape } from './conv-geometry.js';
import { asWasmBackend, heapF32, input, requireFloat32, type KernelArgs } from './wasm-backend.js';

type Shape4 = [number, number, number, number];

export interface DepthwiseGeometry {
  batch: number;
  inHeight: number;
  inWidth: number;
  channels: number;
  multiplier: number;
  outHeight: number;
  outWidth: number;
  filterHeight: number;
  filterWidth: number;
  strideHeight: number;
  strideWidth: number;
  dilationHeight: number;
  dilationWidth: number;
  padTop: number;
  padLeft: number;
}

type DepthwiseAttrs = Pick<DepthwiseConv2dNativeBackpropFilterAttrs, 'strides' | 'dilations' | 'pad' | 'dimRoundingMode'>;

function depthwiseGeometry(kernel: string, inShape: Shape4, filterShape: Shape4, a: DepthwiseAttrs): { g: DepthwiseGeometry; outShape: number[] } {
  if (inShape[3] !== filterShape[2]) {
    fail('shape', `${kernel}: input has ${inShape[3]} channels but the filter expects ${filterShape[2]}`);
  }
  const info = backend_util.computeConv2DInfo(inShape, filterShape, a.strides, a.dilations, a.pad, a.dimRoundingMode, true);
  const g: DepthwiseGeometry = {
    batch: info.batchSize,
    inHeight: info.inHeight,
    inWidth: info.inWidth,
    channels: info.inChannels,
    multiplier: filterShape[3],
    outHeight: info.outHeight,
    outWidth: info.outWidth,
    filterHeight: info.filterHeight,
    filterWidth: info.filterWidth,
    strideHeight: info.strideHeight,
    strideWidth: info.strideWidth,
    dilationHeight: info.dilationHeight,
    dilationWidth: info.dilationWidth,
    padTop: info.padInfo.top,
    padLeft: info.padInfo.left,
  };
  return { g, outShape: info.outShape };
}

/**
 * Visits every (output position, tap) pair that reads a pixel inside the image, with the flat
 * offsets of that pixel (x), that tap (w) and that output (dy); channels are left to the caller.
 */
function forEachTap(g: DepthwiseGeometry, visit: (xOff: number, wOff: number, dyOff: number) => void): void {
  const cm = g.channels * g.multiplier;
  let dyOff = 0;
  for (let b = 0; b < g.batch; b++) {
    for (let oy = 0; oy < g.outHeight; oy++) {
      for (let ox = 0; ox < g.outWidth; ox++, dyOff += cm) {
        for (let ky = 0; ky < g.filterHeight; ky++) {
          const iy = oy * g.strideHeight - g.padTop + ky * g.dilationHeight;
          if (iy < 0 || iy >= g.inHeight) continue;
          for (let kx = 0; kx < g.filterWidth; kx++) {
            const ix = ox * g.strideWidth - g.padLeft + kx * g.dilationWidth;
            if (ix < 0 || ix >= g.inWidth) continue;
            visit(((b * g.inHeight + iy) * g.inWidth + ix) * g.channels, (ky * g.filterWidth + kx) * cm, dyOff);
          }
        }
      }
    }
  }
}

/** dW[kh, kw, c, m] = Σ x[b, iy, ix, c] · dy[b, oy, ox, c·M + m]. `dw` is overwritten. */
export function depthwiseFilterGrad(x: Float32Array, dy: Float32Array, g: DepthwiseGeometry, dw: Float32Array): void {
  const { channels: c, multiplier: m } = g;
  dw.fill(0, 0, g.filterHeight * g.filterWidth * c * m);
  forEachTap(g, (xOff, wOff, dyOff) => {
    for (let ci = 0; ci < c; ci++) {
      const xv = x[xOff + ci]!;
      for (let mi = 0, k = ci * m; mi < m; mi++, k++) dw[wOff + k]! += xv * dy[dyOff + k]!;
    }
  });
}

/** dx[b, iy, ix, c] = Σ dy[b, oy, ox, c·M + m] · w[kh, kw, c, m]. `dx` is overwritten. */
export function depthwiseInputGrad(dy: Float32Array, w: Float32Array, g: DepthwiseGeometry, dx: Float32Array): void {
  const { channels: c, multiplier: m } = g;
  dx.fill(0, 0, g.batch * g.inHeight * g.inWidth * c);
  forEachTap(g, (xOff, wOff, dyOff) => {
    for (let ci = 0; ci < c; ci++) {
      let s = 0;
      for (let mi = 0, k = ci * m; mi < m; mi++, k++) s += dy[dyOff + k]! * w[wOff + k]!;
      dx[xOff + ci]! += s;
    }
  });
}

export function depthwiseBackpropFilterConfig(): KernelConfig {
  const kernelFunc = ({ inputs, backend, attrs }: KernelArgs): TensorInfo => {
    const name = DepthwiseConv2dNativeBackpropFilter;
    const wasm = asWasmBackend(backend, name);
    const x = input(inputs, 'x', name);
    const dy = input(inputs, 'dy', name);
    requireFloat32(name, x, dy);
    const a = attrs as unknown as DepthwiseConv2dNativeBackpropFilterAttrs;
    const filterShape = asShape4(a.filterShape, 'filterShape', name);
    const { g, outShape } = depthwiseGeometry(name, asShape4(x.shape, 'x', name), filterShape, a);
    if (!sameShape(dy.shape, outShape)) fail('shape', `${name}: dy has shape [${dy.shape.join(', ')}], expected [${outShape.join(', ')}]`);
    const dw = wasm.makeOutput(filterShape, 'float32');
    depthwiseFilterGrad(heapF32(wasm, x), heapF32(wasm, dy), g, heapF32(wasm, dw));
    return dw;
  };
  return { kernelName: DepthwiseConv2dNativeBackpropFilter, backendName: 'wasm', kernelFunc };
}

export function depthwiseBackpropInputConfig(): KernelConfig {
  const kernelFunc = ({ inputs, backend, attrs }: KernelArgs): TensorInfo => {
    const name = DepthwiseConv2dNativeBackpropInput;
    const wasm = asWasmBackend(backend, name);
    const dy = input(inputs, 'dy', name);
    const filter = input(inputs, 'filter', name);
    requireFloat32(name, dy, filter);
    const a = attrs as unknown as DepthwiseConv2dNativeBackpropInputAttrs;
    const inShape = asShape4(a.inputShape, 'inputShape', name);
    const { g, outShape } = depthwiseGeometry(name, inShape, asShape4(filter.shape, 'filter', name), a);
    if (!sameShape(dy.shape, outShape)) fail('shape', `${name}: dy has shape [${dy.shape.join(', ')}], expected [${outShape.join(', ')}]`);
    const dx = wasm.makeOutput(inShape, 'float32');
    depthwiseInputGrad(heapF32(wasm, dy), heapF32(wasm, filter), g, heapF32(wasm, dx));
    return dx;
  };
  return { kernelName: DepthwiseConv2dNativeBackpropInput, backendName: 'wasm', kernelFunc };
}
