import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { deserializeParams, makeLayout, serializeParams } from '../../src/core/params.js';
import { findVersion, loadRegistry, ModelRegistry, readVersionBlob, type RegistryJson } from '../../src/monitoring/model-registry.js';

const layout = makeLayout([{ name: 'w', shape: [2, 2] }, { name: 'b', shape: [2] }]);
const params = (v: number): Float32Array => Float32Array.from({ length: 6 }, (_, i) => v + i);
const ev = (accuracy: number) => ({ accuracy, loss: 1 - accuracy, perClassAccuracy: [accuracy, NaN], extra: { attackSuccessRate: 0.1 } });

function sample(dir: string, store: 'promoted' | 'all' | 'none' = 'promoted'): { registry: ModelRegistry; results: string } {
  const registry = new ModelRegistry(layout, { outDir: dir, store, clock: () => new Date('2026-01-01T00:00:00Z') });
  registry.register({ round: 0, params: params(0), status: 'promoted', evaluation: ev(0.1), reasons: ['initial model'] });
  registry.register({ round: 1, params: params(1), status: 'promoted', evaluation: ev(0.8), parent: 1 });
  registry.register({
    round: 2, params: params(2), status: 'rejected', evaluation: ev(0.5), parent: 2, reasons: ['held-out accuracy fell'],
    findings: [
      { type: 'norm-outlier', severity: 'critical', round: 2, subject: 'p3', message: '', evidence: {} },
      { type: 'norm-outlier', severity: 'critical', round: 2, subject: 'p1', message: '', evidence: {} },
    ],
  });
  const results = join(dir, 'results.json');
  writeFileSync(results, JSON.stringify({ features: { monitoring: { registry: registry.toJSON() } } }));
  return { registry, results };
}

describe('model registry', () => {
  it('records every candidate with the SHA-256 of its serialized parameters and stores promoted blobs content-addressed', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedsec-reg-'));
    const { registry } = sample(dir);
    const [v1, v2, v3] = registry.versions();
    const bytes = serializeParams({ layout, values: params(1) });
    expect(v2!.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect(v2!.bytes).toBe(bytes.length);
    expect(v2!.blob).toBe(`models/${v2!.sha256}.fsp`);
    expect(readFileSync(join(dir, v2!.blob!))).toEqual(bytes);
    expect(v1!.blob).toBeDefined();
    expect(v3).toMatchObject({ status: 'rejected', parent: 2, reasons: ['held-out accuracy fell'], metrics: { accuracy: 0.5, attackSuccessRate: 0.1 } });
    expect(v3!.blob).toBeUndefined();
    expect(v3!.perClassAccuracy).toEqual([0.5, null]);
    expect(v3!.findings).toEqual([{ type: 'norm-outlier', severity: 'critical', count: 2, subjects: ['p1', 'p3'] }]);
    expect(registry.latestPromoted()!.version).toBe(2);
    // same parameters → same hash and file (content addressing)
    const again = registry.register({ round: 3, params: params(1), status: 'promoted', evaluation: ev(0.8) });
    expect(again.sha256).toBe(v2!.sha256);
    expect(new ModelRegistry(layout, { outDir: dir, store: 'all' }).register({ round: 2, params: params(2), status: 'rejected', evaluation: ev(0.5) }).blob).toBeDefined();
    expect(new ModelRegistry(layout, { store: 'all' }).register({ round: 2, params: params(2), status: 'rejected', evaluation: ev(0.5) }).blob).toBeUndefined();
  });

  it('loads from results.json, finds versions by number, latest or hash prefix, and verifies blobs', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedsec-reg-'));
    const { results, registry: reg } = sample(dir);
    const { registry, dir: base } = loadRegistry(results);
    expect(findVersion(registry, 'latest').version).toBe(2);
    expect(findVersion(registry, '3').status).toBe('rejected');
    expect(findVersion(registry, reg.versions()[1]!.sha256.slice(0, 10)).version).toBe(2);
    expect(() => findVersion(registry, '9')).toThrow(/no model version 9 — versions are 1\.\.3/);
    expect(() => findVersion(registry, 'abc')).toThrow(/not a version number, "latest", or a SHA-256 prefix/);
    expect(() => findVersion(registry, '0123456789')).toThrow(/no model version has a SHA-256 starting with/);
    expect(deserializeParams(readVersionBlob(base, findVersion(registry, '2'))).values).toEqual(params(1));
    expect(() => readVersionBlob(base, findVersion(registry, '3'))).toThrow(/has no stored parameters — set monitoring\.registry\.store: all/);
    // a flipped byte is detected
    const v2 = findVersion(registry, '2');
    const path = join(dir, v2.blob!);
    const bytes = readFileSync(path);
    bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 1;
    writeFileSync(path, bytes);
    expect(() => readVersionBlob(base, v2)).toThrow(/hashes to [0-9a-f]{64}, not the registered .* do not use it/);
  });

  it('refuses a results.json without a registry, a malformed one, and blob paths outside models/', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedsec-reg-'));
    const { results } = sample(dir);
    const json = JSON.parse(readFileSync(results, 'utf8')) as { features: { monitoring: { registry: RegistryJson } } };
    const write = (value: unknown): string => {
      const p = join(dir, `r${Math.random()}.json`);
      writeFileSync(p, JSON.stringify(value));
      return p;
    };
    expect(() => loadRegistry(write({ rounds: [] }))).toThrow(/has no model registry — run the simulation with a `monitoring:` section/);
    expect(() => loadRegistry(join(dir, 'missing.json'))).toThrow(/cannot read .*missing\.json as JSON/);
    const v = json.features.monitoring.registry.versions[1]!;
    const traversal = { ...json, features: { monitoring: { registry: { ...json.features.monitoring.registry, versions: [{ ...v, blob: '../../etc/passwd' }] } } } };
    expect(() => loadRegistry(write(traversal))).toThrow(/versions\.0\.blob: must be models\/<sha256>\.fsp/);
    const otherBlob = { ...json, features: { monitoring: { registry: { ...json.features.monitoring.registry, versions: [{ ...v, blob: `models/${'0'.repeat(64)}.fsp` }] } } } };
    expect(() => loadRegistry(write(otherBlob))).toThrow(/blob must be named after the version's sha256/);
    const badHash = { ...json, features: { monitoring: { registry: { ...json.features.monitoring.registry, versions: [{ ...v, sha256: 'xyz' }] } } } };
    expect(() => loadRegistry(write(badHash))).toThrow(/versions\.0\.sha256: must be a SHA-256 hex digest/);
  });
});
