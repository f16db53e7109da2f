import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseSimulationConfig, readConfigFile } from '../../src/config/simulation.js';

describe('simulation config', () => {
  it('defaults to the reference federation', () => {
    const c = parseSimulationConfig({});
    expect(c).toMatchObject({ dataset: { kind: 'mnist' }, participants: 10, partition: { kind: 'dirichlet', alpha: 0.5 }, model: { kind: 'mlp' }, aggregation: { name: 'fedavg' } });
  });

  it('says which field is wrong and why', () => {
    expect(() => parseSimulationConfig({ participants: 0 })).toThrow(/participants: .*>=1/);
    expect(() => parseSimulationConfig({ training: { learningRate: -1 } })).toThrow(/training\.learningRate/);
    expect(() => parseSimulationConfig({ model: { kind: 'transformer' } })).toThrow(/model\.kind/);
    expect(() => parseSimulationConfig({ partiton: { kind: 'iid' } })).toThrow(/partiton/);
    expect(() => parseSimulationConfig({ sampling: { kind: 'poisson', rate: 1.5 } })).toThrow(/sampling\.rate/);
  });

  it('reads YAML and JSON files and reports syntax errors with the file name', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedsec-config-'));
    writeFileSync(join(dir, 'a.yaml'), 'rounds: 3\nmodel:\n  kind: cnn\n');
    writeFileSync(join(dir, 'b.json'), '{"rounds": 4}');
    writeFileSync(join(dir, 'bad.json'), '{"rounds": ');
    writeFileSync(join(dir, 'bad.yaml'), 'rounds: [3\n');
    expect(parseSimulationConfig(readConfigFile(join(dir, 'a.yaml')))).toMatchObject({ rounds: 3, model: { kind: 'cnn', filters: [8, 16] } });
    expect(parseSimulationConfig(readConfigFile(join(dir, 'b.json'))).rounds).toBe(4);
    expect(() => readConfigFile(join(dir, 'bad.json'))).toThrow(/bad\.json is not valid JSON/);
    expect(() => readConfigFile(join(dir, 'bad.yaml'))).toThrow(/bad\.yaml is not valid YAML/);
    expect(() => readConfigFile(join(dir, 'missing.yaml'))).toThrow(/cannot read config file/);
  });
});
