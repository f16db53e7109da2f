/**
 * Minimal PNG encoder (8-bit greyscale, no filtering) for inline report images: signature, IHDR,
 * one zlib-deflated IDAT (node:zlib), IEND, each chunk with its CRC-32 (ISO 3309 polynomial, as the
 * PNG specification requires). Pixels are values in [0, 1]; NaN renders as mid-grey.
 */
import { deflateSync } from 'node:zlib';
import { fail } from '../../core/errors.js';

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'ascii');
  Buffer.from(data).copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

/** A greyscale PNG of a height×width image (row-major values in [0, 1]). */
export function encodeGreyPng(pixels: ArrayLike<number>, width: number, height: number): Buffer {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) fail('shape', `bad PNG size ${width}×${height}`);
  if (pixels.length !== width * height) fail('shape', `PNG of ${width}×${height} needs ${width * height} pixels, got ${pixels.length}`);
  const raw = Buffer.alloc(height * (width + 1));
  for (let y = 0; y < height; y++) {
    raw[y * (width + 1)] = 0; // filter type: none
    for (let x = 0; x < width; x++) {
      const v = pixels[y * width + x]!;
      raw[y * (width + 1) + 1 + x] = Number.isNaN(v) ? 128 : Math.round(Math.min(1, Math.max(0, v)) * 255);
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // colour type: greyscale
  ihdr[10] = 0; // compression
  ihdr[11] = 0; // filter method
  ihdr[12] = 0; // no interlace
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', new Uint8Array(0)),
  ]);
}

export function pngDataUri(pixels: ArrayLike<number>, width: number, height: number): string {
  return `data:image/png;base64,${encodeGreyPng(pixels, width, height).toString('base64')}`;
}
