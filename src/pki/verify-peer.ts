/**
 * Checks a certificate a peer presented against the federation CA and CRL, and maps it to a
 * federation identity. The TLS stack already verified the chain during the handshake; this is the
 * application-level gate (role, identity, revocation) that decides admission and explains refusals.
 */
import * as x509 from '@peculiar/x509';
import { fail } from '../core/errors.js';
import { PARTICIPANT_URI_PREFIX, fingerprintOf } from './certificate-authority.js';
import './key-algorithm.js'; // installs node's WebCrypto as the @peculiar/x509 provider
import { participantNameSchema } from './manifest.js';

export type PeerRejectReason =
  | 'malformed'
  | 'unknown-ca'
  | 'crl-invalid'
  | 'crl-expired'
  | 'revoked'
  | 'not-yet-valid'
  | 'expired'
  | 'not-client-cert'
  | 'not-server-cert'
  | 'no-identity';

export interface PeerIdentity {
  readonly role: 'participant' | 'coordinator';
  /** Participant name (from the SAN URI) or the coordinator's common name. */
  readonly name: string;
  readonly org: string | undefined;
  /** Lowercase hex serial number. */
  readonly serial: string;
  /** SHA-256 of the DER certificate, lowercase hex. */
  readonly fingerprint: string;
  readonly notAfter: Date;
}

export type PeerVerification =
  | { readonly ok: true; readonly identity: PeerIdentity }
  | { readonly ok: false; readonly reason: PeerRejectReason; readonly message: string };

export interface VerifyPeerOptions {
  /** The federation CA certificate (PEM or parsed). */
  readonly ca: string | x509.X509Certificate;
  /** The CA's CRL (PEM or parsed); `null` skips revocation checks — only for tests/offline tools. */
  readonly crl: string | x509.X509Crl | null;
  readonly now?: Date;
  /** Which role the peer must hold: 'participant' (clientAuth, default) or 'coordinator' (serverAuth). */
  readonly expect?: PeerIdentity['role'];
}

export async function verifyPeerCertificate(
  cert: string | Uint8Array | x509.X509Certificate,
  options: VerifyPeerOptions,
): Promise<PeerVerification> {
  const now = options.now ?? new Date();
  const role = options.expect ?? 'participant';
  const ca = typeof options.ca === 'string' ? parseOwn(() => new x509.X509Certificate(options.ca as string), 'CA certificate') : options.ca;

  let peer: x509.X509Certificate;
  try {
    peer = cert instanceof x509.X509Certificate ? cert : new x509.X509Certificate(typeof cert === 'string' ? cert : new Uint8Array(cert));
  } catch (err) {
    return reject('malformed', `not an X.509 certificate: ${(err as Error).message}`);
  }

  const signedByCa = peer.issuer === ca.subject && (await verifiesWith(peer, ca));
  if (!signedByCa) return reject('unknown-ca', `certificate "${peer.subject}" was not issued by this federation's CA ("${ca.subject}")`);

  if (options.crl !== null) {
    const crl = typeof options.crl === 'string' ? parseOwn(() => new x509.X509Crl(options.crl as string), 'CRL') : options.crl;
    if (crl.issuer !== ca.subject || !(await crl.verify({ publicKey: ca }).catch(() => false))) {
      return reject('crl-invalid', `the CRL is not signed by this federation's CA; refusing every peer until it is replaced`);
    }
    if (crl.nextUpdate !== undefined && now > crl.nextUpdate) {
      return reject('crl-expired', `the CRL expired at ${crl.nextUpdate.toISOString()}; re-sign it with \`fedsec pki crl\``);
    }
    const entry = crl.findRevoked(peer.serialNumber);
    if (entry) {
      const why = entry.reason === undefined ? '' : ` (${x509.X509CrlReason[entry.reason]})`;
      return reject('revoked', `certificate ${peer.serialNumber} was revoked at ${entry.revocationDate.toISOString()}${why}`);
    }
  }

  if (now < peer.notBefore) return reject('not-yet-valid', `certificate is not valid before ${peer.notBefore.toISOString()}`);
  if (now > peer.notAfter) return reject('expired', `certificate expired at ${peer.notAfter.toISOString()}`);

  const basic = peer.getExtension(x509.BasicConstraintsExtension);
  const eku = peer.getExtension(x509.ExtendedKeyUsageExtension);
  const wanted = role === 'participant' ? x509.ExtendedKeyUsage.clientAuth : x509.ExtendedKeyUsage.serverAuth;
  if (basic?.ca === true || !eku || !eku.usages.includes(wanted)) {
    return reject(
      role === 'participant' ? 'not-client-cert' : 'not-server-cert',
      `certificate is not a ${role} certificate (needs ${role === 'participant' ? 'clientAuth' : 'serverAuth'} and must not be a CA)`,
    );
  }

  const cn = peer.subjectName.getField('CN')[0];
  const org = peer.subjectName.getField('O')[0];
  let name: string | undefined = cn;
  if (role === 'participant') {
    const uris = (peer.getExtension(x509.SubjectAlternativeNameExtension)?.names.items ?? [])
      .filter((n) => n.type === 'url' && n.value.startsWith(PARTICIPANT_URI_PREFIX))
      .map((n) => n.value.slice(PARTICIPANT_URI_PREFIX.length));
    name = uris.length === 1 && uris[0] === cn && participantNameSchema.safeParse(cn).success ? cn : undefined;
  }
  if (name === undefined) {
    return reject('no-identity', `certificate carries no single ${role} identity (expected CN = NAME and SAN URI ${PARTICIPANT_URI_PREFIX}NAME)`);
  }
  return {
    ok: true,
    identity: { role, name, org, serial: peer.serialNumber, fingerprint: fingerprintOf(peer), notAfter: peer.notAfter },
  };
}

async function verifiesWith(cert: x509.X509Certificate, ca: x509.X509Certificate): Promise<boolean> {
  try {
    return await cert.verify({ publicKey: ca, signatureOnly: true });
  } catch {
    // Different key algorithm, unsupported curve, garbage signature: not ours either way.
    return false;
  }
}

function reject(reason: PeerRejectReason, message: string): PeerVerification {
  return { ok: false, reason, message };
}

/** Our own CA/CRL failing to parse is a configuration error, not a peer to reject. */
function parseOwn<T>(parse: () => T, what: string): T {
  try {
    return parse();
  } catch (err) {
    fail('config', `the federation ${what} cannot be parsed: ${(err as Error).message}`, 'point the coordinator at the ca.crt / crl.pem written by `fedsec pki init`');
  }
}
