import { describe, expect, it } from 'vitest';
import { readConfigFile } from '../../src/config/simulation.js';
import { runMatrix, type CellRun, type MatrixResult } from '../../src/federation/matrix.js';
import { parseMatrixConfig } from '../../src/federation/matrix-config.js';
import { matrixTable, renderMatrixHtml, renderMatrixMarkdown } from '../../src/report/matrix-report.js';
import { summarise } from '../../src/federation/matrix.js';

const base = { participants: 6, rounds: 1, model: { kind: 'logreg' }, partition: { kind: 'iid' }, training: { epochs: 1 }, byzantine: 1 };
const valid = {
  name: 't',
  base,
  threat: { malicious: { count: 1 } },
  defences: ['fedavg', { name: 'trimmed-mean', trim: 1 }, { label: 'med', name: 'median' }],
  attacks: ['none', 'sign-flip', { label: 'ipm-big', attack: { name: 'ipm', epsilon: 2 }, omniscient: true, startRound: 2 }],
  seeds: [1, 2],
};

describe('matrix config', () => {
  it('expands every (defence, attack, seed) into a checked simulation config, rows first', () => {
    const plan = parseMatrixConfig(valid);
    expect(plan.defences.map((d) => d.label)).toEqual(['fedavg', 'trimmed-mean(trim=1)', 'med']);
    expect(plan.attacks.map((a) => a.label)).toEqual(['none', 'sign-flip', 'ipm-big']);
    expect(plan.cells).toHaveLength(18);
    expect(plan.cells.slice(0, 6).map((c) => [c.defence.label, c.attack.label, c.seed])).toEqual([
      ['fedavg', 'none', 1],
      ['fedavg', 'none', 2],
      ['fedavg', 'sign-flip', 1],
      ['fedavg', 'sign-flip', 2],
      ['fedavg', 'ipm-big', 1],
      ['fedavg', 'ipm-big', 2],
    ]);
    const ipm = plan.cells[4]!.config;
    expect(ipm.attack).toEqual({ malicious: { count: 1 }, startRound: 2, omniscient: true, attack: { name: 'ipm', epsilon: 2 } });
    expect(ipm.aggregation).toEqual({ name: 'fedavg', weighted: true });
    expect(plan.cells[0]!.config.attack).toBeUndefined();
    expect(plan.cells[0]!.config.runtime.workers).toBe(0);
    expect(plan.parallel).toEqual({ cells: 2, workersPerCell: 0 });
  });

  it('says what to fix in a bad matrix config', () => {
    const bad = (patch: object) => () => parseMatrixConfig({ ...valid, ...patch });
    expect(bad({ defences: ['fedavg', 'medain'] })).toThrow(/defences\[1\]: unknown aggregator "medain" — use one of: .*median/);
    expect(bad({ defences: [{ name: 'bucketing', inner: { name: 'krumm' } }] })).toThrow(/defences\[0\]\.inner: unknown aggregator "krumm"/);
    expect(bad({ defences: [{ name: 'trimmed-mean', beta: 0.7 }] })).toThrow(/defences\[0\]: invalid options for aggregator "trimmed-mean"/);
    expect(bad({ defences: [] })).toThrow(/defences: list at least one defence/);
    expect(bad({ defences: [42] })).toThrow(/defences\[0\]: a defence is an aggregator name or an object/);
    expect(bad({ attacks: ['none', 'lie'] })).toThrow(/attacks\[1\]: unknown attack "lie"/);
    expect(bad({ attacks: [{ name: 'ipm', epsilon: -1 }] })).toThrow(/attacks\[0\]: invalid options for attack "ipm"/);
    expect(bad({ attacks: [{ attack: { name: 'ipm' }, omnicient: true }] })).toThrow(/attacks\[0\]: invalid attack entry:\n.*omnicient/);
    expect(bad({ threat: undefined })).toThrow(/attacks\[1\]: who is malicious is not said — add a threat section/);
    expect(bad({ attacks: ['sign-flip', { label: 'sign-flip', name: 'ipm' }] })).toThrow(/attacks\[1\]: label "sign-flip" is used twice/);
    expect(bad({ base: { ...base, aggregation: { name: 'median' } } })).toThrow(/base\.aggregation is set, but the matrix chooses it per cell/);
    expect(bad({ base: { ...base, runtime: { workers: 2 } } })).toThrow(/set parallel\.workersPerCell/);
    expect(bad({ base: { ...base, participants: 0 } })).toThrow(/base\.participants: /);
    expect(bad({ base: { ...base, byzantine: 2 }, defences: ['bulyan'] })).toThrow(/defences\[0\] \(bulyan\) needs n ≥ 4f \+ 3 = 11 with f = base\.byzantine = 2, but a round has 6 participants/);
    expect(bad({ defences: ['fltrust'] })).toThrow(/defences\[0\] \(fltrust\) needs the coordinator's root dataset — set base\.server\.rootSamples/);
    expect(bad({ seeds: [] })).toThrow(/seeds: /);
    expect(bad({ parallel: { cells: 0 } })).toThrow(/parallel\.cells/);
    expect(bad({ defense: ['fedavg'] })).toThrow(/Unrecognized key: "defense"/);
  });

  it('parses the shipped example', () => {
    const plan = parseMatrixConfig(readConfigFile('examples/matrix.yaml'), 'examples/matrix.yaml');
    expect(plan.cells).toHaveLength(plan.defences.length * plan.attacks.length);
    expect(plan.attacks[0]!.label).toBe('none');
    expect(plan.base.server.rootSamples).toBe(100);
  });
});

describe('matrix report', () => {
  const plan = parseMatrixConfig({ ...valid, seeds: [1] });
  const run = (defence: string, attack: string, acc: number, extra: Partial<CellRun> = {}): CellRun => ({
    defence, attack, seed: 1, accuracy: [0.1, acc], finalAccuracy: acc, skippedRounds: 0, ms: 1000, ...extra,
  });
  const runs: CellRun[] = [
    run('fedavg', 'none', 0.9),
    run('fedavg', 'sign-flip', 0.1),
    run('fedavg', 'ipm-big', 0.5, { attackSuccessRate: [0.4], finalAttackSuccessRate: 0.4 }),
    run('trimmed-mean(trim=1)', 'none', 0.88, { skippedRounds: 1 }),
    run('trimmed-mean(trim=1)', 'sign-flip', 0.87, { flagRecall: 1, flagPrecision: 0.5 }),
    { ...run('trimmed-mean(trim=1)', 'ipm-big', NaN), error: 'boom' },
  ];

  it('fills the table as cells finish and marks pending, failed and refused cells', () => {
    const partial = matrixTable(plan, [...runs, undefined, undefined, undefined], 'accuracy');
    expect(partial.header).toEqual(['defence \\ attack', 'none', 'sign-flip', 'ipm-big']);
    expect(partial.rows).toEqual([
      ['fedavg', '90.0', '10.0', '50.0'],
      ['trimmed-mean(trim=1)', '88.0*', '87.0', 'error'],
      ['med', '…', '…', '…'],
    ]);
    expect(matrixTable(plan, runs, 'attackSuccessRate')).toEqual({ header: ['defence \\ attack', 'ipm-big'], rows: [['fedavg', '40.0'], ['trimmed-mean(trim=1)', 'error'], ['med', '…']] });
    expect(matrixTable(plan, runs, 'flagging').rows[0]).toEqual(['trimmed-mean(trim=1)', '1.00 / 0.50']);
  });

  it('writes Markdown and a self-contained HTML page with a heat map', () => {
    const result: MatrixResult = { plan, runs, summary: summarise(plan, runs), startedAt: '', totalMs: 60_000 };
    const md = renderMatrixMarkdown(result);
    expect(md).toContain('| fedavg | 90.0 | 10.0 | 50.0 |');
    expect(md).toContain('- trimmed-mean(trim=1) × ipm-big (seed 1): boom');
    const html = renderMatrixHtml(result);
    expect(html).toContain('Final held-out accuracy (%)');
    // Red (0) → yellow (0.5) → green (1): 0.9 is 80% of the way from yellow (254,224,139) to green (26,152,80).
    expect(html).toMatch(/<rect [^>]*fill="rgb\(72,166,92\)"><title>fedavg × none: 90\.0<\/title>/);
    expect(html).toMatch(/<rect [^>]*fill="rgb\(223,83,59\)"><title>fedavg × sign-flip: 10\.0<\/title>/);
    expect(html).toMatch(/<rect [^>]*fill="#eeeeee"><title>trimmed-mean\(trim=1\) × ipm-big: —<\/title>/);
    expect(html).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org)/);
  });

  it('reports mean ± std over seeds', () => {
    const two = parseMatrixConfig(valid);
    const t = matrixTable(two, [run('fedavg', 'none', 0.8), { ...run('fedavg', 'none', 0.9), seed: 2 }], 'accuracy');
    expect(t.rows[0]![1]).toBe('85.0 ± 7.1');
  });
});

describe('matrix run', () => {
  it('runs every cell in two cell threads and records each result', async () => {
    const plan = parseMatrixConfig({
      base: { ...base, participants: 4 },
      threat: { malicious: { count: 1 } },
      defences: ['fedavg', 'median'],
      attacks: ['none', { name: 'sign-flip', scale: 3 }],
      parallel: { cells: 2, workersPerCell: 0 },
    });
    const seen: number[] = [];
    const result = await runMatrix(plan, { onCellDone: (_run, _done, _total, index) => seen.push(index) });
    expect(seen.sort()).toEqual([0, 1, 2, 3]);
    expect(result.runs.map((r) => r.error)).toEqual([undefined, undefined, undefined, undefined]);
    const acc = (d: string, a: string) => result.runs.find((r) => r.defence === d && r.attack === a)!.finalAccuracy;
    expect(acc('fedavg', 'sign-flip(scale=3)')).toBeLessThan(acc('fedavg', 'none') - 0.3);
    expect(acc('median', 'sign-flip(scale=3)')).toBeGreaterThan(acc('median', 'none') - 0.1);
    expect(result.runs[0]!.accuracy).toHaveLength(2);
  });
});
