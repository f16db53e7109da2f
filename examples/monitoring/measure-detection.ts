/**
 * Regenerates the detection and false-alarm numbers in docs/monitoring.md:
 *
 *   node --import tsx examples/monitoring/measure-detection.ts [clean|backdoor|hardened|scaling|probes|all] [seeds]
 *
 * Prints one JSON object per run and a Markdown summary. Full runs take tens of minutes on two
 * cores (Neural Cleanse runs on every candidate), which is why this is an example, not a test.
 */
import { parseSimulationConfig } from '../../src/config/simulation.js';
import { runSimulation } from '../../src/federation/simulation.js';
import type { RoundRecord } from '../../src/federation/engine.js';
import { activationClustering } from '../../src/monitoring/activation-clustering.js';
import { activationClusteringConfigSchema, neuralCleanseConfigSchema } from '../../src/monitoring/config.js';
import { neuralCleanse } from '../../src/monitoring/neural-cleanse.js';
import { TARGET, trainFixture } from '../../test/monitoring/backdoor-fixtures.js';

const which = process.argv[2] ?? 'all';
const seeds = Number(process.argv[3] ?? 3);
const probe = { neuralCleanse: {} };
// Set FEDSEC_MEASURE_LOGS=<dir> to keep each run's monitoring.jsonl (per-round signals, for
// re-evaluating detector thresholds offline).
const logDir = process.env.FEDSEC_MEASURE_LOGS;
const quietLog = { log: { to: 'off' } };
const backdoorAttack = { malicious: { count: 1 }, attack: { name: 'backdoor', targetLabel: TARGET } };

function summarise(rounds: readonly RoundRecord[]): Record<string, unknown> {
  return {
    rounds: rounds.map((r) => ({
      round: r.round,
      accuracy: Math.round(r.evaluation.accuracy * 1e4) / 1e4,
      asr: r.evaluation.extra?.attackSuccessRate,
      promoted: r.promoted,
      findings: r.findings.filter((f) => f.severity !== 'info').map((f) => `${f.type}:${f.subject ?? ''}:${f.severity}`),
      reasons: r.gateReasons,
    })),
  };
}

async function simulate(label: string, seed: number, input: Record<string, unknown>): Promise<RoundRecord[]> {
  const t0 = performance.now();
  const monitoring = input.monitoring as { alerts?: object } | undefined;
  const withLog = logDir && monitoring ? { ...input, monitoring: { ...monitoring, alerts: { ...monitoring.alerts, log: { to: 'file', path: `${logDir}/${label.replace(/\W+/g, '-')}-${seed}.jsonl` } } } } : input;
  const result = await runSimulation(parseSimulationConfig({ seed, ...withLog }));
  const final = result.rounds.find((r) => r.round === result.finalRound)?.evaluation ?? result.initial;
  console.log(JSON.stringify({ label, seed, seconds: Math.round((performance.now() - t0) / 1000), finalRound: result.finalRound, finalAccuracy: final.accuracy, finalAsr: final.extra?.attackSuccessRate, ...summarise(result.rounds) }));
  return [...result.rounds];
}

const lines: string[] = [];

if (which === 'clean' || which === 'all') {
  let rejected = 0;
  let rounds = 0;
  let warnings = 0;
  for (let seed = 1; seed <= seeds; seed++) {
    const rs = await simulate('clean', seed, { monitoring: { probes: probe, alerts: quietLog } });
    rounds += rs.length;
    rejected += rs.filter((r) => !r.promoted).length;
    warnings += rs.filter((r) => r.findings.some((f) => f.type === 'backdoor-suspected')).length;
  }
  lines.push(`| default config, no attacker | ${seeds} | ${rounds} | false rejections ${rejected} | rounds with a Neural Cleanse warning ${warnings} |`);
}

async function backdoorRuns(label: string, monitoring: Record<string, unknown>): Promise<void> {
  let backdoored = 0;
  let caught = 0;
  let falseRejects = 0;
  let promotedAsr = 0;
  for (let seed = 1; seed <= seeds; seed++) {
    const rs = await simulate(label, seed, { rounds: 10, attack: backdoorAttack, monitoring });
    for (const r of rs) {
      const asr = r.evaluation.extra?.attackSuccessRate ?? 0;
      if (asr >= 0.5) {
        backdoored++;
        if (!r.promoted) caught++;
      } else if (!r.promoted) falseRejects++;
    }
    const promoted = rs.filter((r) => r.promoted);
    promotedAsr = Math.max(promotedAsr, ...promoted.map((r) => r.evaluation.extra?.attackSuccessRate ?? 0));
  }
  lines.push(`| ${label} | ${seeds} | ${backdoored} backdoored candidates (ASR ≥ 50%) | rejected ${caught} | other rejections ${falseRejects}; highest ASR ever promoted ${(promotedAsr * 100).toFixed(0)}% |`);
}

if (which === 'backdoor' || which === 'all') await backdoorRuns('backdoor, default monitoring', { probes: probe, alerts: quietLog });
if (which === 'hardened' || which === 'all') {
  await backdoorRuns('backdoor, hardened (norm-outlier blocks, reputation exclude 0.3)', {
    probes: probe, alerts: quietLog,
    gate: { blockOn: ['backdoor-suspected', 'backdoor-contributor', 'norm-outlier'] },
    reputation: { weighting: true, exclude: 0.3 },
  });
}

if (which === 'scaling' || which === 'all') {
  let raised = 0;
  for (let seed = 1; seed <= seeds; seed++) {
    const rs = await simulate('scaling', seed, { rounds: 6, attack: { malicious: { count: 1 }, startRound: 5, endRound: 5, attack: { name: 'scaling', factor: 100 } }, monitoring: { alerts: quietLog } });
    if (rs[4]?.findings.some((f) => f.type === 'accuracy-drop')) raised++;
  }
  lines.push(`| scaling ×100 in round 5 | ${seeds} | accuracy-drop raised in round 5 | ${raised}/${seeds} | |`);
}

if (which === 'probes' || which === 'all') {
  const n = Math.max(seeds, 10);
  const nc = { ...neuralCleanseConfigSchema.parse({}), };
  const ac = activationClusteringConfigSchema.parse({});
  let ncTp = 0;
  let ncFp = 0;
  let acTp = 0;
  let acFp = 0;
  for (let seed = 1; seed <= n; seed++) {
    for (const poisoned of [true, false]) {
      const f = await trainFixture(poisoned, seed);
      const r = neuralCleanse(f.model, f.validation, { ...nc, seed });
      if (poisoned && r.flagged.includes(TARGET)) ncTp++;
      if (!poisoned && r.flagged.length > 0) ncFp++;
      f.model.dispose();
      const g = await trainFixture(poisoned, seed, 64, 0.03);
      const a = activationClustering(g.model, g.train, { ...ac, seed });
      if (poisoned && a.flagged.includes(TARGET)) acTp++;
      if (!poisoned && a.flagged.length > 0) acFp++;
      g.model.dispose();
      console.log(JSON.stringify({ label: 'probes', seed, poisoned, nc: r.flagged, ncIndex: r.perClass.map((c) => Math.round(c.anomalyIndex * 100) / 100), ac: a.flagged }));
    }
  }
  lines.push(`| Neural Cleanse, MLP-32, 10% poisoned | ${n} | detected ${ncTp}/${n} | false alarms ${ncFp}/${n} | |`);
  lines.push(`| Activation clustering, MLP-64, 3% poisoned | ${n} | detected ${acTp}/${n} | false alarms ${acFp}/${n} | |`);
}

console.log('\n| scenario | seeds | | | |\n|---|---|---|---|---|');
for (const l of lines) console.log(l);
