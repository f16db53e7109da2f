// coordinator.yaml / participant.yaml validation, the Prometheus exposition, participant data
// (same partitions as simulate), and the admission policy's quota bookkeeping.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSimulationConfig } from '../../src/config/simulation.js';
import { AdmissionPolicy, tokenHash } from '../../src/deploy/admission.js';
import { parseCoordinatorConfig } from '../../src/deploy/coordinator-config.js';
import { MetricsRegistry, startMetricsServer } from '../../src/deploy/metrics.js';
import { parseParticipantConfig } from '../../src/deploy/participant-config.js';
import { conformToFederation, loadParticipantData } from '../../src/deploy/participant-data.js';
import { loadFederationData } from '../../src/federation/simulation-setup.js';
import type { PeerIdentity } from '../../src/pki/verify-peer.js';
import { CoordinatorStore } from '../../src/store/coordinator-store.js';

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'fedsec-deploy-config-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const deploy = { tls: { ca: 'pki/ca.crt', crl: 'pki/crl.pem', cert: 'pki/coordinator.crt', key: 'pki/coordinator.key' }, store: 'state', admission: { allow: ['alice'] } };

describe('coordinator config', () => {
  it('fills defaults and resolves paths against the config directory', () => {
    const c = parseCoordinatorConfig({ rounds: 4, model: { kind: 'logreg' }, deploy }, 'c.yaml', '/srv/fed');
    expect(c.federation.rounds).toBe(4);
    expect(c.deploy.tls.ca).toBe('/srv/fed/pki/ca.crt');
    expect(c.deploy.store).toBe('/srv/fed/state');
    expect(c.deploy.listen).toEqual({ host: '127.0.0.1', port: 7443 });
    expect(c.deploy.limits.chunkBytes).toBe(1024 * 1024);
    expect(c.deploy.admission).toMatchObject({ maxIdentitiesPerOrg: 1, requireOrg: true, tokens: [] });
    expect(c.deploy.metrics).toBe(false);
  });

  it('says what to fix', () => {
    expect(() => parseCoordinatorConfig({ rounds: 2 }, 'c.yaml')).toThrow(/c.yaml has no deploy: section — add deploy: \{tls: \{ca, crl, cert, key\}, store, admission/);
    expect(() => parseCoordinatorConfig({ deploy: { ...deploy, admission: {} } }, 'c.yaml')).toThrow(
      /deploy.admission: admission.allow and admission.tokens are both empty, so no participant could join/,
    );
    expect(() => parseCoordinatorConfig({ deploy: { ...deploy, metrics: { host: '0.0.0.0' } } }, 'c.yaml')).toThrow(/deploy.metrics.host: the metrics endpoint has no authentication: use 127.0.0.1/);
    expect(() => parseCoordinatorConfig({ deploy: { ...deploy, admission: { tokens: [{ sha256: 'abc' }] } } }, 'c.yaml')).toThrow(/deploy.admission.tokens.0.sha256: a lowercase hex SHA-256/);
    expect(() => parseCoordinatorConfig({ deploy: { ...deploy, admission: { allow: ['coordinator'] } } }, 'c.yaml')).toThrow(/deploy.admission.allow.0/);
    expect(() => parseCoordinatorConfig({ deploy: { ...deploy, lisen: {} } }, 'c.yaml')).toThrow(/Unrecognized key: "lisen"/);
    expect(() => parseCoordinatorConfig({ training: { learningRate: -1 }, deploy }, 'c.yaml')).toThrow(/training.learningRate/);
  });
});

describe('participant config', () => {
  const base = { coordinator: { address: '127.0.0.1:7443' }, tls: { ca: 'ca.crt', cert: 'p.crt', key: 'p.key' }, data: { dataset: { kind: 'mnist' } } };

  it('reads a partition share in the simulate notation', () => {
    const c = parseParticipantConfig({ ...base, data: { dataset: { kind: 'mnist' }, partition: { index: 3, of: 5, kind: 'dirichlet', alpha: 0.3, seed: 9 } } }, 'p.yaml', '/home/p');
    expect(c.data.partition).toEqual({ index: 3, of: 5, seed: 9, spec: { kind: 'dirichlet', alpha: 0.3, minSize: 10 } });
    expect(c.tls.key).toBe('/home/p/p.key');
    expect(c.reconnect).toEqual({ initialDelayMs: 500, maxDelayMs: 30_000, maxAttempts: 0 });
    expect(c.pipeline.seed).toBe(42); // a full simulate config, for the client chain
  });

  it('says what to fix', () => {
    expect(() => parseParticipantConfig({ ...base, coordinator: { address: 'localhost' } }, 'p.yaml')).toThrow(/coordinator.address: use host:port, e.g. 127.0.0.1:7443/);
    expect(() => parseParticipantConfig({ ...base, data: { dataset: { kind: 'mnist' }, partition: { index: 5, of: 5 } } }, 'p.yaml')).toThrow(/data.partition.index: index 5 is out of range for 5 partitions: use 0..4/);
    expect(() => parseParticipantConfig({ ...base, data: { dataset: { kind: 'mnist' }, partition: { index: 0, of: 2, kind: 'random' } } }, 'p.yaml')).toThrow(/data.partition/);
    expect(() => parseParticipantConfig({ ...base, enrollmentToken: 'short' }, 'p.yaml')).toThrow(/enrollmentToken: enrollment tokens have at least 16 characters/);
  });
});

describe('participant data', () => {
  it('a partition share is exactly the simulate partition of the same index and seed', () => {
    const sim = loadFederationData(parseSimulationConfig({ seed: 11, participants: 4, partition: { kind: 'dirichlet', alpha: 0.5 } }));
    const share = loadParticipantData({ dataset: { kind: 'mnist' }, partition: { index: 2, of: 4, seed: 11, spec: { kind: 'dirichlet', alpha: 0.5, minSize: 10 } } });
    const idx = sim.partitions[2] ?? [];
    expect(share.size).toBe(idx.length);
    expect(Array.from(share.y)).toEqual(idx.map((i) => sim.train.y[i]));
    expect(share.x.subarray(0, 784)).toEqual(sim.train.x.subarray(idx[0]! * 784, idx[0]! * 784 + 784));
  });

  it('maps CSV class names to the federation order and checks the model fit', () => {
    const csv = join(root, 'local.csv');
    writeFileSync(csv, 'a,b,label\n1,2,cat\n3,4,dog\n5,6,cat\n');
    const ds = loadParticipantData({ dataset: { kind: 'csv', path: csv, labelColumn: 'label', scaling: 'none', delimiter: ',', classes: ['dog', 'bird', 'cat'] } });
    expect(Array.from(ds.y)).toEqual([2, 0, 2]);
    expect(ds.numClasses).toBe(3);
    expect(() => loadParticipantData({ dataset: { kind: 'csv', path: csv, labelColumn: 'label', scaling: 'none', delimiter: ',', classes: ['dog', 'bird'] } })).toThrow(/label "cat", which is not in data.dataset.classes \(dog, bird\)/);
    expect(() => conformToFederation(ds, [3], 3)).toThrow(/the local data has 2 features per example, the federation's model expects 3 \(\[3\]\)/);
    expect(() => conformToFederation(ds, [2], 2)).toThrow(/the local data has label 2, the federation's model has 2 classes/);
    expect(conformToFederation(ds, [2], 4).numClasses).toBe(4);
  });
});

describe('Prometheus metrics', () => {
  it('renders the text exposition format with escaped labels', async () => {
    const m = new MetricsRegistry();
    const c = m.counter('fedsec_rejections_total', 'Refusals\nby reason.', false);
    c.inc({ reason: 'bad "quote"\\' });
    c.inc({ reason: 'revoked' }, 2);
    m.gauge('fedsec_round', 'Current round.').set(3);
    expect(m.render()).toBe(
      '# HELP fedsec_rejections_total Refusals\\nby reason.\n# TYPE fedsec_rejections_total counter\n' +
        'fedsec_rejections_total{reason="bad \\"quote\\"\\\\"} 1\nfedsec_rejections_total{reason="revoked"} 2\n' +
        '# HELP fedsec_round Current round.\n# TYPE fedsec_round gauge\nfedsec_round 3\n',
    );
    expect(() => c.inc({}, -1)).toThrow(/cannot go down/);
    const server = await startMetricsServer(m, '127.0.0.1', 0);
    try {
      expect((await fetch(`http://127.0.0.1:${server.port}/metrics`)).status).toBe(200);
      expect((await fetch(`http://127.0.0.1:${server.port}/other`)).status).toBe(404);
    } finally {
      await server.close();
    }
    await expect(startMetricsServer(m, '0.0.0.0', 0)).rejects.toThrow(/metrics host 0.0.0.0 is not a loopback address/);
  });
});

describe('admission policy', () => {
  const id = (name: string, org?: string): PeerIdentity => ({ role: 'participant', name, org, serial: `${name.length}a`, fingerprint: 'e'.repeat(64), notAfter: new Date() });

  it('counts admissible, unrevoked identities per organisation; tokens are single-use', () => {
    const store = CoordinatorStore.open(join(root, 'store'));
    try {
      const policy = new AdmissionPolicy(
        { allow: ['a1', 'a2', { name: 'pinned', org: 'Org P' }], tokens: [{ sha256: tokenHash('token-for-anyone-123') }], maxIdentitiesPerOrg: 1, requireOrg: true },
        store,
        join(root, 'enrollments.json'),
      );
      expect(policy.decide(id('a1', 'Org A'), { enrollmentToken: '' })).toEqual({ ok: true });
      expect(policy.decide(id('a2', 'Org A'), { enrollmentToken: '' })).toMatchObject({ ok: false, reason: 'org-quota' });
      expect(policy.decide(id('a1', 'Org A'), { enrollmentToken: '' })).toEqual({ ok: true }); // the same identity again
      store.setParticipantStatus('a1', 'revoked');
      expect(policy.decide(id('a2', 'Org A'), { enrollmentToken: '' })).toEqual({ ok: true }); // the slot is free again
      expect(policy.decide(id('pinned', 'Org Q'), { enrollmentToken: '' })).toMatchObject({ ok: false, reason: 'not-admitted', message: 'the allow-list pins "pinned" to organisation "Org P", the certificate says "Org Q"' });
      expect(policy.decide(id('t1', 'Org T'), { enrollmentToken: 'token-for-anyone-123' })).toEqual({ ok: true });
      expect(policy.decide(id('t2', 'Org U'), { enrollmentToken: 'token-for-anyone-123' })).toMatchObject({ ok: false, reason: 'bad-token' });
      // Token use survives a restart (enrollments.json), and t1 stays enrolled without the token.
      const again = new AdmissionPolicy({ allow: [], tokens: [{ sha256: tokenHash('token-for-anyone-123') }], maxIdentitiesPerOrg: 1, requireOrg: true }, store, join(root, 'enrollments.json'));
      expect(again.decide(id('t1', 'Org T'), { enrollmentToken: '' })).toEqual({ ok: true });
      expect(again.decide(id('t3', 'Org V'), { enrollmentToken: 'token-for-anyone-123' })).toMatchObject({ ok: false, reason: 'bad-token' });
    } finally {
      store.close();
    }
  });
});
