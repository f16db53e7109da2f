/**
 * Shamir shares of a participant's two secrets (self-mask seed b_u and mask private key s_u^SK)
 * and their transport to neighbours.
 *
 * Sharing uses the audited `shamir-secret-sharing` package (GF(2^8), 2 ≤ t ≤ shares ≤ 255; each
 * share is the 32 secret bytes' evaluations plus one x-coordinate byte). The library does not check
 * what it reconstructs, so we do: every share is bound to a SHA-256 digest the dealer signs (in its
 * share-keys message) and authenticates to the receiver (as AES-GCM associated data), and the
 * reconstructed secrets are checked against the dealer's commitment / advertised public key.
 *
 * Encryption: AES-256-GCM under HKDF-SHA256(X25519(c_u, c_v), salt = session id, label ‖ round ‖
 * pair), a fresh random 96-bit nonce per message, and associated data binding session id, round,
 * sender, receiver and both share digests.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { combine, split } from 'shamir-secret-sharing';
import { fail } from '../core/errors.js';
import { concatBytes, hkdf32, label, sha256, u16, u32 } from './keys.js';

export const SHARE_BYTES = 33;
export const NONCE_BYTES = 12;
export const DIGEST_BYTES = 32;
const TAG_BYTES = 16;
const PLAINTEXT_BYTES = 4 + 2 * SHARE_BYTES;
export const SHARE_CIPHERTEXT_BYTES = PLAINTEXT_BYTES + TAG_BYTES;

export type ShareKind = 'self-seed' | 'mask-key';

export async function splitSecret(secret: Uint8Array, shares: number, threshold: number): Promise<Uint8Array[]> {
  if (secret.length !== 32) fail('internal', `shared secrets are 32 bytes, got ${secret.length}`);
  if (!(shares >= 2 && shares <= 255 && threshold >= 2 && threshold <= shares)) {
    fail('protocol', `cannot make ${threshold}-of-${shares} Shamir shares (the library needs 2 ≤ t ≤ shares ≤ 255)`);
  }
  // The library insists on exact Uint8Array instances (a Buffer is refused): pass a plain copy.
  return split(new Uint8Array(secret), shares, threshold);
}

/** Reconstruct from exactly the given shares (callers pass t verified ones). */
export async function combineShares(shares: Uint8Array[], what: string): Promise<Uint8Array> {
  if (shares.length < 2 || shares.length > 255) fail('protocol', `cannot reconstruct ${what} from ${shares.length} shares`);
  const xs = new Set<number>();
  for (const s of shares) {
    if (s.length !== SHARE_BYTES) fail('protocol', `a share of ${what} has ${s.length} bytes, expected ${SHARE_BYTES}`);
    const x = s[SHARE_BYTES - 1]!;
    if (x === 0 || xs.has(x)) fail('protocol', `the shares of ${what} have a zero or repeated x-coordinate`);
    xs.add(x);
  }
  return combine(shares.map((s) => new Uint8Array(s)));
}

export function shareDigest(kind: ShareKind, sessionId: Uint8Array, round: number, dealer: number, receiver: number, share: Uint8Array): Uint8Array {
  return sha256(label(`share-digest/${kind}`), sessionId, u32(round), u16(dealer), u16(receiver), share);
}

/** Commitment to b_u, checked after reconstruction (b_u is 256 uniform bits, so the hash hides it). */
export function selfSeedCommitment(sessionId: Uint8Array, round: number, dealer: number, selfSeed: Uint8Array): Uint8Array {
  return sha256(label('self-seed-commitment'), sessionId, u32(round), u16(dealer), selfSeed);
}

export function shareEncryptionKey(sharedSecret: Uint8Array, sessionId: Uint8Array, round: number, u: number, v: number): Uint8Array {
  const [a, b] = u < v ? [u, v] : [v, u];
  return hkdf32(sharedSecret, sessionId, concatBytes(label('share-encryption'), u32(round), u16(a), u16(b)));
}

export interface ShareBundle {
  readonly dealer: number;
  readonly receiver: number;
  readonly selfSeedShare: Uint8Array;
  readonly maskKeyShare: Uint8Array;
}

function associatedData(
  sessionId: Uint8Array,
  round: number,
  dealer: number,
  receiver: number,
  selfSeedDigest: Uint8Array,
  maskKeyDigest: Uint8Array,
): Uint8Array {
  return concatBytes(label('share-aad'), sessionId, u32(round), u16(dealer), u16(receiver), selfSeedDigest, maskKeyDigest);
}

export interface SealedShares {
  readonly nonce: Uint8Array;
  readonly ciphertext: Uint8Array;
  readonly selfSeedShareDigest: Uint8Array;
  readonly maskKeyShareDigest: Uint8Array;
}

export function sealShares(key: Uint8Array, sessionId: Uint8Array, round: number, bundle: ShareBundle): SealedShares {
  const { dealer, receiver, selfSeedShare, maskKeyShare } = bundle;
  const selfSeedShareDigest = shareDigest('self-seed', sessionId, round, dealer, receiver, selfSeedShare);
  const maskKeyShareDigest = shareDigest('mask-key', sessionId, round, dealer, receiver, maskKeyShare);
  const nonce = new Uint8Array(randomBytes(NONCE_BYTES));
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(associatedData(sessionId, round, dealer, receiver, selfSeedShareDigest, maskKeyShareDigest));
  const body = concatBytes(u16(dealer), u16(receiver), selfSeedShare, maskKeyShare);
  const ciphertext = concatBytes(cipher.update(body), cipher.final(), cipher.getAuthTag());
  return { nonce, ciphertext, selfSeedShareDigest, maskKeyShareDigest };
}

/** Decrypt, authenticate and check the digests; every failure is an 'auth' error naming the dealer. */
export function openShares(
  key: Uint8Array,
  sessionId: Uint8Array,
  round: number,
  dealer: number,
  receiver: number,
  sealed: SealedShares,
  dealerName: string,
): ShareBundle {
  if (sealed.nonce.length !== NONCE_BYTES || sealed.ciphertext.length !== SHARE_CIPHERTEXT_BYTES) {
    fail('protocol', `the shares from ${dealerName} have a malformed nonce or ciphertext length`);
  }
  const body = sealed.ciphertext.subarray(0, PLAINTEXT_BYTES);
  const tag = sealed.ciphertext.subarray(PLAINTEXT_BYTES);
  let plain: Uint8Array;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, sealed.nonce);
    decipher.setAAD(associatedData(sessionId, round, dealer, receiver, sealed.selfSeedShareDigest, sealed.maskKeyShareDigest));
    decipher.setAuthTag(tag);
    plain = concatBytes(decipher.update(body), decipher.final());
  } catch {
    return fail('auth', `the shares from ${dealerName} failed AES-GCM authentication (tampered ciphertext, wrong key, or misrouted message)`);
  }
  const d = (plain[0]! << 8) | plain[1]!;
  const r = (plain[2]! << 8) | plain[3]!;
  if (d !== dealer || r !== receiver) fail('auth', `the shares from ${dealerName} name dealer ${d} → receiver ${r}, not ${dealer} → ${receiver}`);
  const selfSeedShare = plain.slice(4, 4 + SHARE_BYTES);
  const maskKeyShare = plain.slice(4 + SHARE_BYTES, 4 + 2 * SHARE_BYTES);
  const okB = Buffer.compare(shareDigest('self-seed', sessionId, round, dealer, receiver, selfSeedShare), sealed.selfSeedShareDigest) === 0;
  const okS = Buffer.compare(shareDigest('mask-key', sessionId, round, dealer, receiver, maskKeyShare), sealed.maskKeyShareDigest) === 0;
  if (!okB || !okS) fail('auth', `the shares from ${dealerName} do not match the digests the dealer committed to`);
  return { dealer, receiver, selfSeedShare, maskKeyShare };
}
