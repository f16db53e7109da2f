/**
 * The coordinator's TLS files (CA certificate, CRL, its own certificate and key — never the CA
 * key), checked once at startup, and the CRL re-read whenever it changes on disk: copying a freshly
 * signed crl.pem over the old one revokes a participant without a restart. A replacement CRL that
 * does not verify is not silently ignored: connections are refused ("crl-invalid") until it is fixed.
 */
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import * as x509 from '@peculiar/x509';
import { fail } from '../core/errors.js';
import '../pki/key-algorithm.js'; // installs node's WebCrypto as the @peculiar/x509 provider
import { readPrivateKeyFile } from '../pki/key-file.js';
import { verifyPeerCertificate } from '../pki/verify-peer.js';
import type { TlsMaterial, TlsMaterialSource } from '../transport/network/network-transport.js';

export interface TlsPaths {
  readonly ca: string;
  readonly crl: string;
  readonly cert: string;
  readonly key: string;
}

function read(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    fail('config', `cannot read the ${what} ${path}: ${(err as Error).message}`, 'check deploy.tls in the coordinator config');
  }
}

async function parseCrl(pem: string, ca: x509.X509Certificate, path: string, now: Date): Promise<x509.X509Crl> {
  let crl: x509.X509Crl;
  try {
    crl = new x509.X509Crl(pem);
  } catch (err) {
    fail('config', `${path} is not a CRL: ${(err as Error).message}`, 'copy crl.pem from the PKI directory');
  }
  if (crl.issuer !== ca.subject || !(await crl.verify({ publicKey: ca }).catch(() => false))) {
    fail('auth', `${path} is not signed by the federation CA`, 're-sign it with `fedsec pki crl --dir PKI` and copy it over');
  }
  if (crl.nextUpdate !== undefined && now > crl.nextUpdate) {
    fail('auth', `${path} expired at ${crl.nextUpdate.toISOString()}; every participant would be refused`, 're-sign it with `fedsec pki crl --dir PKI` and copy it over');
  }
  return crl;
}

export class FileTlsSource implements TlsMaterialSource {
  private material: TlsMaterial;
  private crlStamp: string;
  private failure: Error | undefined;

  private constructor(private readonly paths: TlsPaths, material: TlsMaterial, stamp: string) {
    this.material = material;
    this.crlStamp = stamp;
  }

  static async load(paths: TlsPaths, now = new Date()): Promise<FileTlsSource> {
    const caPem = read(paths.ca, 'CA certificate');
    const certPem = read(paths.cert, 'coordinator certificate');
    const keyPem = readPrivateKeyFile(paths.key);
    const crlPem = read(paths.crl, 'CRL');
    let ca: x509.X509Certificate;
    try {
      ca = new x509.X509Certificate(caPem);
    } catch (err) {
      fail('config', `${paths.ca} is not a certificate: ${(err as Error).message}`, 'copy ca.crt from the PKI directory');
    }
    const crl = await parseCrl(crlPem, ca, paths.crl, now);
    const own = await verifyPeerCertificate(certPem, { ca, crl, expect: 'coordinator', now });
    if (!own.ok) fail('auth', `${paths.cert} cannot serve this federation (${own.reason}): ${own.message}`, 'issue one with `fedsec pki issue --dir PKI --coordinator HOST[,HOST]`');
    let keyMatches = false;
    try {
      const fromKey = createPublicKey(createPrivateKey(keyPem)).export({ type: 'spki', format: 'der' });
      keyMatches = fromKey.equals(new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' }));
    } catch (err) {
      fail('config', `${paths.key} is not a usable private key: ${(err as Error).message}`, 'copy coordinator.key from the PKI directory');
    }
    if (!keyMatches) fail('config', `${paths.key} does not belong to ${paths.cert}`, 'use the key issued together with the coordinator certificate');
    const federation = ca.subjectName.getField('O')[0] ?? 'fedsec';
    return new FileTlsSource(paths, { version: 1, federation, caPem, crlPem, certPem, keyPem, ca, crl }, stampOf(paths.crl));
  }

  async current(): Promise<TlsMaterial> {
    let stamp: string;
    try {
      stamp = stampOf(this.paths.crl);
    } catch {
      stamp = 'missing';
    }
    if (stamp !== this.crlStamp) {
      this.crlStamp = stamp;
      try {
        const crlPem = read(this.paths.crl, 'CRL');
        const crl = await parseCrl(crlPem, this.material.ca, this.paths.crl, new Date());
        this.material = { ...this.material, version: this.material.version + 1, crlPem, crl };
        this.failure = undefined;
      } catch (err) {
        this.failure = err instanceof Error ? err : new Error(String(err));
      }
    }
    if (this.failure) throw this.failure;
    return this.material;
  }
}

function stampOf(path: string): string {
  const s = statSync(path);
  return `${s.mtimeMs}:${s.size}:${s.ino}`;
}
