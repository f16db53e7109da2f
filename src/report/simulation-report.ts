/**
 * What a simulation leaves behind: results.json (everything, machine-readable) and report.html
 * (a self-contained page with the accuracy/loss curves and per-round tables).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SimulationResult } from '../federation/simulation.js';
import { monitoringSection } from '../monitoring/report-section.js';
import { escapeHtml, htmlPage, lineChart } from './svg-chart.js';
import type { Series } from './svg-chart.js';

const pct = (v: number): string => `${(v * 100).toFixed(1)}%`;

/** A JSON-friendly copy of the result (typed arrays dropped, the final model summarised). */
export function resultsJson(result: SimulationResult): Record<string, unknown> {
  const { finalParams, ...rest } = result;
  return {
    fedsec: '0.1.0',
    ...rest,
    final: {
      round: result.finalRound,
      parameters: finalParams.length,
      evaluation: result.rounds.find((r) => r.round === result.finalRound)?.evaluation ?? result.initial,
    },
  };
}

function extraSeries(result: SimulationResult): Series[] {
  const keys = [...new Set(result.rounds.flatMap((r) => Object.keys(r.extra)))];
  return keys.map((key) => ({ label: key, points: result.rounds.map((r) => ({ x: r.round, y: r.extra[key] ?? NaN })) }));
}

export function renderSimulationReport(result: SimulationResult): string {
  const rounds = result.rounds;
  const acc: Series = { label: 'held-out accuracy', points: [{ x: 0, y: result.initial.accuracy }, ...rounds.map((r) => ({ x: r.round, y: r.evaluation.accuracy }))] };
  const loss: Series = { label: 'held-out loss', points: [{ x: 0, y: result.initial.loss }, ...rounds.map((r) => ({ x: r.round, y: r.evaluation.loss }))] };
  const evalExtraKeys = [...new Set(rounds.flatMap((r) => Object.keys(r.evaluation.extra ?? {})))];
  const evalExtra: Series[] = evalExtraKeys.map((k) => ({ label: k, points: rounds.map((r) => ({ x: r.round, y: r.evaluation.extra?.[k] ?? NaN })) }));
  const final = rounds.find((r) => r.round === result.finalRound)?.evaluation ?? result.initial;
  const c = result.config;

  const roundRows = rounds.map((r) => {
    const ok = r.participants.filter((p) => p.ok).length;
    const rejected = r.diagnostics.filter((d) => !d.accepted).map((d) => d.id);
    return `<tr><td>${r.round}</td><td>${pct(r.evaluation.accuracy)}</td><td>${r.evaluation.loss.toFixed(4)}</td><td>${ok}/${r.sampled.length}</td>` +
      `<td class="l">${escapeHtml(rejected.join(', ') || '—')}</td><td class="${r.promoted ? 'ok' : 'bad'}">${r.promoted ? 'promoted' : 'rejected'}</td>` +
      `<td class="l">${escapeHtml(r.gateReasons.join('; ') || '')}</td><td>${(r.timings.totalMs / 1000).toFixed(2)} s</td></tr>`;
  }).join('\n');

  const body = `
<h1>fedsec simulation — ${escapeHtml(c.name)}</h1>
<p>${escapeHtml(c.dataset.kind)} · ${c.participants} participants · partition ${escapeHtml(c.partition.kind)}${c.partition.kind === 'dirichlet' ? ` (α = ${c.partition.alpha})` : ''} ·
model ${escapeHtml(c.model.kind)} · aggregator ${escapeHtml(c.aggregation.name)} · ${rounds.length} of ${c.rounds} rounds · seed ${escapeHtml(String(c.seed))} ·
backend ${escapeHtml(result.runtime.backend)} · ${(result.totalMs / 1000).toFixed(1)} s</p>
<p><strong>Final model</strong> (round ${result.finalRound}): accuracy <strong>${pct(final.accuracy)}</strong>, loss ${final.loss.toFixed(4)}.
${result.stopped ? `<br><span class="bad">Stopped before round ${result.stopped.round}: ${escapeHtml(result.stopped.reason)}</span>` : ''}</p>
<div class="charts">
${lineChart([acc, ...evalExtra], { title: 'Held-out accuracy', xLabel: 'round', yLabel: 'accuracy', yMin: 0, yMax: 1, yFormat: pct })}
${lineChart([loss], { title: 'Held-out loss', xLabel: 'round', yLabel: 'cross-entropy' })}
${extraSeries(result).map((s) => lineChart([s], { title: s.label, xLabel: 'round', yLabel: s.label })).join('\n')}
</div>
<h2>Per-class accuracy of the final model</h2>
<table><tr>${final.perClassAccuracy.map((_, k) => `<th>${k}</th>`).join('')}</tr><tr>${final.perClassAccuracy.map((a) => `<td>${Number.isNaN(a) ? '—' : pct(a)}</td>`).join('')}</tr></table>
<h2>Rounds</h2>
<table><tr><th>round</th><th>accuracy</th><th>loss</th><th>updates</th><th class="l">discounted</th><th>gate</th><th class="l">reasons</th><th>time</th></tr>
${roundRows}</table>
${monitoringSection(rounds, result.features?.monitoring)}
<h2>Partition sizes</h2>
<p>${result.partitionSizes.map((n, i) => `p${i + 1}: ${n}`).join(' · ')}</p>
<h2>Configuration</h2>
<pre>${escapeHtml(JSON.stringify(c, null, 2))}</pre>`;
  return htmlPage(`fedsec — ${c.name}`, body);
}

export function writeSimulationOutputs(result: SimulationResult, dir: string): { results: string; report: string } {
  mkdirSync(dir, { recursive: true });
  const results = join(dir, 'results.json');
  const report = join(dir, 'report.html');
  writeFileSync(results, JSON.stringify(resultsJson(result), null, 2));
  writeFileSync(report, renderSimulationReport(result));
  return { results, report };
}
