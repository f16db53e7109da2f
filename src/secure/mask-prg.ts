/**
 * Mask expansion: a 32-byte seed becomes a vector of uniform 32-bit words, the AES-256-CTR
 * keystream (node:crypto, zero IV, encrypting zeros). Each seed is used for exactly one stream: the
 * self-mask seed b_u and the pairwise seeds s_{u,v} are fresh per session, and go through HKDF with
 * distinct labels first, so no two masks share a key. Words are little-endian on every platform.
 */
import { createCipheriv } from 'node:crypto';
import { fail } from '../core/errors.js';
import { hkdf32, label, u16, u32, concatBytes } from './keys.js';

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
const ZERO_IV = new Uint8Array(16);

export function expandMask(seed: Uint8Array, words: number): Uint32Array {
  if (seed.length !== 32) fail('internal', `mask seeds are 32 bytes, got ${seed.length}`);
  const cipher = createCipheriv('aes-256-ctr', seed, ZERO_IV);
  // A fresh zero buffer is cheaper than a cached one: untouched calloc pages all map to the
  // kernel's zero page, so reading the plaintext stays in cache.
  const stream = cipher.update(new Uint8Array(words * 4));
  // Large Buffers own a fresh ArrayBuffer (offset 0); pooled small ones may be unaligned: copy those.
  const out = stream.byteOffset % 4 === 0 ? new Uint32Array(stream.buffer, stream.byteOffset, words) : new Uint32Array(words);
  const bytes = new Uint8Array(out.buffer, out.byteOffset, words * 4);
  if (out.buffer !== stream.buffer) bytes.set(stream);
  if (!LITTLE_ENDIAN) {
    for (let i = 0; i < bytes.length; i += 4) {
      const b0 = bytes[i]!;
      const b1 = bytes[i + 1]!;
      bytes[i] = bytes[i + 3]!;
      bytes[i + 1] = bytes[i + 2]!;
      bytes[i + 2] = b1;
      bytes[i + 3] = b0;
    }
  }
  return out;
}

/** acc += m (mod 2^32): Uint32Array stores wrap. */
export function addInto(acc: Uint32Array, m: Uint32Array): void {
  for (let i = 0; i < acc.length; i++) acc[i] = acc[i]! + m[i]!;
}

/** acc −= m (mod 2^32). */
export function subtractFrom(acc: Uint32Array, m: Uint32Array): void {
  for (let i = 0; i < acc.length; i++) acc[i] = acc[i]! - m[i]!;
}

/** Reduce mod 2^m in place (a ring homomorphism from Z_(2^32), so it may be applied at the end). */
export function reduceModulus(v: Uint32Array, modulusBits: number): void {
  if (modulusBits >= 32) return;
  const mask = 2 ** modulusBits - 1;
  for (let i = 0; i < v.length; i++) v[i] = v[i]! & mask;
}

/** The AES key that expands the self mask PRG(b_u). */
export function selfMaskKey(selfSeed: Uint8Array, sessionId: Uint8Array, round: number): Uint8Array {
  return hkdf32(selfSeed, sessionId, concatBytes(label('self-mask'), u32(round)));
}

/**
 * The seed of the pairwise mask between u and v, from the X25519 secret of their mask keys; the
 * label orders the pair so both ends derive the same seed.
 */
export function pairwiseMaskKey(sharedSecret: Uint8Array, sessionId: Uint8Array, round: number, u: number, v: number): Uint8Array {
  const [a, b] = u < v ? [u, v] : [v, u];
  return hkdf32(sharedSecret, sessionId, concatBytes(label('pairwise-mask'), u32(round), u16(a), u16(b)));
}
