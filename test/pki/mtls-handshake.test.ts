// Proves the issued certificates work for mutual TLS 1.3 with node:tls (what grpc-js uses).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initPki, issueCoordinator, issueParticipant, revokeCertificate } from '../../src/pki/certificate-authority.js';
import { KEY_ALGORITHMS } from '../../src/pki/key-algorithm.js';
import { readPrivateKeyFile } from '../../src/pki/key-file.js';
import { loadPki } from '../../src/pki/load-pki.js';
import { verifyPeerCertificate } from '../../src/pki/verify-peer.js';

interface Outcome {
  accepted: boolean;
  peerDer?: Buffer;
  serverError?: string;
  /** OpenSSL's verdict on the client certificate; only observable with `diagnose` (see below). */
  authorizationError?: string;
  clientReceived: string;
}

/**
 * One connection to a mTLS server on 127.0.0.1; resolves once both ends are done.
 * Node enforces `rejectUnauthorized` by dropping the socket after OpenSSL's verdict, without saying
 * why; `diagnose` runs the same server with rejectUnauthorized:false only to read that verdict.
 */
async function handshake(server: tls.TlsOptions, client: tls.ConnectionOptions, diagnose = false): Promise<Outcome> {
  const srv = tls.createServer({ ...server, requestCert: true, rejectUnauthorized: !diagnose, minVersion: 'TLSv1.3' });
  const serverSide = new Promise<Pick<Outcome, 'accepted' | 'peerDer' | 'serverError' | 'authorizationError'>>((resolve) => {
    srv.on('secureConnection', (socket) => {
      const authorizationError = socket.authorizationError === undefined ? {} : { authorizationError: String(socket.authorizationError) };
      resolve({ accepted: socket.authorized, peerDer: socket.getPeerCertificate().raw, ...authorizationError });
      socket.end(socket.authorized ? 'welcome' : '');
    });
    srv.on('tlsClientError', (err) => resolve({ accepted: false, serverError: err.message }));
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as AddressInfo;
  const clientSide = new Promise<string>((resolve) => {
    let received = '';
    const socket = tls.connect({ ...client, host: '127.0.0.1', port, minVersion: 'TLSv1.3' });
    socket.on('data', (d: Buffer) => (received += d.toString()));
    socket.on('error', () => undefined); // a reset from the refusing server; the server side tells us what happened
    socket.on('close', () => resolve(received));
  });
  const [s, clientReceived] = await Promise.all([serverSide, clientSide]);
  await new Promise((resolve) => srv.close(resolve));
  return { ...s, clientReceived };
}

describe.each(KEY_ALGORITHMS)('mutual TLS 1.3 with %s certificates', (keyAlgorithm) => {
  let root: string;
  let dir: string;
  let server: tls.TlsOptions;
  const client = (d: string, name: string): tls.ConnectionOptions => ({
    ca: readFileSync(join(dir, 'ca.crt')),
    cert: readFileSync(join(d, 'participants', `${name}.crt`)),
    key: readPrivateKeyFile(join(d, 'participants', `${name}.key`)),
    servername: 'localhost',
  });

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'fedsec-mtls-'));
    dir = join(root, 'pki');
    await initPki({ dir, keyAlgorithm });
    await issueCoordinator({ dir, hosts: ['localhost', '127.0.0.1'] });
    await issueParticipant({ dir, name: 'alice', org: 'Hospital A' });
    server = {
      ca: readFileSync(join(dir, 'ca.crt')),
      cert: readFileSync(join(dir, 'coordinator.crt')),
      key: readPrivateKeyFile(join(dir, 'coordinator.key')),
      crl: (await loadPki(dir)).crlPem,
    };
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('completes with an issued participant certificate, and the peer maps to its identity', async () => {
    const out = await handshake(server, client(dir, 'alice'));
    expect(out.accepted).toBe(true);
    expect(out.clientReceived).toBe('welcome');
    const pki = await loadPki(dir);
    const v = await verifyPeerCertificate(new Uint8Array(out.peerDer ?? []), { ca: pki.ca, crl: pki.crl });
    expect(v.ok && v.identity.name).toBe('alice');
  });

  it('also verifies the server by IP SAN (127.0.0.1)', async () => {
    const { servername: _ignored, ...byIp } = client(dir, 'alice');
    const out = await handshake(server, byIp);
    expect(out.accepted).toBe(true);
  });

  it('fails for a client certificate from a foreign CA', async () => {
    const foreign = join(root, 'foreign');
    await initPki({ dir: foreign, keyAlgorithm });
    await issueParticipant({ dir: foreign, name: 'alice', org: 'Hospital A' });
    const out = await handshake(server, client(foreign, 'alice'));
    expect(out.accepted).toBe(false);
    expect(out.clientReceived).toBe('');
    const why = await handshake(server, client(foreign, 'alice'), true);
    expect(why).toMatchObject({ accepted: false, authorizationError: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
  });

  it('fails for a client without a certificate', async () => {
    const { cert: _c, key: _k, ...anonymous } = client(dir, 'alice');
    const out = await handshake(server, anonymous);
    expect(out.accepted).toBe(false);
    expect(out.clientReceived).toBe('');
  });

  it('fails for a revoked client certificate when the server is given the CRL', async () => {
    await issueParticipant({ dir, name: 'mallory' });
    expect((await handshake(server, client(dir, 'mallory'))).accepted).toBe(true);
    await revokeCertificate({ dir, name: 'mallory', reason: 'key-compromise' });
    const revokedServer = { ...server, crl: (await loadPki(dir)).crlPem };
    const out = await handshake(revokedServer, client(dir, 'mallory'));
    expect(out.accepted).toBe(false);
    expect(out.clientReceived).toBe('');
    const why = await handshake(revokedServer, client(dir, 'mallory'), true);
    expect(why).toMatchObject({ accepted: false, authorizationError: 'CERT_REVOKED' });
    expect((await handshake(revokedServer, client(dir, 'alice'))).accepted).toBe(true);
  });
});
