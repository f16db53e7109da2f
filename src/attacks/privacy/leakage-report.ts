/**
 * The self-contained HTML report of a leakage run: tables, image grids (inline PNG data URIs, no
 * network) and ROC curves (src/report/svg-chart.ts).
 */
import { escapeHtml, htmlPage, lineChart, type Series } from '../../report/svg-chart.js';
import type { GradientLeakageResult } from './gradient-leakage-experiment.js';
import type { ModelInversionResult } from './inversion-experiment.js';
import type { MembershipInferenceResult } from './membership-experiment.js';
import { pngDataUri } from './png.js';
import type { LeakageResults } from './run-leakage.js';

const f1 = (v: number | undefined): string => (v === undefined || Number.isNaN(v) ? '–' : v === Infinity ? '∞' : v.toFixed(1));
const f3 = (v: number | undefined): string => (v === undefined || Number.isNaN(v) ? '–' : v.toFixed(3));
const pct = (v: number | undefined): string => (v === undefined || Number.isNaN(v) ? '–' : `${(v * 100).toFixed(0)}%`);

function img(pixels: Float32Array, title: string, size = 56): string {
  const side = Math.round(Math.sqrt(pixels.length));
  if (side * side !== pixels.length) return `<span class="muted">(${pixels.length} values)</span>`;
  return `<img src="${pngDataUri(pixels, side, side)}" width="${size}" height="${size}" alt="${escapeHtml(title)}" title="${escapeHtml(title)}" style="image-rendering:pixelated;border:1px solid #ddd">`;
}

function table(header: readonly string[], rows: readonly (readonly string[])[], leftColumns = 1): string {
  const th = header.map((h, i) => `<th${i < leftColumns ? ' class="l"' : ''}>${escapeHtml(h)}</th>`).join('');
  const tr = rows.map((r) => `<tr>${r.map((c, i) => `<td${i < leftColumns ? ' class="l"' : ''}>${c}</td>`).join('')}</tr>`).join('\n');
  return `<table><thead><tr>${th}</tr></thead><tbody>\n${tr}\n</tbody></table>`;
}

function gradientSection(g: GradientLeakageResult): string {
  const rows = g.cells.map((c) => [
    escapeHtml(c.defence),
    String(c.batchSize),
    String(c.examples),
    c.attack,
    c.skipped ? `<span class="muted">skipped: ${escapeHtml(c.skipped)}</span>` : f1(c.psnrMean),
    c.skipped ? '' : `${f1(c.psnrMedian)} / ${f1(c.psnrMax)}`,
    c.skipped ? '' : f3(c.ssimMean),
    c.skipped ? '' : pct(c.reidentification),
    `${pct(c.labelAccuracy)} <span class="muted">(${c.labelObservations})</span>`,
    f1(c.baselinePsnrMean),
    c.skipped ? '' : c.meanSeconds.toFixed(1),
    c.noiseMultiplier !== undefined ? `z = ${c.noiseMultiplier.toPrecision(3)}` : '',
  ]);
  const grids = new Map<string, typeof g.images>();
  for (const im of g.images) {
    const key = `${im.defence} · B=${im.batchSize}`;
    grids.set(key, [...(grids.get(key) ?? []), im]);
  }
  const gridHtml = [...grids.entries()].map(([key, ims]) => {
    const originals = ims[0]!.originals.slice(0, 10);
    const line = (label: string, pics: string[]): string => `<tr><td class="l">${escapeHtml(label)}</td><td class="l">${pics.join(' ')}</td></tr>`;
    const lines = [line('original', originals.map((o, i) => img(o, `original ${i}`)))];
    for (const im of ims) {
      lines.push(line(`${im.attack}`, im.reconstructions.slice(0, 10).map((r, i) => `<span style="display:inline-block;text-align:center;font-size:10px">${img(r, `${im.attack} ${i}: PSNR ${f1(im.psnr[i])} dB`)}<br>${f1(im.psnr[i])} dB</span>`)));
    }
    return `<h3>${escapeHtml(key)}</h3><table>${lines.join('\n')}</table>`;
  }).join('\n');
  return `<h2>Gradient leakage (DLG / iDLG / analytic)</h2>
<p>Victim: ${escapeHtml(g.victim)} (${g.parameters} parameters), at initialisation; observation: ${g.observation === 'fedsgd' ? 'one-step FedSGD update' : 'the mean gradient'}.
PSNR in dB (reconstruction clipped to [0, 1], averages cap exact copies at 100 dB); re-id = the reconstruction's nearest image among the originals and held-out distractors is its own original;
labels = the iDLG rule on the observation; baseline = PSNR of the mean training digit, a guess that knows only the data distribution.</p>
${table(['defence', 'B', 'examples', 'attack', 'PSNR mean', 'median / max', 'SSIM', 're-id', 'labels', 'baseline PSNR', 's / trial', 'noise'], rows)}
<h3>Reconstructions (first trial of each cell)</h3>
${gridHtml}`;
}

function membershipSection(m: MembershipInferenceResult): string {
  const rows = m.rows.map((r) => [
    escapeHtml(r.setting),
    escapeHtml(r.defence),
    r.target,
    r.attack,
    `${f3(r.auc)} <span class="muted">± ${f3(r.aucNullSd)}</span>`,
    pct(r.tprAt1PctFpr),
    pct(r.tprAt01PctFpr),
    `${r.members} / ${r.nonMembers}`,
    pct(r.testAccuracy),
    pct(r.trainAccuracy),
    r.epsilon !== undefined ? r.epsilon.toPrecision(3) : '',
    r.noiseMultiplier !== undefined ? r.noiseMultiplier.toPrecision(3) : '',
  ]);
  const groups = new Map<string, typeof m.rows>();
  for (const r of m.rows) {
    const key = `${r.setting} — ${r.target}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  const charts = [...groups.entries()].map(([key, rs]) => {
    const series: Series[] = rs.map((r) => ({ label: `${r.defence} · ${r.attack} (${f3(r.auc)})`, points: r.curve.map((p) => ({ x: p.fpr, y: p.tpr })) }));
    series.push({ label: 'chance', points: [{ x: 0, y: 0 }, { x: 1, y: 1 }], color: '#999', dashed: true });
    return lineChart(series, { title: `ROC: ${key}`, xLabel: 'false positive rate', yLabel: 'true positive rate', yMin: 0, yMax: 1, width: 560, height: 380 });
  }).join('\n');
  return `<h2>Membership inference</h2>
<p>Victim: ${escapeHtml(m.victim)}. AUC with ties counted as ½ (± the standard deviation a useless score would show on this many examples); TPR at 1% / 0.1% FPR read at an achievable threshold (no interpolation).</p>
${table(['setting', 'defence', 'target', 'attack', 'AUC', 'TPR@1%', 'TPR@0.1%', 'members / non-members', 'test acc', 'train acc', 'ε', 'z'], rows, 4)}
<div class="charts">${charts}</div>`;
}

function inversionSection(v: ModelInversionResult): string {
  const rows = v.rows.map((r) => [escapeHtml(r.defence), pct(r.testAccuracy), f3(r.ssimMean), f3(r.cosineMean), f1(r.psnrMean), pct(r.identified), r.epsilon !== undefined ? r.epsilon.toPrecision(3) : '']);
  rows.push(['<i>all-digit mean (baseline)</i>', '', f3(v.baseline.ssimMean), f3(v.baseline.cosineMean), f1(v.baseline.psnrMean), '10% (chance)', '']);
  const lines = [`<tr><td class="l">class mean</td><td class="l">${v.classMeans.map((m, c) => img(m, `class ${c} mean`)).join(' ')}</td></tr>`];
  for (const r of v.rows) lines.push(`<tr><td class="l">${escapeHtml(r.defence)}</td><td class="l">${r.images.map((im, c) => img(im, `class ${c}: p=${r.classes[c]!.confidence.toFixed(2)}, nearest mean ${r.classes[c]!.nearestClass}`)).join(' ')}</td></tr>`);
  return `<h2>Model inversion (Fredrikson et al. 2015)</h2>
<p>Victim: ${escapeHtml(v.victim)}. Similarity of each class inversion to that class's mean training image; identified = the nearest class mean (cosine) is the right class.</p>
${table(['defence', 'test acc', 'SSIM', 'cosine', 'PSNR', 'identified', 'ε'], rows)}
<table>${lines.join('\n')}</table>`;
}

export function leakageReportHtml(r: LeakageResults): string {
  const body = [
    `<h1>fedsec privacy attacks — ${escapeHtml(r.name)}</h1>`,
    `<p class="muted">seed ${escapeHtml(String(r.seed))} · backend ${escapeHtml(r.runtime.backend)} · started ${escapeHtml(r.startedAt)} · ${r.totalSeconds.toFixed(0)} s</p>`,
    r.gradientLeakage ? gradientSection(r.gradientLeakage) : '',
    r.membershipInference ? membershipSection(r.membershipInference) : '',
    r.modelInversion ? inversionSection(r.modelInversion) : '',
    `<h2>Configuration</h2><pre>${escapeHtml(JSON.stringify(r.config, null, 2))}</pre>`,
  ].join('\n');
  return htmlPage(`fedsec privacy attacks — ${r.name}`, body);
}
