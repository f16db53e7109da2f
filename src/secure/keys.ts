/**
 * Key handling for secure aggregation, on node:crypto only: raw 32-byte X25519 / Ed25519 keys
 * (what goes on the wire), key agreement with low-order-point rejection, HKDF derivations and
 * Ed25519 signatures. Every derivation carries its own domain label so a key made for one purpose
 * can never be mistaken for another.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';
import { fail } from '../core/errors.js';

// DER prefix of the fixed-size X25519 PKCS#8 encoding (RFC 8410); the raw key follows.
const X25519_PKCS8 = Buffer.from('302e020100300506032b656e04220420', 'hex');

export const KEY_BYTES = 32;
export const SIGNATURE_BYTES = 64;

function checkRaw(raw: Uint8Array, what: string): void {
  if (!(raw instanceof Uint8Array) || raw.length !== KEY_BYTES) {
    fail('auth', `${what} must be ${KEY_BYTES} raw bytes, got ${raw instanceof Uint8Array ? raw.length : typeof raw}`);
  }
}

// Public keys are imported as JWK: an order of magnitude faster than DER in Node 20, and a
// participant imports two per neighbour.
export function x25519PublicKey(raw: Uint8Array): KeyObject {
  checkRaw(raw, 'X25519 public key');
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(raw).toString('base64url') }, format: 'jwk' });
}

export function x25519PrivateKey(raw: Uint8Array): KeyObject {
  checkRaw(raw, 'X25519 private key');
  return createPrivateKey({ key: Buffer.concat([X25519_PKCS8, raw]), format: 'der', type: 'pkcs8' });
}

export function ed25519PublicKey(raw: Uint8Array): KeyObject {
  checkRaw(raw, 'Ed25519 identity public key');
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(raw).toString('base64url') }, format: 'jwk' });
}

/** The raw 32 bytes of an X25519 or Ed25519 public key (or of the public half of a private key). */
export function rawPublicKey(key: KeyObject): Uint8Array {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  const der = pub.export({ format: 'der', type: 'spki' });
  return new Uint8Array(der.subarray(der.length - KEY_BYTES));
}

export function rawX25519PrivateKey(key: KeyObject): Uint8Array {
  const der = key.export({ format: 'der', type: 'pkcs8' });
  return new Uint8Array(der.subarray(der.length - KEY_BYTES));
}

export interface X25519KeyPair {
  readonly privateKey: KeyObject;
  readonly publicKey: Uint8Array;
}

export function generateX25519(): X25519KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('x25519');
  return { privateKey, publicKey: rawPublicKey(publicKey) };
}

export interface Identity {
  /** Raw Ed25519 public key: what goes into the session config. */
  readonly publicKey: Uint8Array;
  readonly privateKey: KeyObject;
}

/** A fresh Ed25519 identity (until the PKI issues them, tests and simulations make their own). */
export function generateIdentity(): Identity {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { privateKey, publicKey: rawPublicKey(publicKey) };
}

/**
 * X25519 agreement. A low-order public key makes the shared secret all zeros (every clamped scalar
 * kills it), which would give an attacker a known key: OpenSSL refuses it and so do we.
 */
export function agree(privateKey: KeyObject, publicKey: KeyObject, what: string): Uint8Array {
  let shared: Buffer;
  try {
    shared = diffieHellman({ privateKey, publicKey });
  } catch {
    fail('auth', `X25519 key agreement failed for ${what}: the public key is invalid or of low order`);
  }
  if (shared.every((b) => b === 0)) fail('auth', `X25519 key agreement for ${what} gave the all-zero secret (low-order key)`);
  return new Uint8Array(shared);
}

export function hkdf32(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', ikm, salt, info, 32));
}

export function sha256(...parts: Uint8Array[]): Uint8Array {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

export function signBytes(privateKey: KeyObject, data: Uint8Array): Uint8Array {
  return new Uint8Array(sign(null, data, privateKey));
}

export function verifyBytes(publicKey: KeyObject, data: Uint8Array, signature: Uint8Array): boolean {
  if (signature.length !== SIGNATURE_BYTES) return false;
  try {
    return verify(null, data, publicKey, signature);
  } catch {
    return false;
  }
}

/** Constant-time-enough equality for digests and public keys (lengths are public). */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/** Big-endian encodings used inside derivation labels and signed transcripts. */
export function u16(n: number): Uint8Array {
  return new Uint8Array([(n >>> 8) & 0xff, n & 0xff]);
}

export function u32(n: number): Uint8Array {
  return new Uint8Array([(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]);
}

const encoder = new TextEncoder();

export function label(text: string): Uint8Array {
  return encoder.encode(`fedsec/secagg/v1/${text}\0`);
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let total = 0;
  for (const p of parts) total += p.length;
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
