/**
 * Patch extraction ("im2col") and its adjoint ("col2im") for NHWC 2-D convolutions.
 *
 * The stock wasm backend cannot compute filter gradients and computes input gradients slowly, so
 * we lower both to one matrix product each (run by the backend's own fast matmul) plus these two
 * data-movement passes. A patch element is indexed k = (kh·KW + kw)·Ci + ci, which is exactly the
 * row-major layout of a [KH, KW, Ci, Co] filter seen as a [K, Co] matrix, so products need no
 * reordering. Output positions are indexed n = (b·OH + oh)·OW + ow, the layout of NHWC dy.
 */
import type { backend_util } from '@tensorflow/tfjs-core';

/** Everything needed to map output positions to input pixels (dilation is always 1 here). */
export interface ConvGeometry {
  batch: number;
  inHeight: number;
  inWidth: number;
  inChannels: number;
  outHeight: number;
  outWidth: number;
  filterHeight: number;
  filterWidth: number;
  strideHeight: number;
  strideWidth: number;
  padTop: number;
  padLeft: number;
}

/** The window geometry of a tfjs Conv2DInfo (convolutions and pooling share it). */
export function windowGeometry(info: backend_util.Conv2DInfo): ConvGeometry {
  return {
    batch: info.batchSize,
    inHeight: info.inHeight,
    inWidth: info.inWidth,
    inChannels: info.inChannels,
    outHeight: info.outHeight,
    outWidth: info.outWidth,
    filterHeight: info.filterHeight,
    filterWidth: info.filterWidth,
    strideHeight: info.strideHeight,
    strideWidth: info.strideWidth,
    padTop: info.padInfo.top,
    padLeft: info.padInfo.left,
  };
}

export function patchSize(g: ConvGeometry): number {
  return g.filterHeight * g.filterWidth * g.inChannels;
}

export function outputPositions(g: ConvGeometry): number {
  return g.batch * g.outHeight * g.outWidth;
}

/**
 * Writes the patch matrix *transposed*, out[k·N + n] (K × N), zero where a patch reaches into
 * padding. Transposed because the filter gradient is colsᵀ·dy, and the wasm matmul is ~15–60×
 * slower when asked to transpose an operand itself.
 */
export function im2colTransposed(x: Float32Array, g: ConvGeometry, out: Float32Array): void {
  const { batch, inHeight: h, inWidth: w, inChannels: c, outHeight: oh, outWidth: ow } = g;
  const n = outputPositions(g);
  if (x.length < batch * h * w * c || out.length < patchSize(g) * n) {
    throw new RangeError('im2colTransposed: buffer smaller than the geometry says');
  }
  const sw = g.strideWidth;
  for (let kh = 0; kh < g.filterHeight; kh++) {
    for (let kw = 0; kw < g.filterWidth; kw++) {
      // Output columns whose input column ix = xo·sw − padLeft + kw lies inside the image.
      const shift = kw - g.padLeft;
      const xoFrom = Math.min(ow, Math.max(0, Math.ceil(-shift / sw)));
      const xoTo = Math.max(xoFrom, Math.min(ow, Math.floor((w - 1 - shift) / sw) + 1));
      for (let ci = 0; ci < c; ci++) {
        let o = ((kh * g.filterWidth + kw) * c + ci) * n;
        for (let b = 0; b < batch; b++) {
          for (let y = 0; y < oh; y++) {
            const iy = y * g.strideHeight - g.padTop + kh;
            if (iy < 0 || iy >= h) {
              out.fill(0, o, o + ow);
              o += ow;
              continue;
            }
            if (xoFrom > 0) out.fill(0, o, o + xoFrom);
            let src = ((b * h + iy) * w + xoFrom * sw + shift) * c + ci;
            const step = sw * c;
            const end = o + xoTo;
            for (let p = o + xoFrom; p < end; p++, src += step) out[p] = x[src]!;
            if (xoTo < ow) out.fill(0, end, o + ow);
            o += ow;
          }
        }
      }
    }
  }
}

/**
 * Scatter-adds a patch-gradient matrix cols[n·K + k] (N × K) back onto the NHWC input grid:
 * the adjoint of im2col, i.e. the input gradient once cols = dy·Wᵀ. `out` is overwritten.
 */
export function col2im(cols: Float32Array, g: ConvGeometry, out: Float32Array): void {
  const { batch, inHeight: h, inWidth: w, inChannels: c, outHeight: oh, outWidth: ow } = g;
  const k = patchSize(g);
  if (cols.length < outputPositions(g) * k || out.length < batch * h * w * c) {
    throw new RangeError('col2im: buffer smaller than the geometry says');
  }
  out.fill(0, 0, batch * h * w * c);
  let src = 0;
  for (let b = 0; b < batch; b++) {
    for (let y = 0; y < oh; y++) {
      for (let xo = 0; xo < ow; xo++, src += k) {
        for (let kh = 0; kh < g.filterHeight; kh++) {
          const iy = y * g.strideHeight - g.padTop + kh;
          if (iy < 0 || iy >= h) continue;
          for (let kw = 0; kw < g.filterWidth; kw++) {
            const ix = xo * g.strideWidth - g.padLeft + kw;
            if (ix < 0 || ix >= w) continue;
            const from = src + (kh * g.filterWidth + kw) * c;
            const to = ((b * h + iy) * w + ix) * c;
            for (let ci = 0; ci < c; ci++) out[to + ci]! += cols[from + ci]!;
          }
        }
      }
    }
  }
}
