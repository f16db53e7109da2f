/**
 * Loads a PKI directory for the coordinator: CA certificate and CRL (both checked against
 * pki.json and each other), plus the PEM strings node:tls / grpc-js take as `ca` and `crl`.
 */
import { existsSync, readFileSync } from 'node:fs';
import * as x509 from '@peculiar/x509';
import { fail } from '../core/errors.js';
import { fingerprintOf } from './certificate-authority.js';
import './key-algorithm.js'; // installs node's WebCrypto as the @peculiar/x509 provider
import { pkiPaths, readManifest, type PkiManifest } from './manifest.js';

export interface LoadedPki {
  readonly dir: string;
  readonly manifest: PkiManifest;
  readonly ca: x509.X509Certificate;
  readonly caPem: string;
  readonly crl: x509.X509Crl;
  /** PEM labelled "X509 CRL", accepted by node:tls `crl` (OpenSSL then enforces it in the handshake). */
  readonly crlPem: string;
}

export async function loadPki(dir: string): Promise<LoadedPki> {
  const manifest = readManifest(dir);
  const paths = pkiPaths(dir);
  for (const p of [paths.caCert, paths.crl]) {
    if (!existsSync(p)) fail('config', `PKI in ${dir} is incomplete: ${p} is missing`, 'restore it from backup, or re-create it with `fedsec pki crl` (for crl.pem)');
  }
  const caPem = readFileSync(paths.caCert, 'utf8');
  const crlPem = readFileSync(paths.crl, 'utf8');
  let ca: x509.X509Certificate;
  let crl: x509.X509Crl;
  try {
    ca = new x509.X509Certificate(caPem);
    crl = new x509.X509Crl(crlPem);
  } catch (err) {
    fail('config', `PKI in ${dir} has an unreadable ca.crt or crl.pem: ${(err as Error).message}`, 'restore it from backup');
  }
  if (fingerprintOf(ca) !== manifest.ca.fingerprint) {
    fail('auth', `${paths.caCert} is not the CA recorded in pki.json`, 'restore ca.crt from backup');
  }
  if (crl.issuer !== ca.subject || !(await crl.verify({ publicKey: ca }))) {
    fail('auth', `${paths.crl} is not signed by the federation CA`, `re-sign it with \`fedsec pki crl --dir ${dir}\``);
  }
  return { dir, manifest, ca, caPem, crl, crlPem };
}
