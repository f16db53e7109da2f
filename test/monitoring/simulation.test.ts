import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/main.js';
import { parseSimulationConfig } from '../../src/config/simulation.js';
import { deserializeParams } from '../../src/core/params.js';
import { runSimulation } from '../../src/federation/simulation.js';
import { loadRegistry } from '../../src/monitoring/model-registry.js';
import { renderSimulationReport, writeSimulationOutputs } from '../../src/report/simulation-report.js';

const small = {
  participants: 4,
  rounds: 3,
  model: { kind: 'logreg' },
  partition: { kind: 'iid' },
  training: { epochs: 1, batchSize: 32, learningRate: 0.1 },
  runtime: { workers: 0 },
};

async function cli(args: string[]): Promise<string> {
  const out: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string) => {
    out.push(chunk);
    return true;
  }) as typeof process.stdout.write;
  try {
    await buildProgram().parseAsync(['node', 'fedsec', ...args]);
  } finally {
    process.stdout.write = write;
  }
  return out.join('');
}

describe('monitoring in a simulation', () => {
  it('a scaling attack raises accuracy-drop within its round; the gate rejects that candidate and training goes on from the promoted model', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedsec-mon-'));
    const alerts = join(dir, 'alerts.jsonl');
    const config = parseSimulationConfig({
      ...small,
      attack: { malicious: { ids: ['p1'] }, startRound: 2, endRound: 2, attack: { name: 'scaling', factor: 200 } },
      monitoring: { alerts: { file: { path: alerts } } },
    });
    const seen: { round: number; alertsAtRoundEnd: string }[] = [];
    const result = await runSimulation(config, [{ onRoundEnd: (r) => seen.push({ round: r.round, alertsAtRoundEnd: existsSync(alerts) ? readFileSync(alerts, 'utf8') : '' }) }], { outDir: dir });
    const [r1, r2, r3] = result.rounds;
    expect(r1!.promoted).toBe(true);
    const drop = r2!.findings.find((f) => f.type === 'accuracy-drop');
    expect(drop).toBeDefined();
    expect(drop!.evidence.drop as number).toBeGreaterThan(0.05);
    expect(r2!.findings.some((f) => f.type === 'norm-outlier' && f.subject === 'p1' && f.severity === 'critical')).toBe(true);
    expect(r2!.promoted).toBe(false);
    expect(r2!.gateReasons[0]).toMatch(/held-out accuracy .* is below the promoted model's .* \(round 1\) minus the tolerance 2.0%/);
    // the alert was written before the round ended, not at the end of the run
    expect(seen[1]!.alertsAtRoundEnd).toMatch(/"type":"accuracy-drop"/);
    expect(seen[0]!.alertsAtRoundEnd).not.toMatch(/accuracy-drop/);
    // round 3 trained from round 1's model and recovered
    expect(r3!.promoted).toBe(true);
    expect(result.finalRound).toBe(3);

    const files = writeSimulationOutputs(result, dir);
    const { registry } = loadRegistry(files.results);
    expect(registry.versions.map((v) => [v.round, v.status, v.parent ?? null])).toEqual([[0, 'promoted', null], [1, 'promoted', 1], [2, 'rejected', 2], [3, 'promoted', 2]]);
    const v2 = registry.versions[2]!;
    expect(v2.reasons[0]).toMatch(/below the promoted model/);
    expect(v2.findings.map((f) => f.type)).toContain('accuracy-drop');
    expect(v2.blob).toBeUndefined(); // rejected candidates are not stored by default
    const promotedV = registry.versions[3]!;
    expect(existsSync(join(dir, promotedV.blob!))).toBe(true);
    expect(existsSync(join(dir, 'monitoring.jsonl'))).toBe(true);
    const log = readFileSync(join(dir, 'monitoring.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { event: string; decision?: string });
    expect(log.filter((l) => l.event === 'gate').map((l) => l.decision)).toEqual(['promoted', 'rejected', 'promoted']);

    const html = renderSimulationReport(result);
    expect(html).toContain('Monitoring: findings and gate decisions');
    expect(html).toContain('accuracy-drop');
    expect(html).toContain('Model registry');

    // the CLI reads the same registry
    expect(await cli(['models', 'list', '--results', files.results])).toMatch(/rejected/);
    expect(await cli(['models', 'show', '3', '--results', files.results])).toMatch(/rejected because:\n {2}- held-out accuracy/);
    const out = join(dir, 'export', 'latest.fsp');
    expect(await cli(['models', 'export', 'latest', '--results', files.results, '--out', out])).toMatch(/version 4 \(round 3, promoted\)/);
    expect(deserializeParams(readFileSync(out)).values).toEqual(result.finalParams);
    await expect(cli(['models', 'export', '3', '--results', files.results, '--out', join(dir, 'x.fsp')])).rejects.toThrow(/was rejected by the validation gate/);
  });

  it('with the backdoor attacker the gate rejects backdoored candidates, naming the probe result and the participant', async () => {
    const config = parseSimulationConfig({
      ...small,
      rounds: 2,
      model: { kind: 'mlp', hidden: [32] },
      attack: { malicious: { ids: ['p1'] }, attack: { name: 'backdoor', targetLabel: 7, poisonFraction: 0.5, boost: 4 } },
      monitoring: { alerts: { log: { to: 'off' } }, probes: { neuralCleanse: { samples: 100, steps: 80 } } },
    });
    const result = await runSimulation(config);
    const rejected = result.rounds.filter((r) => !r.promoted);
    expect(rejected.length).toBeGreaterThan(0);
    for (const r of rejected) {
      expect(r.evaluation.extra?.attackSuccessRate).toBeGreaterThan(0.5);
      expect(r.findings.some((f) => f.type === 'backdoor-suspected' && f.subject === 'class 7' && f.severity === 'critical')).toBe(true);
      expect(r.findings.filter((f) => f.type === 'backdoor-contributor').map((f) => f.subject)).toEqual(['p1']);
      expect(r.gateReasons.join('\n')).toMatch(/backdoor-suspected \(class 7\): Neural Cleanse/);
    }
    const html = renderSimulationReport(result);
    expect(html).toContain('backdoor-contributor');
    expect(html).toMatch(/neural-cleanse: flagged 7/);
  });
});
