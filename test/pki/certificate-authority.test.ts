import { X509Certificate as NodeX509, createPrivateKey } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  certificateStatus,
  initPki,
  issueCoordinator,
  issueParticipant,
  renewCrl,
  revokeCertificate,
} from '../../src/pki/certificate-authority.js';
import { readPrivateKeyFile } from '../../src/pki/key-file.js';
import { loadPki } from '../../src/pki/load-pki.js';
import { readManifest } from '../../src/pki/manifest.js';
import { verifyPeerCertificate } from '../../src/pki/verify-peer.js';

const DAY = 86_400_000;
let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'fedsec-pki-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const fresh = (name: string) => join(root, name);
const mode = (p: string) => statSync(p).mode & 0o777;
const read = (p: string) => readFileSync(p, 'utf8');

describe('pki init', () => {
  it('creates a self-signed CA (CA:true, keyCertSign|cRLSign), a 0600 key, a CRL and a valid manifest', async () => {
    const dir = fresh('init');
    const manifest = await initPki({ dir, federation: 'Hospitals EU', days: 30 });
    expect(mode(join(dir, 'ca.key'))).toBe(0o600);
    expect(mode(dir)).toBe(0o700);
    const ca = new NodeX509(read(join(dir, 'ca.crt')));
    expect(ca.ca).toBe(true);
    expect(ca.verify(ca.publicKey)).toBe(true);
    expect(ca.subject).toContain('O=Hospitals EU');
    expect(ca.publicKey.asymmetricKeyType).toBe('ec');
    const parsed = new x509.X509Certificate(read(join(dir, 'ca.crt')));
    const ku = parsed.getExtension(x509.KeyUsagesExtension);
    expect(ku?.usages).toBe(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign);
    expect(ku?.critical).toBe(true);
    expect(new Date(ca.validTo).getTime() - Date.now()).toBeGreaterThan(29 * DAY);
    expect(new Date(ca.validTo).getTime() - Date.now()).toBeLessThan(31 * DAY);
    expect(readManifest(dir)).toEqual(manifest);
    expect(manifest.ca.fingerprint).toBe(ca.fingerprint256.replaceAll(':', '').toLowerCase());
    const pki = await loadPki(dir);
    expect(pki.crlPem).toMatch(/^-----BEGIN X509 CRL-----/);
    expect(pki.crl.entries).toHaveLength(0);
    // the private key matches the certificate
    const key = createPrivateKey(read(join(dir, 'ca.key')));
    expect(key.asymmetricKeyType).toBe('ec');
    // without --days a certificate gets a year, capped at this 30-day CA's expiry
    const leaf = await issueParticipant({ dir, name: 'alice' });
    expect(leaf.record.notAfter).toBe(manifest.ca.notAfter);
  });

  it('refuses to overwrite an existing CA unless forced', async () => {
    const dir = fresh('overwrite');
    const first = await initPki({ dir });
    await expect(initPki({ dir })).rejects.toThrow(/already holds a federation CA.*--force/);
    const second = await initPki({ dir, force: true });
    expect(second.ca.fingerprint).not.toBe(first.ca.fingerprint);
  });

  it('rejects unusable options with a clear message', async () => {
    await expect(initPki({ dir: fresh('bad1'), days: 0 })).rejects.toThrow(/between 1 and 36500 days, got 0/);
    await expect(initPki({ dir: fresh('bad2'), federation: 'a/b\n' })).rejects.toThrow(/invalid federation name/);
  });

  it('supports Ed25519 as an opt-in key algorithm', async () => {
    const dir = fresh('ed');
    await initPki({ dir, keyAlgorithm: 'ed25519' });
    const issued = await issueParticipant({ dir, name: 'alice' });
    expect(new NodeX509(read(issued.certPath)).publicKey.asymmetricKeyType).toBe('ed25519');
    const pki = await loadPki(dir);
    const v = await verifyPeerCertificate(read(issued.certPath), { ca: pki.ca, crl: pki.crl });
    expect(v.ok).toBe(true);
  });
});

describe('pki issue / revoke / verify', () => {
  let dir: string;
  let foreignDir: string;
  beforeAll(async () => {
    dir = fresh('fed');
    foreignDir = fresh('foreign');
    await initPki({ dir, federation: 'Acme', crlDays: 60, now: new Date(Date.now() - 30 * DAY) });
    await initPki({ dir: foreignDir, federation: 'Acme' }); // same names, different key
  });

  it('issues a participant cert that chains to the CA, with clientAuth and a fedsec SAN URI', async () => {
    const issued = await issueParticipant({ dir, name: 'alice', org: 'Hospital A' });
    expect(mode(issued.keyPath)).toBe(0o600);
    const cert = new NodeX509(read(issued.certPath));
    const ca = new NodeX509(read(join(dir, 'ca.crt')));
    expect(cert.checkIssued(ca)).toBe(true);
    expect(cert.verify(ca.publicKey)).toBe(true);
    expect(cert.ca).toBe(false);
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
    expect(cert.subjectAltName).toBe('URI:fedsec://participant/alice');
    expect(cert.subject).toBe('CN=alice\nO=Hospital A');
    expect(createPrivateKey(read(issued.keyPath)).asymmetricKeyType).toBe('ec');

    const pki = await loadPki(dir);
    const v = await verifyPeerCertificate(read(issued.certPath), { ca: pki.caPem, crl: pki.crlPem });
    expect(v).toEqual({
      ok: true,
      identity: {
        role: 'participant',
        name: 'alice',
        org: 'Hospital A',
        serial: issued.record.serial,
        fingerprint: cert.fingerprint256.replaceAll(':', '').toLowerCase(),
        notAfter: new Date(cert.validTo),
      },
    });
    // DER input works as well as PEM
    const der = await verifyPeerCertificate(new Uint8Array(cert.raw), { ca: pki.ca, crl: pki.crl });
    expect(der.ok).toBe(true);
  });

  it('issues a coordinator cert with serverAuth and DNS/IP SANs', async () => {
    const issued = await issueCoordinator({ dir, hosts: ['localhost', '127.0.0.1'] });
    expect(mode(issued.keyPath)).toBe(0o600);
    const cert = new NodeX509(read(issued.certPath));
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
    expect(cert.checkHost('localhost')).toBe('localhost');
    expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(cert.checkHost('example.com')).toBeUndefined();
    const pki = await loadPki(dir);
    const asServer = await verifyPeerCertificate(read(issued.certPath), { ca: pki.ca, crl: pki.crl, expect: 'coordinator' });
    expect(asServer.ok && asServer.identity.name).toBe('localhost');
    // a server certificate is not a participant identity, and vice versa
    const asClient = await verifyPeerCertificate(read(issued.certPath), { ca: pki.ca, crl: pki.crl });
    expect(asClient).toMatchObject({ ok: false, reason: 'not-client-cert' });
    const alice = await verifyPeerCertificate(read(join(dir, 'participants', 'alice.crt')), { ca: pki.ca, crl: pki.crl, expect: 'coordinator' });
    expect(alice).toMatchObject({ ok: false, reason: 'not-server-cert' });
  });

  it('rejects the CA certificate itself presented as a participant', async () => {
    const pki = await loadPki(dir);
    expect(await verifyPeerCertificate(pki.caPem, { ca: pki.ca, crl: pki.crl })).toMatchObject({ ok: false, reason: 'not-client-cert' });
  });

  it("rejects a certificate from another CA, even with the same names", async () => {
    const other = await issueParticipant({ dir: foreignDir, name: 'alice', org: 'Hospital A' });
    const pki = await loadPki(dir);
    const v = await verifyPeerCertificate(read(other.certPath), { ca: pki.ca, crl: pki.crl });
    expect(v).toMatchObject({ ok: false, reason: 'unknown-ca' });
  });

  it('rejects garbage input as malformed', async () => {
    const pki = await loadPki(dir);
    expect(await verifyPeerCertificate(new Uint8Array([0x30, 0x03, 1, 2, 3]), { ca: pki.ca, crl: pki.crl })).toMatchObject({ ok: false, reason: 'malformed' });
    expect(await verifyPeerCertificate('hello', { ca: pki.ca, crl: pki.crl })).toMatchObject({ ok: false, reason: 'malformed' });
  });

  it('rejects expired and not-yet-valid certificates', async () => {
    const old = await issueParticipant({ dir, name: 'old', days: 1, now: new Date(Date.now() - 10 * DAY) });
    const pki = await loadPki(dir);
    const v = await verifyPeerCertificate(read(old.certPath), { ca: pki.ca, crl: pki.crl });
    expect(v).toMatchObject({ ok: false, reason: 'expired' });
    expect(certificateStatus(old.record)).toBe('expired');
    // the same certificate was fine while valid
    const then = await verifyPeerCertificate(read(old.certPath), { ca: pki.ca, crl: null, now: new Date(Date.now() - 9.5 * DAY) });
    expect(then.ok).toBe(true);
    const before = await verifyPeerCertificate(read(old.certPath), { ca: pki.ca, crl: null, now: new Date(Date.now() - 11 * DAY) });
    expect(before).toMatchObject({ ok: false, reason: 'not-yet-valid' });
  });

  it('revokes into a CA-signed CRL, and revoked certificates are rejected', async () => {
    const bob = await issueParticipant({ dir, name: 'bob', org: 'Clinic B' });
    const before = await loadPki(dir);
    expect((await verifyPeerCertificate(read(bob.certPath), { ca: before.ca, crl: before.crl })).ok).toBe(true);

    const rec = await revokeCertificate({ dir, name: 'bob', reason: 'key-compromise' });
    expect(rec.revoked?.reason).toBe('key-compromise');
    const after = await loadPki(dir);
    expect(after.manifest.crl.number).toBe(before.manifest.crl.number + 1);
    expect(after.crl.findRevoked(bob.record.serial)?.reason).toBe(x509.X509CrlReason.keyCompromise);
    const v = await verifyPeerCertificate(read(bob.certPath), { ca: after.ca, crl: after.crlPem });
    expect(v).toMatchObject({ ok: false, reason: 'revoked' });
    if (!v.ok) expect(v.message).toMatch(/revoked at .*keyCompromise/);
    // others are unaffected
    expect((await verifyPeerCertificate(read(join(dir, 'participants', 'alice.crt')), { ca: after.ca, crl: after.crl })).ok).toBe(true);

    await expect(revokeCertificate({ dir, name: 'bob' })).rejects.toThrow(/no active certificate for "bob"/);
    await expect(revokeCertificate({ dir, serial: bob.record.serial })).rejects.toThrow(/already revoked/);
    await expect(revokeCertificate({ dir })).rejects.toThrow(/say which certificate/);
  });

  it('re-issuing needs --force and supersedes (revokes) the previous certificate', async () => {
    await issueParticipant({ dir, name: 'carol' });
    const first = readManifest(dir).certificates.find((c) => c.name === 'carol');
    await expect(issueParticipant({ dir, name: 'carol' })).rejects.toThrow(/already has an active certificate.*--force/);
    const second = await issueParticipant({ dir, name: 'carol', force: true });
    const pki = await loadPki(dir);
    const carol = pki.manifest.certificates.filter((c) => c.name === 'carol');
    expect(carol.map((c) => c.revoked?.reason)).toEqual(['superseded', undefined]);
    expect(pki.crl.findRevoked(first?.serial ?? '')).not.toBeNull();
    expect((await verifyPeerCertificate(read(second.certPath), { ca: pki.ca, crl: pki.crl })).ok).toBe(true);
  });

  it('fails closed on an expired CRL or a CRL from another CA', async () => {
    const pki = await loadPki(dir);
    const alice = read(join(dir, 'participants', 'alice.crt'));
    const late = new Date(pki.crl.nextUpdate!.getTime() + 1000);
    const v = await verifyPeerCertificate(alice, { ca: pki.ca, crl: pki.crl, now: late });
    expect(v).toMatchObject({ ok: false, reason: 'crl-expired' });
    const foreign = await loadPki(foreignDir);
    expect(await verifyPeerCertificate(alice, { ca: pki.ca, crl: foreign.crl })).toMatchObject({ ok: false, reason: 'crl-invalid' });

    const renewed = await renewCrl({ dir, now: late });
    expect(renewed.crl.number).toBe(pki.manifest.crl.number + 1);
    const again = await loadPki(dir);
    expect((await verifyPeerCertificate(alice, { ca: again.ca, crl: again.crl, now: late })).ok).toBe(true);
    // the renewed CRL still lists every revocation
    expect(again.crl.entries.length).toBe(pki.crl.entries.length);
  });

  it('loadPki refuses a CRL not signed by the CA and a swapped ca.crt', async () => {
    const copy = fresh('tampered');
    await initPki({ dir: copy });
    writeFileSync(join(copy, 'crl.pem'), read(join(foreignDir, 'crl.pem')));
    await expect(loadPki(copy)).rejects.toThrow(/not signed by the federation CA/);
    const copy2 = fresh('tampered2');
    await initPki({ dir: copy2 });
    writeFileSync(join(copy2, 'ca.crt'), read(join(foreignDir, 'ca.crt')));
    await expect(loadPki(copy2)).rejects.toThrow(/not the CA recorded in pki.json/);
    await expect(issueParticipant({ dir: copy2, name: 'x' })).rejects.toThrow(/not the CA recorded/);
  });

  it('validates names, hosts and lifetimes', async () => {
    await expect(issueParticipant({ dir, name: '../evil' })).rejects.toThrow(/invalid participant name/);
    await expect(issueParticipant({ dir, name: 'coordinator' })).rejects.toThrow(/reserved/);
    await expect(issueParticipant({ dir, name: 'dave', org: 'x\ny' })).rejects.toThrow(/invalid organisation/);
    await expect(issueCoordinator({ dir, hosts: ['bad host'] })).rejects.toThrow(/invalid coordinator host/);
    await expect(issueCoordinator({ dir, hosts: [] })).rejects.toThrow(/at least one host/);
    await expect(issueParticipant({ dir, name: 'dave', days: 99999 })).rejects.toThrow(/between 1 and 36500/);
    await expect(issueParticipant({ dir, name: 'dave', days: 36000 })).rejects.toThrow(/outlive the CA/);
    await expect(issueParticipant({ dir: fresh('nope'), name: 'dave' })).rejects.toThrow(/no PKI in .*fedsec pki init/);
  });

  it('refuses private keys readable by group or others', async () => {
    const keyPath = join(dir, 'participants', 'alice.key');
    expect(readPrivateKeyFile(keyPath)).toMatch(/BEGIN PRIVATE KEY/);
    chmodSync(keyPath, 0o644);
    expect(() => readPrivateKeyFile(keyPath)).toThrow(/readable by group or others \(mode 644\).*chmod 600/);
    chmodSync(join(dir, 'ca.key'), 0o640);
    await expect(issueParticipant({ dir, name: 'erin' })).rejects.toThrow(/readable by group or others/);
    chmodSync(join(dir, 'ca.key'), 0o600);
    chmodSync(keyPath, 0o600);
  });
});
