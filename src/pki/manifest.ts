/**
 * pki.json: the CA operator's record of what the federation CA has issued and revoked. The CRL is
 * derived from it (re-signed on every change), so this file is the source of truth for `pki list`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { z } from 'zod';
import { fail } from '../core/errors.js';
import { writeFileAtomic } from '../store/atomic-file.js';
import { KEY_ALGORITHMS } from './key-algorithm.js';

/** Participant names become file names and SAN URIs, so they are restricted to a safe alphabet. */
export const participantNameSchema = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/,
    'use 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit',
  )
  .refine((n) => n !== 'coordinator', '"coordinator" is reserved for the coordinator certificate');

export const orgSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[\p{L}\p{N} .,'&()_-]+$/u, 'use letters, digits, spaces and . , \' & ( ) _ -');

const dnsLabel = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
const dnsName = new RegExp(`^${dnsLabel}(?:\\.${dnsLabel})*$`);
export const hostSchema = z
  .string()
  .max(253)
  .refine((h) => isIP(h) !== 0 || dnsName.test(h), 'use a DNS name (e.g. localhost) or an IP address (e.g. 127.0.0.1)');

const hex = z.string().regex(/^[0-9a-f]+$/);
const isoDate = z.iso.datetime();

export const revocationReasons = [
  'unspecified',
  'key-compromise',
  'affiliation-changed',
  'superseded',
  'cessation-of-operation',
  'privilege-withdrawn',
] as const;
export type RevocationReason = (typeof revocationReasons)[number];

const certificateRecordSchema = z.object({
  kind: z.enum(['participant', 'coordinator']),
  name: z.string().min(1),
  org: z.string().optional(),
  hosts: z.array(z.string()).optional(),
  serial: hex,
  fingerprint: hex.length(64),
  notBefore: isoDate,
  notAfter: isoDate,
  issuedAt: isoDate,
  /** Certificate file, relative to the PKI directory. */
  file: z.string(),
  revoked: z.object({ at: isoDate, reason: z.enum(revocationReasons) }).optional(),
});
export type CertificateRecord = z.infer<typeof certificateRecordSchema>;

export const manifestSchema = z.object({
  version: z.literal(1),
  federation: z.string().min(1),
  keyAlgorithm: z.enum(KEY_ALGORITHMS),
  createdAt: isoDate,
  ca: z.object({ subject: z.string(), serial: hex, fingerprint: hex.length(64), notBefore: isoDate, notAfter: isoDate }),
  crl: z.object({
    number: z.number().int().nonnegative(),
    thisUpdate: isoDate,
    nextUpdate: isoDate,
    /** How long each re-signed CRL stays valid; TLS rejects every peer once it lapses. */
    validityDays: z.number().int().positive(),
  }),
  certificates: z.array(certificateRecordSchema),
});
export type PkiManifest = z.infer<typeof manifestSchema>;

export const pkiPaths = (dir: string) => ({
  manifest: join(dir, 'pki.json'),
  caCert: join(dir, 'ca.crt'),
  caKey: join(dir, 'ca.key'),
  crl: join(dir, 'crl.pem'),
  participantsDir: join(dir, 'participants'),
  participantCert: (name: string) => join(dir, 'participants', `${name}.crt`),
  participantKey: (name: string) => join(dir, 'participants', `${name}.key`),
  coordinatorCert: join(dir, 'coordinator.crt'),
  coordinatorKey: join(dir, 'coordinator.key'),
});

export function readManifest(dir: string): PkiManifest {
  const path = pkiPaths(dir).manifest;
  if (!existsSync(path)) fail('config', `no PKI in ${dir} (missing pki.json)`, `create one with \`fedsec pki init --dir ${dir}\``);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    fail('config', `${path} is not valid JSON: ${(err as Error).message}`, 'restore it from backup');
  }
  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    fail('config', `${path} is invalid at ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'unknown'}`, 'restore it from backup');
  }
  return parsed.data;
}

export function writeManifest(dir: string, manifest: PkiManifest): void {
  writeFileAtomic(pkiPaths(dir).manifest, `${JSON.stringify(manifestSchema.parse(manifest), null, 2)}\n`);
}
