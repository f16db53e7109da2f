// Shared set-up for the deployment tests: a PKI on disk, coordinator configs, participant
// credentials, and a scripted participant that can misbehave on purpose.
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { initPki, issueCoordinator, issueParticipant } from '../../src/pki/certificate-authority.js';
import { parseCoordinatorConfig, type CoordinatorConfig } from '../../src/deploy/coordinator-config.js';
import { CoordinatorConnection, type Incoming } from '../../src/transport/network/coordinator-connection.js';
import { MessageSigner } from '../../src/transport/network/participant-agent.js';
import type { CoordinatorMessage } from '../../src/transport/network/wire.js';

export const REPO = join(import.meta.dirname, '..', '..');
export const CLI = join(import.meta.dirname, 'fixtures', 'fedsec.ts');

export interface Member {
  readonly name: string;
  readonly org?: string;
}

export async function makePki(dir: string, members: readonly Member[], federation = 'testfed'): Promise<void> {
  await initPki({ dir, federation });
  await issueCoordinator({ dir, hosts: ['localhost', '127.0.0.1'] });
  for (const m of members) await issueParticipant({ dir, name: m.name, ...(m.org ? { org: m.org } : {}) });
}

export interface Creds {
  readonly name: string;
  readonly certPem: string;
  readonly keyPem: string;
  readonly fingerprint: string;
  readonly privateKey: KeyObject;
}

export function credsOf(pkiDir: string, name: string): Creds {
  const certPem = readFileSync(join(pkiDir, 'participants', `${name}.crt`), 'utf8');
  const keyPem = readFileSync(join(pkiDir, 'participants', `${name}.key`), 'utf8');
  const cert = new X509Certificate(certPem);
  return { name, certPem, keyPem, fingerprint: cert.fingerprint256.replace(/:/g, '').toLowerCase(), privateKey: createPrivateKey(keyPem) };
}

/** A coordinator config (parsed) over MNIST + logreg, for in-process tests. */
export function coordinatorConfig(root: string, deploy: Record<string, unknown> = {}, federation: Record<string, unknown> = {}): CoordinatorConfig {
  return parseCoordinatorConfig(
    {
      seed: 7,
      dataset: { kind: 'mnist' },
      model: { kind: 'logreg' },
      rounds: 3,
      training: { epochs: 1, batchSize: 32, learningRate: 0.1, optimizer: 'sgd' },
      server: { minParticipants: 1, timeoutMs: 30_000 },
      runtime: { backend: 'auto', workers: 0 },
      ...federation,
      deploy: {
        listen: { host: '127.0.0.1', port: 0 },
        tls: { ca: 'pki/ca.crt', crl: 'pki/crl.pem', cert: 'pki/coordinator.crt', key: 'pki/coordinator.key' },
        store: 'state',
        admission: { allow: ['alice', 'bob', 'mallory'] },
        ...deploy,
      },
    },
    'test coordinator config',
    root,
  );
}

/** A raw session as a scripted participant: read what the coordinator says, send what the test wants. */
export class Script {
  readonly conn: CoordinatorConnection;
  signer: MessageSigner | undefined;
  readonly seen: CoordinatorMessage[] = [];

  constructor(port: number, caPem: string, creds?: Pick<Creds, 'certPem' | 'keyPem'>) {
    this.conn = new CoordinatorConnection({
      address: `127.0.0.1:${port}`,
      serverName: 'localhost',
      caPem,
      ...(creds ? { certPem: creds.certPem, keyPem: creds.keyPem } : {}),
      deadlineMs: 60_000,
      maxMessageBytes: 17 * 1024 * 1024,
    });
  }

  /** The next message of the given body (skipping pings), or throws with what came instead. */
  async expect<B extends CoordinatorMessage['body']>(body: B, timeoutMs = 10_000): Promise<Extract<CoordinatorMessage, { body: B }>> {
    for (;;) {
      const item = await this.conn.next(timeoutMs);
      if (item.kind === 'end') throw new Error(`expected ${body}, the session ended: ${item.code} ${item.details}`);
      this.seen.push(item.message);
      if (item.message.body === 'ping') continue;
      if (item.message.body !== body) throw new Error(`expected ${body}, got ${JSON.stringify(item.message.body)}`);
      return item.message as Extract<CoordinatorMessage, { body: B }>;
    }
  }

  /** Reads until the session ends; returns the status and the last rejection notice. */
  async end(timeoutMs = 10_000): Promise<{ code: grpc.status; details: string; notice?: string }> {
    let notice: string | undefined;
    for (;;) {
      const item: Incoming = await this.conn.next(timeoutMs);
      if (item.kind === 'end') return { code: item.code, details: item.details, ...(notice ? { notice } : {}) };
      this.seen.push(item.message);
      if (item.message.body === 'notice' && item.message.notice.kind === 'rejected') notice = `${item.message.notice.reason}: ${item.message.notice.message}`;
    }
  }

  /** Challenge → signed Hello → (Welcome | end). */
  async hello(creds: Creds, options: { token?: string; claim?: string; federation?: string } = {}): Promise<MessageSigner> {
    const c = (await this.expect('challenge')).challenge;
    this.signer = new MessageSigner({ federation: c.federation, participant: creds.name, certFingerprint: creds.fingerprint, sessionId: c.sessionId, serverNonce: c.serverNonce }, creds.privateKey);
    await this.conn.send(this.signer.encode({
      body: 'hello',
      hello: { federation: options.federation ?? c.federation, participant: options.claim ?? creds.name, protocolVersion: 1, enrollmentToken: options.token ?? '', software: 'test' },
    }));
    return this.signer;
  }

  close(): void {
    this.conn.close();
  }
}

export function readAudit(path: string): { type: string; actor: string; details: Record<string, unknown> }[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as { type: string; actor: string; details: Record<string, unknown> });
}

export async function waitFor(cond: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
