import { describe, expect, it } from 'vitest';
import { parseSimulationConfig } from '../../src/config/simulation.js';
import { runSimulation } from '../../src/federation/simulation.js';
import { renderSimulationReport, resultsJson } from '../../src/report/simulation-report.js';

// Small but real: MNIST, logistic regression, 4 participants, 2 rounds.
const small = {
  participants: 4,
  rounds: 2,
  model: { kind: 'logreg' },
  partition: { kind: 'iid' },
  training: { epochs: 1, batchSize: 32, learningRate: 0.1 },
};

describe('simulation', () => {
  it('runs 2 rounds on real MNIST, improves the model, and is deterministic across worker layouts', async () => {
    const inThread = await runSimulation(parseSimulationConfig({ ...small, runtime: { workers: 0 } }));
    const inWorkers = await runSimulation(parseSimulationConfig({ ...small, runtime: { workers: 2 } }));
    expect(inThread.rounds).toHaveLength(2);
    expect(inThread.initial.accuracy).toBeLessThan(0.3);
    expect(inThread.rounds[1]!.evaluation.accuracy).toBeGreaterThan(0.8);
    // Same seed → same accuracy curve, whether participants train in the main thread or in workers.
    expect(inWorkers.rounds.map((r) => r.evaluation.accuracy)).toEqual(inThread.rounds.map((r) => r.evaluation.accuracy));
    expect(Array.from(inWorkers.finalParams)).toEqual(Array.from(inThread.finalParams));
    expect(inThread.partitionSizes.reduce((a, b) => a + b, 0)).toBe(8000);

    const json = resultsJson(inThread);
    expect(JSON.parse(JSON.stringify(json))).toMatchObject({ final: { round: 2 } });
    const html = renderSimulationReport(inThread);
    expect(html).toContain('<svg');
    expect(html).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org)/);
  });

  it('a different seed gives a different run', async () => {
    const a = await runSimulation(parseSimulationConfig({ ...small, rounds: 1, seed: 1, runtime: { workers: 0 } }));
    const b = await runSimulation(parseSimulationConfig({ ...small, rounds: 1, seed: 2, runtime: { workers: 0 } }));
    expect(Array.from(a.finalParams)).not.toEqual(Array.from(b.finalParams));
  });
});
