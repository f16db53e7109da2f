/**
 * What `fedsec matrix` leaves behind: results.json (every run with its curves), matrix.md (the
 * tables) and report.html (heat maps and per-attack accuracy curves, self-contained).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MatrixPlan } from '../federation/matrix-config.js';
import type { CellRun, MatrixResult, MatrixSummaryCell, Stat } from '../federation/matrix.js';
import { summarise } from '../federation/matrix.js';
import { escapeHtml, heatMap, htmlPage, lineChart, type Series } from './svg-chart.js';

export type MatrixMetric = 'accuracy' | 'attackSuccessRate' | 'flagging';

const pctStat = (s: Stat | undefined, seeds: number): string => {
  if (!s) return '—';
  return seeds > 1 ? `${(s.mean * 100).toFixed(1)} ± ${(s.std * 100).toFixed(1)}` : (s.mean * 100).toFixed(1);
};

function cellText(c: MatrixSummaryCell | undefined, metric: MatrixMetric, seeds: number, pending: boolean): string {
  if (!c) return '';
  if (c.runs === 0) return c.errors.length > 0 ? 'error' : pending ? '…' : '—';
  const mark = c.skippedRounds > 0 ? '*' : '';
  switch (metric) {
    case 'accuracy':
      return `${pctStat(c.accuracy, seeds)}${mark}`;
    case 'attackSuccessRate':
      return pctStat(c.attackSuccessRate, seeds);
    case 'flagging':
      return c.flagRecall ? `${c.flagRecall.mean.toFixed(2)} / ${c.flagPrecision ? c.flagPrecision.mean.toFixed(2) : '—'}` : '—';
  }
}

/** Attacks (columns) for which a metric is shown. */
function columnsFor(plan: MatrixPlan, summary: readonly MatrixSummaryCell[], metric: MatrixMetric): string[] {
  if (metric === 'accuracy') return plan.attacks.map((a) => a.label);
  return plan.attacks
    .filter((a) => a.section !== undefined && summary.some((c) => c.attack === a.label && (metric === 'attackSuccessRate' ? c.attackSuccessRate : c.flagRecall)))
    .map((a) => a.label);
}

/**
 * The table for one metric, rows = defences, columns = attacks, from the runs so far (cells not
 * finished yet show "…"): what the CLI prints as the matrix fills and what matrix.md holds.
 */
export function matrixTable(plan: MatrixPlan, runs: readonly (CellRun | undefined)[], metric: MatrixMetric): { header: string[]; rows: string[][] } {
  const finished = runs.filter((r): r is CellRun => r !== undefined);
  const summary = summarise(plan, finished);
  const columns = columnsFor(plan, summary, metric);
  const defences = metric === 'flagging' ? plan.defences.filter((d) => d.spec.name !== 'fedavg') : plan.defences;
  const rows = defences.map((d) => [
    d.label,
    ...columns.map((a) => {
      const expected = plan.cells.filter((c) => c.defence.label === d.label && c.attack.label === a).length;
      const done = finished.filter((r) => r.defence === d.label && r.attack === a).length;
      return cellText(summary.find((c) => c.defence === d.label && c.attack === a), metric, plan.seeds.length, done < expected);
    }),
  ]);
  return { header: ['defence \\ attack', ...columns], rows };
}

function markdownTable(t: { header: string[]; rows: string[][] }): string {
  const esc = (s: string): string => s.replace(/\|/g, '\\|');
  return [
    `| ${t.header.map(esc).join(' | ')} |`,
    `|${t.header.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`,
    ...t.rows.map((r) => `| ${r.map(esc).join(' | ')} |`),
  ].join('\n');
}

function describeRun(plan: MatrixPlan): string {
  const b = plan.base;
  const threat = plan.attacks.find((a) => a.section)?.section;
  const malicious = threat ? (threat.malicious.count ?? (threat.malicious.ids ? threat.malicious.ids.length : `${(threat.malicious.fraction ?? 0) * 100}% of`)) : 0;
  return (
    `${b.dataset.kind}, ${b.participants} participants${threat ? ` (${malicious} malicious, ${threat.omniscient ? 'omniscient' : 'not omniscient'}, from round ${Math.max(1, threat.startRound)})` : ''}, ` +
    `partition ${b.partition.kind}${b.partition.kind === 'dirichlet' ? ` α = ${b.partition.alpha}` : ''}, model ${b.model.kind}, ${b.rounds} rounds × ${b.training.epochs} local epoch(s), ` +
    `f = ${b.byzantine}${b.server.rootSamples !== undefined ? `, root set ${b.server.rootSamples}` : ''}, seed(s) ${plan.seeds.join(', ')}`
  );
}

export function renderMatrixMarkdown(result: MatrixResult): string {
  const { plan, runs } = result;
  const parts = [
    `# Defence × attack matrix — ${plan.name}`,
    '',
    describeRun(plan),
    '',
    `## Final held-out accuracy (%)${plan.seeds.length > 1 ? ', mean ± std over seeds' : ''}`,
    '',
    markdownTable(matrixTable(plan, runs, 'accuracy')),
  ];
  if (result.summary.some((c) => c.skippedRounds > 0)) parts.push('', '\\* the aggregator refused some rounds (too few updates for its rule); the model was kept.');
  const asr = matrixTable(plan, runs, 'attackSuccessRate');
  if (asr.header.length > 1) parts.push('', '## Attack success rate (%) of targeted attacks, final model', '', markdownTable(asr));
  const flags = matrixTable(plan, runs, 'flagging');
  if (flags.header.length > 1) {
    parts.push(
      '',
      '## Flagging the malicious participants: recall / precision (mean over attack rounds)',
      '',
      'Flagged = rejected, or weighted below half of uniform (1/(2n)). Precision "—": nothing was flagged.',
      '',
      markdownTable(flags),
    );
  }
  const errors = runs.filter((r) => r.error !== undefined);
  if (errors.length > 0) parts.push('', '## Errors', '', ...errors.map((r) => `- ${r.defence} × ${r.attack} (seed ${r.seed}): ${r.error}`));
  parts.push('', `${runs.length} runs in ${(result.totalMs / 60_000).toFixed(1)} min (${plan.parallel.cells} at a time, ${plan.parallel.workersPerCell} worker(s) each).`, '');
  return parts.join('\n');
}

function meanCurve(runs: readonly CellRun[], pick: (r: CellRun) => readonly number[] | undefined): number[] {
  const curves = runs.map(pick).filter((c): c is readonly number[] => c !== undefined && c.length > 0);
  const len = Math.max(0, ...curves.map((c) => c.length));
  return Array.from({ length: len }, (_, i) => {
    const vs = curves.map((c) => c[i]).filter((v): v is number => v !== undefined && Number.isFinite(v));
    return vs.length > 0 ? vs.reduce((s, v) => s + v, 0) / vs.length : NaN;
  });
}

export function renderMatrixHtml(result: MatrixResult): string {
  const { plan, runs, summary } = result;
  const pct = (v: number): string => `${(v * 100).toFixed(1)}%`;
  const grid = (metric: 'accuracy' | 'attackSuccessRate', columns: string[]) =>
    plan.defences.map((d) => columns.map((a) => summary.find((c) => c.defence === d.label && c.attack === a)?.[metric]?.mean));
  const attackCols = plan.attacks.map((a) => a.label);
  const asrCols = columnsFor(plan, summary, 'attackSuccessRate');
  const htmlTable = (t: { header: string[]; rows: string[][] }): string =>
    `<table><tr>${t.header.map((h, i) => `<th${i === 0 ? ' class="l"' : ''}>${escapeHtml(h)}</th>`).join('')}</tr>\n${t.rows
      .map((r) => `<tr>${r.map((c, i) => `<td${i === 0 ? ' class="l"' : ''}>${escapeHtml(c)}</td>`).join('')}</tr>`)
      .join('\n')}</table>`;
  const curves = plan.attacks.map((a) => {
    const series: Series[] = plan.defences.map((d, i) => ({
      label: d.label,
      dashed: i >= 10,
      points: meanCurve(runs.filter((r) => r.defence === d.label && r.attack === a.label), (r) => r.accuracy).map((y, x) => ({ x, y })),
    }));
    return lineChart(series, { title: `Accuracy under ${a.label}`, xLabel: 'round', yLabel: 'held-out accuracy', yMin: 0, yMax: 1, yFormat: pct, height: 360 });
  });
  const asrCurves = asrCols.map((a) => {
    const series: Series[] = plan.defences.map((d, i) => ({
      label: d.label,
      dashed: i >= 10,
      points: meanCurve(runs.filter((r) => r.defence === d.label && r.attack === a), (r) => r.attackSuccessRate).map((y, x) => ({ x: x + 1, y })),
    }));
    return lineChart(series, { title: `Attack success rate of ${a}`, xLabel: 'round', yLabel: 'attack success rate', yMin: 0, yMax: 1, yFormat: pct, height: 360 });
  });
  const timing = runs.map((r) => `<tr><td class="l">${escapeHtml(r.defence)}</td><td class="l">${escapeHtml(r.attack)}</td><td>${escapeHtml(String(r.seed))}</td><td>${(r.ms / 1000).toFixed(1)} s</td><td class="l">${escapeHtml(r.error ?? '')}</td></tr>`).join('\n');
  const flags = matrixTable(plan, runs, 'flagging');
  const body = `
<h1>fedsec defence × attack matrix — ${escapeHtml(plan.name)}</h1>
<p>${escapeHtml(describeRun(plan))}. ${runs.length} runs in ${(result.totalMs / 60_000).toFixed(1)} min.</p>
<h2>Final held-out accuracy</h2>
${heatMap({ title: 'Final held-out accuracy (%)', rows: plan.defences.map((d) => d.label), columns: attackCols, values: grid('accuracy', attackCols), min: 0, max: 1, format: (v) => (v * 100).toFixed(1) })}
${asrCols.length > 0 ? `<h2>Attack success rate (targeted attacks)</h2>\n${heatMap({ title: 'Attack success rate (%), lower is better', rows: plan.defences.map((d) => d.label), columns: asrCols, values: grid('attackSuccessRate', asrCols), min: 0, max: 1, good: 'low', format: (v) => (v * 100).toFixed(1) })}` : ''}
${flags.header.length > 1 ? `<h2>Flagging the malicious participants (recall / precision)</h2>\n<p class="muted">Flagged = rejected, or weighted below half of uniform. Means over the attack's rounds; precision "—" when nothing was flagged.</p>\n${htmlTable(flags)}` : ''}
<h2>Accuracy curves (mean over seeds)</h2>
<div class="charts">
${curves.join('\n')}
${asrCurves.join('\n')}
</div>
<h2>Runs</h2>
<table><tr><th class="l">defence</th><th class="l">attack</th><th>seed</th><th>time</th><th class="l">error</th></tr>
${timing}</table>
<h2>Base configuration</h2>
<pre>${escapeHtml(JSON.stringify(plan.base, null, 2))}</pre>`;
  return htmlPage(`fedsec matrix — ${plan.name}`, body);
}

export function matrixResultsJson(result: MatrixResult): Record<string, unknown> {
  const { plan } = result;
  return {
    fedsec: '0.1.0',
    name: plan.name,
    startedAt: result.startedAt,
    totalMs: result.totalMs,
    parallel: plan.parallel,
    seeds: plan.seeds,
    base: plan.base,
    defences: plan.defences,
    attacks: plan.attacks,
    summary: result.summary,
    runs: result.runs,
  };
}

export function writeMatrixOutputs(result: MatrixResult, dir: string): { results: string; markdown: string; report: string } {
  mkdirSync(dir, { recursive: true });
  const results = join(dir, 'results.json');
  const markdown = join(dir, 'matrix.md');
  const report = join(dir, 'report.html');
  writeFileSync(results, JSON.stringify(matrixResultsJson(result), null, 2));
  writeFileSync(markdown, renderMatrixMarkdown(result));
  writeFileSync(report, renderMatrixHtml(result));
  return { results, markdown, report };
}
