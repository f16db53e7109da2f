/**
 * Key algorithms the federation PKI can use, over WebCrypto from node:crypto.
 *
 * Default ECDSA P-256 with SHA-256: every TLS stack a participant might run (OpenSSL, BoringSSL in
 * gRPC C-core/Python, Go, Java, rustls), HSMs and cloud KMSs accept it, and it is FIPS-approved.
 * Ed25519 also works for TLS 1.3 mTLS under Node 20 / OpenSSL 3 (tested), but is not accepted
 * everywhere (browsers, many HSMs, older stacks), so it is opt-in.
 */
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { fail } from '../core/errors.js';

// @peculiar/x509 signs and verifies through this provider; node's WebCrypto, not a JS polyfill.
x509.cryptoProvider.set(webcrypto);

export const KEY_ALGORITHMS = ['ecdsa-p256', 'ed25519'] as const;
export type KeyAlgorithm = (typeof KEY_ALGORITHMS)[number];

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
type SigningParams = webcrypto.EcdsaParams | webcrypto.Algorithm;

interface AlgorithmSpec {
  readonly generate: webcrypto.EcKeyGenParams | webcrypto.Algorithm;
  readonly importParams: webcrypto.EcKeyImportParams | webcrypto.Algorithm;
  readonly signing: SigningParams;
}

const SPECS: Record<KeyAlgorithm, AlgorithmSpec> = {
  'ecdsa-p256': {
    generate: { name: 'ECDSA', namedCurve: 'P-256' },
    importParams: { name: 'ECDSA', namedCurve: 'P-256' },
    signing: { name: 'ECDSA', hash: 'SHA-256' },
  },
  ed25519: { generate: { name: 'Ed25519' }, importParams: { name: 'Ed25519' }, signing: { name: 'Ed25519' } },
};

export function signingAlgorithm(alg: KeyAlgorithm): SigningParams {
  return SPECS[alg].signing;
}

export async function generateKeyPair(alg: KeyAlgorithm): Promise<CryptoKeyPair> {
  // Extractable only so the private key can be written to its 0600 file once.
  return (await webcrypto.subtle.generateKey(SPECS[alg].generate, true, ['sign', 'verify'])) as CryptoKeyPair;
}

export async function exportPrivateKeyPem(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

export async function importPrivateKeyPem(pem: string, alg: KeyAlgorithm, what: string): Promise<CryptoKey> {
  let der: ArrayBuffer;
  try {
    der = x509.PemConverter.decodeFirst(pem);
  } catch {
    fail('io', `${what} is not a PEM private key`, 'restore it from backup or re-create the PKI with `fedsec pki init --force`');
  }
  try {
    return await webcrypto.subtle.importKey('pkcs8', der, SPECS[alg].importParams, false, ['sign']);
  } catch {
    fail('io', `${what} is not a valid ${alg} PKCS#8 private key`, 'check that it belongs to this PKI (pki.json keyAlgorithm)');
  }
}
