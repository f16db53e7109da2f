/**
 * Validates a 2-D convolution's attributes for our wasm training kernels and resolves them to a
 * ConvGeometry (padding amounts included) with tfjs's own shape rules, so 'same'/'valid'/explicit
 * padding and rounding match the cpu backend exactly.
 */
import { backend_util } from '@tensorflow/tfjs-core';
import type { Conv2DBackpropFilterAttrs } from '@tensorflow/tfjs-core';
import { fail } from '../../core/errors.js';
import type { ConvGeometry } from './im2col.js';
import { windowGeometry } from './im2col.js';

type Shape4 = [number, number, number, number];
type ConvAttrs = Pick<Conv2DBackpropFilterAttrs, 'strides' | 'pad' | 'dataFormat' | 'dimRoundingMode'>;

export function asShape4(shape: readonly number[], what: string, kernel: string): Shape4 {
  const [a, b, c, d] = shape;
  if (shape.length !== 4 || a === undefined || b === undefined || c === undefined || d === undefined) {
    fail('shape', `${kernel}: ${what} must be rank 4 (NHWC / [KH, KW, Ci, Co]), got shape [${shape.join(', ')}]`);
  }
  return [a, b, c, d];
}

export interface Padding {
  top: number;
  bottom: number;
  left: number;
  right: number;
}

export function convGeometry(kernel: string, inShape: Shape4, filterShape: Shape4, attrs: ConvAttrs): {
  geometry: ConvGeometry;
  outShape: Shape4;
  padding: Padding;
} {
  if (attrs.dataFormat !== 'NHWC') {
    fail('model', `${kernel} on the wasm backend supports channels-last (NHWC) data only, got ${String(attrs.dataFormat)}`,
      'use dataFormat "channelsLast" in conv layers, or the cpu backend');
  }
  if (inShape[3] !== filterShape[2]) {
    fail('shape', `${kernel}: input has ${inShape[3]} channels but the filter expects ${filterShape[2]}`);
  }
  // Gradients of dilated convolutions are refused by tfjs before they reach a kernel, and these
  // kernels have no dilation attribute: the geometry is always built with dilation 1.
  const info = backend_util.computeConv2DInfo(inShape, filterShape, attrs.strides, 1, attrs.pad,
    attrs.dimRoundingMode, false, 'channelsLast');
  const geometry = windowGeometry(info);

  const { top, bottom, left, right } = info.padInfo;
  return { geometry, outShape: [info.batchSize, info.outHeight, info.outWidth, info.outChannels], padding: { top, bottom, left, right } };
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
