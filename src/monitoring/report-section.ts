/**
 * The report.html section for monitoring: a timeline (finding types × rounds, gate decisions), the
 * rounds where something was found or a candidate rejected — with the evidence — the model
 * registry and the final reputations. Plain HTML + inline SVG, like the rest of the report.
 */
import type { Finding, RoundRecord } from '../federation/engine.js';
import { escapeHtml } from '../report/svg-chart.js';
import type { RegistryJson } from './model-registry.js';
import { registrySchema } from './model-registry.js';

const COLOR: Record<Finding['severity'], string> = { info: '#9e9e9e', warning: '#ff9800', critical: '#d32f2f' };
const pct = (v: number | null | undefined): string => (typeof v === 'number' ? `${(v * 100).toFixed(1)}%` : '—');

export function timelineSvg(rounds: readonly RoundRecord[]): string {
  const types = [...new Set(rounds.flatMap((r) => r.findings.map((f) => f.type)))].sort();
  const rows = ['gate', ...types];
  const left = 170;
  const rowH = 20;
  const width = Math.max(480, left + 30 + rounds.length * 22);
  const step = (width - left - 20) / Math.max(1, rounds.length);
  const height = 40 + rows.length * rowH;
  const x = (i: number): number => left + step * (i + 0.5);
  const y = (row: number): number => 30 + row * rowH;
  const parts: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="monitoring timeline">`];
  rows.forEach((name, row) => {
    parts.push(`<text x="${left - 8}" y="${y(row) + 4}" text-anchor="end" font-size="11">${escapeHtml(name)}</text>`);
    parts.push(`<line x1="${left}" x2="${width - 10}" y1="${y(row)}" y2="${y(row)}" stroke="#eee"/>`);
  });
  rounds.forEach((r, i) => {
    if (i % Math.ceil(rounds.length / 25) === 0) parts.push(`<text x="${x(i)}" y="16" text-anchor="middle" font-size="10">${r.round}</text>`);
    const gateColor = r.skipped ? '#9e9e9e' : r.promoted ? '#2e7d32' : '#d32f2f';
    const gateText = r.skipped ? `round ${r.round}: skipped — ${r.skipped}` : r.promoted ? `round ${r.round}: promoted` : `round ${r.round}: rejected — ${r.gateReasons.join('; ')}`;
    parts.push(`<rect x="${x(i) - 6}" y="${y(0) - 6}" width="12" height="12" fill="${gateColor}"><title>${escapeHtml(gateText)}</title></rect>`);
    types.forEach((type, t) => {
      const found = r.findings.filter((f) => f.type === type);
      if (found.length === 0) return;
      const worst = found.some((f) => f.severity === 'critical') ? 'critical' : found.some((f) => f.severity === 'warning') ? 'warning' : 'info';
      const title = found.map((f) => `${f.subject ? `${f.subject}: ` : ''}${f.message}`).join('\n');
      parts.push(`<circle cx="${x(i)}" cy="${y(t + 1)}" r="${Math.min(8, 4 + found.length)}" fill="${COLOR[worst]}"><title>${escapeHtml(`round ${r.round}, ${type}\n${title}`)}</title></circle>`);
    });
  });
  parts.push('</svg>');
  return parts.join('');
}

function evidenceText(f: Finding): string {
  return Object.entries(f.evidence).map(([k, v]) => `${k}=${Array.isArray(v) ? `[${v.join(', ')}]` : String(v)}`).join(' ');
}

/** The HTML section, or '' when the run had neither monitoring nor any finding or rejection. */
export function monitoringSection(rounds: readonly RoundRecord[], monitoring: unknown): string {
  const parsed = registrySchema.safeParse((monitoring as { registry?: unknown } | undefined)?.registry);
  const registry: RegistryJson | undefined = parsed.success ? parsed.data : undefined;
  const notable = rounds.filter((r) => !r.promoted || r.findings.some((f) => f.severity !== 'info'));
  if (!registry && notable.length === 0) return '';
  const rows = notable.map((r) => {
    const list = r.findings.filter((f) => f.severity !== 'info').map((f) =>
      `<li><span style="color:${COLOR[f.severity]}">${escapeHtml(f.severity)}</span> <strong>${escapeHtml(f.type)}</strong>${f.subject ? ` (${escapeHtml(f.subject)})` : ''}: ${escapeHtml(f.message)}<br><span class="muted">${escapeHtml(evidenceText(f))}</span></li>`).join('');
    const decision = r.skipped ? 'skipped' : r.promoted ? 'promoted' : 'rejected';
    return `<tr><td>${r.round}</td><td class="${r.promoted ? 'ok' : 'bad'}">${decision}</td><td class="l">${escapeHtml(r.gateReasons.join('; ')) || '—'}</td><td class="l"><ul>${list || '<li>—</li>'}</ul></td></tr>`;
  }).join('\n');
  const registryRows = (registry?.versions ?? []).map((v) =>
    `<tr><td>${v.version}</td><td>${v.round}</td><td class="${v.status === 'promoted' ? 'ok' : 'bad'}">${v.status}</td><td>${pct(v.metrics.accuracy)}</td>` +
    `<td class="l"><code>${v.sha256.slice(0, 16)}</code></td><td class="l">${escapeHtml(v.probes.map((p) => `${p.probe}: ${p.flaggedClasses.length > 0 ? `flagged ${p.flaggedClasses.join(', ')}` : 'clean'} (max ${p.maxScore ?? '—'})`).join('; ') || '—')}</td>` +
    `<td class="l">${escapeHtml(v.reasons.join('; ') || '—')}</td></tr>`).join('\n');
  const reputation = (monitoring as { reputation?: Record<string, unknown> } | undefined)?.reputation ?? {};
  const repCells = Object.entries(reputation).filter((e): e is [string, number] => typeof e[1] === 'number');
  return `
<h2>Monitoring: findings and gate decisions</h2>
<p class="muted">Rows: the gate (green promoted, red rejected, grey skipped) and each finding type (grey info, orange warning, red critical). Hover for details.</p>
${timelineSvg(rounds)}
${notable.length > 0 ? `<table><tr><th>round</th><th>gate</th><th class="l">reasons</th><th class="l">findings (warning and critical)</th></tr>\n${rows}</table>` : '<p>No warnings, no rejections.</p>'}
${registry ? `<h2>Model registry</h2>
<table><tr><th>version</th><th>round</th><th>status</th><th>accuracy</th><th class="l">sha256</th><th class="l">probes</th><th class="l">reasons</th></tr>
${registryRows}</table>` : ''}
${repCells.length > 0 ? `<h2>Final reputations</h2><p>${repCells.map(([id, r]) => `${escapeHtml(id)}: <span class="${r < 0.3 ? 'bad' : ''}">${r.toFixed(2)}</span>`).join(' · ')}</p>` : ''}`;
}
