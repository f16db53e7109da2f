import { describe, expect, it } from 'vitest';
import { parseSimulationConfig } from '../../src/config/simulation.js';
import type { FederationData } from '../../src/federation/simulation-setup.js';
import { LocalModel } from '../../src/model/local-model.js';
import { initRuntime } from '../../src/model/backend.js';
import { monitoringConfigSchema, parseMonitoringConfig } from '../../src/monitoring/config.js';
import { monitoringServerFeature } from '../../src/monitoring/server-feature.js';

const bad = (monitoring: unknown): string => {
  try {
    parseSimulationConfig({ monitoring });
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('expected the config to be refused');
};

describe('monitoring config', () => {
  it('monitoring: {} turns on detectors, reputation, the gate and the log with documented defaults', () => {
    const cfg = parseSimulationConfig({ monitoring: {} }).monitoring!;
    expect(cfg.gate).toMatchObject({ enabled: true, accuracyTolerance: 0.02, classDropLimit: 0.2, continueFrom: 'promoted', blockOn: ['backdoor-suspected', 'backdoor-contributor'] });
    expect(cfg.detectors.normZ).toBe(8);
    expect(cfg.probes).toEqual({});
    expect(cfg.alerts.log.to).toBe('file');
    expect(cfg.registry.store).toBe('promoted');
    expect(parseSimulationConfig({}).monitoring).toBeUndefined();
    expect(monitoringConfigSchema.parse({ probes: { neuralCleanse: {} } }).probes.neuralCleanse).toMatchObject({ samples: 100, steps: 150, threshold: 2, every: 1 });
  });

  it('malformed probe settings are refused with the field path and what to change', () => {
    expect(bad({ probes: { neuralCleanse: { steps: 5, checkEvery: 10 } } })).toMatch(/monitoring\.probes\.neuralCleanse\.checkEvery: checkEvery must not exceed steps/);
    expect(bad({ probes: { neuralCleanse: { classes: [1, 7] } } })).toMatch(/monitoring\.probes\.neuralCleanse\.classes: list at least 3 classes/);
    expect(bad({ probes: { neuralCleanse: { stepz: 10 } } })).toMatch(/monitoring\.probes\.neuralCleanse: Unrecognized key: "stepz"/);
    expect(bad({ probes: { neuralCleanse: { samples: 5 } } })).toMatch(/monitoring\.probes\.neuralCleanse\.samples: .*>=10/);
    expect(bad({ probes: { neuralCleanse: { threshold: -1 } } })).toMatch(/monitoring\.probes\.neuralCleanse\.threshold/);
    expect(bad({ probes: { activationClustering: { maxRelativeSize: 0.7 } } })).toMatch(/monitoring\.probes\.activationClustering\.maxRelativeSize: .*<=0\.5/);
    expect(bad({ probes: { activationClustering: { minRelativeSize: 0.4, maxRelativeSize: 0.3 } } })).toMatch(/minRelativeSize: minRelativeSize must be below maxRelativeSize/);
    expect(bad({ probes: { activationClustering: { groupBy: 'cluster' } } })).toMatch(/groupBy: .*"label"\|"prediction"/);
    expect(bad({ probes: { spectral: {} } })).toMatch(/monitoring\.probes: Unrecognized key: "spectral"/);
  });

  it('refuses unsafe or unusable alerting and gate settings', () => {
    expect(bad({ alerts: { webhook: { url: 'http://alerts.example.com/hook', secretEnv: 'S' } } })).toMatch(/must use https:\/\/ \(plain http:\/\/ is only accepted for a loopback address\)/);
    expect(bad({ alerts: { webhook: { url: 'https://alerts.example.com/hook', secretEnv: 'my secret' } } })).toMatch(/secretEnv: must be an environment variable name/);
    expect(bad({ alerts: { webhook: { url: 'https://alerts.example.com/hook', secret: 'abc', secretEnv: 'S' } } })).toMatch(/Unrecognized key: "secret"/);
    expect(bad({ detectors: { accuracyDrop: 0.3, criticalAccuracyDrop: 0.1 } })).toMatch(/criticalAccuracyDrop must be at least accuracyDrop/);
    expect(bad({ reputation: { exclude: 0.6 } })).toMatch(/exclude must be below 0.5/);
    expect(bad({ gate: { continueFrom: 'initial' } })).toMatch(/monitoring\.gate\.continueFrom/);
    expect(() => parseMonitoringConfig({ gate: { accuracyTolerance: 2 } })).toThrow(/monitoring\.gate\.accuracyTolerance: .*<=1/);
    expect(parseSimulationConfig({ monitoring: { alerts: { webhook: { url: 'http://127.0.0.1:9/hook', secretEnv: 'S' } } } }).monitoring!.alerts.webhook!.retries).toBe(4);
  });

  it('settings that depend on the run are checked when the pipeline is built', async () => {
    await initRuntime('auto');
    const model = await LocalModel.create({ kind: 'logreg' }, [4], 3, 1);
    const ds = { name: 't', x: new Float32Array(40), y: Int32Array.from({ length: 10 }, (_, i) => i % 3), featureShape: [4], numClasses: 3, size: 10 };
    const data = { train: ds, test: ds, partitions: [], participantIds: [] } as FederationData;
    const withHook = parseSimulationConfig({ monitoring: { alerts: { log: { to: 'off' }, webhook: { url: 'https://alerts.example.com/hook', secretEnv: 'FEDSEC_TEST_ALERT_SECRET' } } } });
    expect(() => monitoringServerFeature({ config: withHook, data, model }, {})).toThrow(/secretEnv names FEDSEC_TEST_ALERT_SECRET, but that environment variable is not set — export FEDSEC_TEST_ALERT_SECRET=/);
    expect(() => monitoringServerFeature({ config: withHook, data, model }, { FEDSEC_TEST_ALERT_SECRET: 'short' })).toThrow(/shorter than 16 bytes/);
    expect(monitoringServerFeature({ config: withHook, data, model }, { FEDSEC_TEST_ALERT_SECRET: 'a'.repeat(32) })?.name).toBe('monitoring');
    const wrongClass = parseSimulationConfig({ monitoring: { alerts: { log: { to: 'off' } }, probes: { neuralCleanse: { classes: [0, 1, 5] } } } });
    expect(() => monitoringServerFeature({ config: wrongClass, data, model })).toThrow(/classes lists 5, but the model has classes 0\.\.2/);
    expect(monitoringServerFeature({ config: parseSimulationConfig({}), data, model })).toBeUndefined();
    model.dispose();
  });
});
