/**
 * The federation CA: creates the self-signed root, issues participant (clientAuth) and coordinator
 * (serverAuth) certificates, and keeps a signed X.509 CRL in step with pki.json.
 *
 * Layout of a PKI directory D (D and D/participants are created 0700, keys 0600):
 *   D/ca.crt  D/ca.key  D/crl.pem  D/pki.json
 *   D/participants/NAME.crt  D/participants/NAME.key
 *   D/coordinator.crt  D/coordinator.key
 */
import { createHash, randomBytes, type webcrypto } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { relative } from 'node:path';
import * as x509 from '@peculiar/x509';
import type { z } from 'zod';
import { fail } from '../core/errors.js';
import { writeFileAtomic } from '../store/atomic-file.js';
import { exportPrivateKeyPem, generateKeyPair, importPrivateKeyPem, signingAlgorithm, type KeyAlgorithm } from './key-algorithm.js';
import { readPrivateKeyFile, writePrivateKeyFile } from './key-file.js';
import {
  hostSchema,
  orgSchema,
  participantNameSchema,
  pkiPaths,
  readManifest,
  writeManifest,
  type CertificateRecord,
  type PkiManifest,
  type RevocationReason,
} from './manifest.js';

const DAY_MS = 86_400_000;
/** Back-date notBefore a little so peers with a slightly slow clock accept a fresh certificate. */
const CLOCK_SKEW_MS = 5 * 60_000;

export const PARTICIPANT_URI_PREFIX = 'fedsec://participant/';

export interface InitPkiOptions {
  readonly dir: string;
  readonly federation?: string;
  readonly keyAlgorithm?: KeyAlgorithm;
  /** CA validity in days (default 3650). */
  readonly days?: number;
  /** Validity of each signed CRL in days (default 30); re-sign with `fedsec pki crl`. */
  readonly crlDays?: number;
  readonly force?: boolean;
  readonly now?: Date;
}

export interface IssueOptions {
  readonly dir: string;
  /** Validity in days (default 365, capped at the CA's expiry); may not outlive the CA. */
  readonly days?: number;
  /** Replace an active certificate of the same name, revoking it as superseded. */
  readonly force?: boolean;
  readonly now?: Date;
}

export interface IssuedCertificate {
  readonly record: CertificateRecord;
  readonly certPath: string;
  readonly keyPath: string;
}

export async function initPki(options: InitPkiOptions): Promise<PkiManifest> {
  const { dir } = options;
  const paths = pkiPaths(dir);
  if (!options.force && (existsSync(paths.caKey) || existsSync(paths.manifest))) {
    fail('precondition', `${dir} already holds a federation CA`, 'pass --force to replace it (every certificate it issued stops working)');
  }
  const federation = parseOrFail(orgSchema, options.federation ?? 'fedsec', 'federation name');
  const alg = options.keyAlgorithm ?? 'ecdsa-p256';
  const days = positiveDays(options.days ?? 3650, 'CA validity');
  const crlDays = positiveDays(options.crlDays ?? 30, 'CRL validity');
  const now = options.now ?? new Date();

  mkdirSync(dir, { recursive: true, mode: 0o700 });
  mkdirSync(paths.participantsDir, { recursive: true, mode: 0o700 });
  const keys = await generateKeyPair(alg);
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: newSerial(),
    name: [{ CN: [`${federation} federation CA`] }, { O: [federation] }],
    keys,
    signingAlgorithm: signingAlgorithm(alg),
    notBefore: new Date(now.getTime() - CLOCK_SKEW_MS),
    notAfter: new Date(now.getTime() + days * DAY_MS),
    extensions: [
      // pathLength 0: this CA signs leaf certificates only, never another CA.
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  writePrivateKeyFile(paths.caKey, await exportPrivateKeyPem(keys.privateKey));
  writeFileAtomic(paths.caCert, ca.toString('pem'));

  const manifest: PkiManifest = {
    version: 1,
    federation,
    keyAlgorithm: alg,
    createdAt: now.toISOString(),
    ca: {
      subject: ca.subject,
      serial: ca.serialNumber,
      fingerprint: fingerprintOf(ca),
      notBefore: ca.notBefore.toISOString(),
      notAfter: ca.notAfter.toISOString(),
    },
    crl: { number: 0, thisUpdate: now.toISOString(), nextUpdate: now.toISOString(), validityDays: crlDays },
    certificates: [],
  };
  return publishCrl(dir, manifest, { cert: ca, key: keys.privateKey }, now);
}

export async function issueParticipant(options: IssueOptions & { readonly name: string; readonly org?: string }): Promise<IssuedCertificate> {
  const name = parseOrFail(participantNameSchema, options.name, 'participant name');
  const org = options.org === undefined ? undefined : parseOrFail(orgSchema, options.org, 'organisation');
  const paths = pkiPaths(options.dir);
  return issue(options, {
    kind: 'participant',
    name,
    org,
    hosts: undefined,
    subject: org === undefined ? [{ CN: [name] }] : [{ CN: [name] }, { O: [org] }],
    eku: x509.ExtendedKeyUsage.clientAuth,
    san: [{ type: 'url', value: `${PARTICIPANT_URI_PREFIX}${name}` }],
    certPath: paths.participantCert(name),
    keyPath: paths.participantKey(name),
  });
}

export async function issueCoordinator(options: IssueOptions & { readonly hosts: readonly string[] }): Promise<IssuedCertificate> {
  if (options.hosts.length === 0) fail('config', 'the coordinator certificate needs at least one host', 'pass e.g. --coordinator localhost,127.0.0.1');
  const hosts = options.hosts.map((h) => parseOrFail(hostSchema, h, 'coordinator host'));
  const paths = pkiPaths(options.dir);
  const first = hosts[0] as string;
  return issue(options, {
    kind: 'coordinator',
    name: 'coordinator',
    org: undefined,
    hosts,
    subject: [{ CN: [first] }],
    eku: x509.ExtendedKeyUsage.serverAuth,
    san: hosts.map((h) => (isIP(h) ? { type: 'ip' as const, value: h } : { type: 'dns' as const, value: h })),
    certPath: paths.coordinatorCert,
    keyPath: paths.coordinatorKey,
  });
}

interface LeafSpec {
  readonly kind: CertificateRecord['kind'];
  readonly name: string;
  readonly org: string | undefined;
  readonly hosts: string[] | undefined;
  readonly subject: x509.JsonName;
  readonly eku: x509.ExtendedKeyUsage;
  readonly san: x509.JsonGeneralNames;
  readonly certPath: string;
  readonly keyPath: string;
}

async function issue(options: IssueOptions, spec: LeafSpec): Promise<IssuedCertificate> {
  const { dir } = options;
  const now = options.now ?? new Date();
  const manifest = readManifest(dir);
  const ca = await loadCaSigner(dir, manifest);

  // Default: a year, or up to the CA's expiry if sooner. An explicit --days that overshoots is an error.
  let notAfter: Date;
  if (options.days === undefined) {
    notAfter = new Date(Math.min(now.getTime() + 365 * DAY_MS, ca.cert.notAfter.getTime()));
  } else {
    const days = positiveDays(options.days, 'certificate validity');
    notAfter = new Date(now.getTime() + days * DAY_MS);
    if (notAfter > ca.cert.notAfter) {
      fail('precondition', `a ${days}-day certificate would outlive the CA (expires ${ca.cert.notAfter.toISOString()})`, 'pass a smaller --days or create a new CA');
    }
  }
  if (notAfter <= now) fail('precondition', `the CA expired at ${ca.cert.notAfter.toISOString()}`, 'create a new CA with `fedsec pki init --force`');
  const active = manifest.certificates.find((c) => c.kind === spec.kind && c.name === spec.name && c.revoked === undefined);
  if (active && !options.force) {
    fail('precondition', `${spec.kind} "${spec.name}" already has an active certificate (serial ${active.serial})`, 'pass --force to replace it (the old one is revoked as superseded), or revoke it first');
  }

  const keys = await generateKeyPair(manifest.keyAlgorithm);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: newSerial(),
    subject: spec.subject,
    issuer: ca.cert.subjectName,
    publicKey: keys.publicKey,
    signingKey: ca.key,
    signingAlgorithm: signingAlgorithm(manifest.keyAlgorithm),
    notBefore: new Date(now.getTime() - CLOCK_SKEW_MS),
    notAfter,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      // digitalSignature is all a (EC)DHE TLS 1.3 handshake needs from a leaf key.
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([spec.eku]),
      new x509.SubjectAlternativeNameExtension(spec.san),
      await x509.AuthorityKeyIdentifierExtension.create(ca.cert),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  writePrivateKeyFile(spec.keyPath, await exportPrivateKeyPem(keys.privateKey));
  writeFileAtomic(spec.certPath, cert.toString('pem'));

  const record: CertificateRecord = {
    kind: spec.kind,
    name: spec.name,
    ...(spec.org === undefined ? {} : { org: spec.org }),
    ...(spec.hosts === undefined ? {} : { hosts: spec.hosts }),
    serial: cert.serialNumber,
    fingerprint: fingerprintOf(cert),
    notBefore: cert.notBefore.toISOString(),
    notAfter: cert.notAfter.toISOString(),
    issuedAt: now.toISOString(),
    file: relative(dir, spec.certPath),
  };
  const certificates = manifest.certificates.map((c) =>
    c === active ? { ...c, revoked: { at: now.toISOString(), reason: 'superseded' as const } } : c,
  );
  const next = { ...manifest, certificates: [...certificates, record] };
  if (active) await publishCrl(dir, next, ca, now);
  else writeManifest(dir, next);
  return { record, certPath: spec.certPath, keyPath: spec.keyPath };
}

export interface RevokeOptions {
  readonly dir: string;
  /** A participant name, or "coordinator". */
  readonly name?: string;
  /** Alternatively, the certificate's serial number (hex). */
  readonly serial?: string;
  readonly reason?: RevocationReason;
  readonly now?: Date;
}

export async function revokeCertificate(options: RevokeOptions): Promise<CertificateRecord> {
  const { dir } = options;
  const now = options.now ?? new Date();
  const manifest = readManifest(dir);
  if ((options.name === undefined) === (options.serial === undefined)) {
    fail('config', 'say which certificate to revoke', 'pass a participant name (or "coordinator"), or --serial HEX, but not both');
  }
  const serial = options.serial?.toLowerCase();
  const target = manifest.certificates.find((c) =>
    serial !== undefined ? c.serial === serial : c.name === options.name && c.revoked === undefined,
  );
  if (!target) {
    const known = manifest.certificates.filter((c) => c.revoked === undefined).map((c) => c.name);
    fail('precondition', `no active certificate ${serial !== undefined ? `with serial ${serial}` : `for "${options.name}"`}`, `active: ${known.join(', ') || '(none)'}; see \`fedsec pki list --dir ${dir}\``);
  }
  if (target.revoked) fail('precondition', `certificate ${target.serial} ("${target.name}") is already revoked (${target.revoked.reason}, ${target.revoked.at})`);
  const revoked: CertificateRecord = { ...target, revoked: { at: now.toISOString(), reason: options.reason ?? 'unspecified' } };
  const next = { ...manifest, certificates: manifest.certificates.map((c) => (c === target ? revoked : c)) };
  await publishCrl(dir, next, await loadCaSigner(dir, manifest), now);
  return revoked;
}

/** Re-signs the CRL with a fresh validity window (run before `nextUpdate`, e.g. from cron). */
export async function renewCrl(options: { readonly dir: string; readonly days?: number; readonly now?: Date }): Promise<PkiManifest> {
  const manifest = readManifest(options.dir);
  const validityDays = positiveDays(options.days ?? manifest.crl.validityDays, 'CRL validity');
  const next = { ...manifest, crl: { ...manifest.crl, validityDays } };
  return publishCrl(options.dir, next, await loadCaSigner(options.dir, manifest), options.now ?? new Date());
}

export type CertificateStatus = 'active' | 'revoked' | 'expired' | 'not-yet-valid';

export function certificateStatus(record: CertificateRecord, now: Date = new Date()): CertificateStatus {
  if (record.revoked) return 'revoked';
  if (now < new Date(record.notBefore)) return 'not-yet-valid';
  if (now > new Date(record.notAfter)) return 'expired';
  return 'active';
}

/** SHA-256 over the DER encoding, lowercase hex (Node's `fingerprint256` without colons). */
export function fingerprintOf(cert: x509.X509Certificate): string {
  return createHash('sha256').update(new Uint8Array(cert.rawData)).digest('hex');
}

/** PEM with the RFC 7468 label "X509 CRL": @peculiar/x509 writes "CRL", which OpenSSL refuses. */
export function crlToPem(crl: x509.X509Crl): string {
  return x509.PemConverter.encode(crl.rawData, 'X509 CRL');
}

interface CaSigner {
  readonly cert: x509.X509Certificate;
  readonly key: webcrypto.CryptoKey;
}

async function loadCaSigner(dir: string, manifest: PkiManifest): Promise<CaSigner> {
  const paths = pkiPaths(dir);
  const cert = new x509.X509Certificate(readFileSync(paths.caCert, 'utf8'));
  if (fingerprintOf(cert) !== manifest.ca.fingerprint) {
    fail('auth', `${paths.caCert} is not the CA recorded in pki.json`, 'restore ca.crt from backup');
  }
  const key = await importPrivateKeyPem(readPrivateKeyFile(paths.caKey), manifest.keyAlgorithm, paths.caKey);
  return { cert, key };
}

const CRL_REASONS: Record<RevocationReason, x509.X509CrlReason> = {
  unspecified: x509.X509CrlReason.unspecified,
  'key-compromise': x509.X509CrlReason.keyCompromise,
  'affiliation-changed': x509.X509CrlReason.affiliationChanged,
  superseded: x509.X509CrlReason.superseded,
  'cessation-of-operation': x509.X509CrlReason.cessationOfOperation,
  'privilege-withdrawn': x509.X509CrlReason.privilegeWithdrawn,
};

/** Signs a CRL listing every revoked certificate, then records it in pki.json (CRL first: fail safe). */
async function publishCrl(dir: string, manifest: PkiManifest, ca: CaSigner, now: Date): Promise<PkiManifest> {
  const nextUpdate = new Date(now.getTime() + manifest.crl.validityDays * DAY_MS);
  const crl = await x509.X509CrlGenerator.create({
    issuer: ca.cert.subjectName,
    thisUpdate: now,
    nextUpdate,
    signingKey: ca.key,
    signingAlgorithm: signingAlgorithm(manifest.keyAlgorithm),
    entries: manifest.certificates.flatMap((c) =>
      c.revoked ? [{ serialNumber: c.serial, revocationDate: new Date(c.revoked.at), reason: CRL_REASONS[c.revoked.reason] }] : [],
    ),
    extensions: [await x509.AuthorityKeyIdentifierExtension.create(ca.cert)],
  });
  writeFileAtomic(pkiPaths(dir).crl, crlToPem(crl));
  const next: PkiManifest = {
    ...manifest,
    crl: { ...manifest.crl, number: manifest.crl.number + 1, thisUpdate: now.toISOString(), nextUpdate: nextUpdate.toISOString() },
  };
  writeManifest(dir, next);
  return next;
}

/** 128-bit random serial, first byte 0x01..0x7f: positive and of fixed length, so DER and hex agree. */
function newSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] ?? 0) % 0x7f) + 1;
  return bytes.toString('hex');
}

function positiveDays(days: number, what: string): number {
  if (!Number.isFinite(days) || days <= 0 || days > 36500) fail('config', `${what} must be between 1 and 36500 days, got ${days}`);
  return days;
}

function parseOrFail<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const r = schema.safeParse(value);
  if (!r.success) fail('config', `invalid ${what} ${JSON.stringify(value)}: ${r.error.issues[0]?.message ?? 'invalid'}`);
  return r.data;
}
