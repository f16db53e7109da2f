/**
 * Who may join, decided after the certificate verified and the participant sent its signed Hello:
 *   1. listed in deploy.admission.allow (optionally pinned to an organisation or one certificate),
 *      or enrolled earlier with a one-time token, or presenting an unused token now;
 *   2. the certificate names an organisation (unless requireOrg is off);
 *   3. the organisation stays within maxIdentitiesPerOrg admissible, unrevoked identities —
 *      a CA-issued certificate per identity is cheap for an insider, so this bounds Sybils.
 * Tokens are configured as SHA-256 hashes; a used token is recorded (enrollments.json in the store
 * directory, written atomically) and never accepted again. Admitted identities go to the store.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { z } from 'zod';
import { fail } from '../core/errors.js';
import type { PeerIdentity } from '../pki/verify-peer.js';
import { writeFileAtomic } from '../store/atomic-file.js';
import type { CoordinatorStore } from '../store/coordinator-store.js';
import type { AdmissionDecision, Hello } from '../transport/network/coordinator-session.js';
import type { AdmissionConfig } from './coordinator-config.js';

const enrollmentsSchema = z.object({
  version: z.literal(1),
  /** token SHA-256 → who used it, when */
  used: z.record(z.string(), z.object({ participant: z.string(), at: z.string() })),
});
type Enrollments = z.infer<typeof enrollmentsSchema>;

export function tokenHash(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

export class AdmissionPolicy {
  private enrollments: Enrollments;

  constructor(
    private readonly config: AdmissionConfig,
    private readonly store: CoordinatorStore,
    private readonly enrollmentsPath: string,
    private readonly clock: () => Date = () => new Date(),
  ) {
    this.enrollments = readEnrollments(enrollmentsPath);
  }

  private enrolledByToken(name: string): boolean {
    return Object.values(this.enrollments.used).some((u) => u.participant === name);
  }

  private listed(name: string): boolean {
    return this.config.allow.some((e) => (typeof e === 'string' ? e : e.name) === name) || this.enrolledByToken(name);
  }

  decide(identity: PeerIdentity, hello: Pick<Hello, 'enrollmentToken'>): AdmissionDecision {
    const { name } = identity;
    const entry = this.config.allow.find((e) => (typeof e === 'string' ? e : e.name) === name);
    let consume: string | undefined;
    if (entry !== undefined) {
      if (typeof entry !== 'string' && entry.org !== undefined && entry.org !== identity.org) {
        return deny('not-admitted', `the allow-list pins "${name}" to organisation "${entry.org}", the certificate says "${identity.org ?? '(none)'}"`);
      }
      if (typeof entry !== 'string' && entry.fingerprint !== undefined && entry.fingerprint !== identity.fingerprint) {
        return deny('not-admitted', `the allow-list pins "${name}" to certificate ${entry.fingerprint.slice(0, 16)}…, this one is ${identity.fingerprint.slice(0, 16)}…`);
      }
    } else if (!this.enrolledByToken(name)) {
      if (hello.enrollmentToken === '') {
        return deny('not-admitted', `"${name}" is not on this coordinator's allow-list (deploy.admission.allow) and presented no enrollment token`);
      }
      const hash = tokenHash(hello.enrollmentToken);
      const token = this.config.tokens.find((t) => t.sha256 === hash);
      if (!token) return deny('bad-token', 'the enrollment token is not valid for this coordinator');
      const used = this.enrollments.used[hash];
      if (used) return deny('bad-token', `the enrollment token was already used by "${used.participant}" at ${used.at}; tokens are single-use`);
      if (token.participant !== undefined && token.participant !== name) return deny('bad-token', `the enrollment token is reserved for "${token.participant}"`);
      consume = hash;
    }

    if (identity.org === undefined && this.config.requireOrg) {
      return deny('no-organisation', `the certificate of "${name}" names no organisation (O=), so the per-organisation quota cannot apply; reissue it with \`fedsec pki issue --participant ${name} --org ORG --force\``);
    }
    if (identity.org !== undefined) {
      const others = this.store
        .participants()
        .filter((p) => p.org === identity.org && p.name !== name && p.status !== 'revoked' && this.listed(p.name))
        .map((p) => p.name);
      const max = this.config.maxIdentitiesPerOrg;
      if (others.length + 1 > max) {
        return deny('org-quota', `organisation "${identity.org}" already has ${others.length} identit${others.length === 1 ? 'y' : 'ies'} in this federation (${others.join(', ')}); deploy.admission.maxIdentitiesPerOrg is ${max}`);
      }
    }

    if (consume !== undefined) {
      this.enrollments = { ...this.enrollments, used: { ...this.enrollments.used, [consume]: { participant: name, at: this.clock().toISOString() } } };
      writeFileAtomic(this.enrollmentsPath, `${JSON.stringify(this.enrollments, null, 2)}\n`, { mode: 0o640 });
    }
    this.store.upsertParticipant({ name, ...(identity.org === undefined ? {} : { org: identity.org }), serial: identity.serial, fingerprint: identity.fingerprint, status: 'active' });
    return { ok: true };
  }
}

function deny(reason: Extract<AdmissionDecision, { ok: false }>['reason'], message: string): AdmissionDecision {
  return { ok: false, reason, message };
}

function readEnrollments(path: string): Enrollments {
  if (!existsSync(path)) return { version: 1, used: {} };
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    fail('io', `${path} is not valid JSON: ${(err as Error).message}`, 'restore it from backup (it records which enrollment tokens were used)');
  }
  const parsed = enrollmentsSchema.safeParse(raw);
  if (!parsed.success) fail('io', `${path} is malformed: ${parsed.error.issues[0]?.message ?? 'invalid'}`, 'restore it from backup');
  return parsed.data;
}
