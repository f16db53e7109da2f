/**
 * Small dependency-free SVG charts for self-contained HTML reports (no network, no JS needed).
 */
export interface Series {
  readonly label: string;
  readonly points: readonly { readonly x: number; readonly y: number }[];
  readonly color?: string;
  readonly dashed?: boolean;
}

export interface LineChartOptions {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly width?: number;
  readonly height?: number;
  readonly yMin?: number;
  readonly yMax?: number;
  /** Format tick labels on the y axis (e.g. as percentages). */
  readonly yFormat?: (y: number) => string;
}

export const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function niceTicks(min: number, max: number, count = 5): number[] {
  if (!(max > min)) return [min];
  const raw = (max - min) / count;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const ticks: number[] = [];
  for (let t = Math.ceil(min / step) * step; t <= max + step * 1e-9; t += step) ticks.push(Number(t.toPrecision(12)));
  return ticks;
}

export function lineChart(series: readonly Series[], opts: LineChartOptions): string {
  const width = opts.width ?? 640;
  const height = opts.height ?? 320;
  const m = { top: 34, right: 16, bottom: 44, left: 60 };
  const all = series.flatMap((s) => s.points).filter((p) => Number.isFinite(p.y) && Number.isFinite(p.x));
  const xs = all.map((p) => p.x);
  const ys = all.map((p) => p.y);
  const xMin = xs.length ? Math.min(...xs) : 0;
  const xMax = xs.length ? Math.max(...xs) : 1;
  let yMin = opts.yMin ?? (ys.length ? Math.min(...ys) : 0);
  let yMax = opts.yMax ?? (ys.length ? Math.max(...ys) : 1);
  if (yMax === yMin) {
    yMax += 1;
    yMin -= opts.yMin === undefined ? 1 : 0;
  }
  const px = (x: number): number => m.left + ((x - xMin) / (xMax - xMin || 1)) * (width - m.left - m.right);
  const py = (y: number): number => height - m.bottom - ((y - yMin) / (yMax - yMin)) * (height - m.top - m.bottom);
  const fmt = opts.yFormat ?? ((y: number) => String(Number(y.toPrecision(3))));
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${escapeHtml(opts.title)}">`);
  parts.push(`<text x="${width / 2}" y="18" text-anchor="middle" font-size="14" font-weight="600">${escapeHtml(opts.title)}</text>`);
  for (const t of niceTicks(yMin, yMax)) {
    parts.push(`<line x1="${m.left}" x2="${width - m.right}" y1="${py(t)}" y2="${py(t)}" stroke="#e5e5e5"/>`);
    parts.push(`<text x="${m.left - 6}" y="${py(t) + 4}" text-anchor="end" font-size="11">${escapeHtml(fmt(t))}</text>`);
  }
  for (const t of niceTicks(xMin, xMax, Math.min(10, Math.max(1, xMax - xMin)))) {
    parts.push(`<text x="${px(t)}" y="${height - m.bottom + 16}" text-anchor="middle" font-size="11">${t}</text>`);
  }
  parts.push(`<line x1="${m.left}" x2="${m.left}" y1="${m.top}" y2="${height - m.bottom}" stroke="#333"/>`);
  parts.push(`<line x1="${m.left}" x2="${width - m.right}" y1="${height - m.bottom}" y2="${height - m.bottom}" stroke="#333"/>`);
  parts.push(`<text x="${(m.left + width - m.right) / 2}" y="${height - 8}" text-anchor="middle" font-size="12">${escapeHtml(opts.xLabel)}</text>`);
  parts.push(`<text transform="translate(14 ${(m.top + height - m.bottom) / 2}) rotate(-90)" text-anchor="middle" font-size="12">${escapeHtml(opts.yLabel)}</text>`);
  series.forEach((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length]!;
    const pts = s.points.filter((p) => Number.isFinite(p.y) && Number.isFinite(p.x));
    if (pts.length === 0) return;
    const d = pts.map((p, k) => `${k === 0 ? 'M' : 'L'}${px(p.x).toFixed(1)},${py(p.y).toFixed(1)}`).join(' ');
    parts.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="5 4"' : ''}/>`);
    if (pts.length <= 60) for (const p of pts) parts.push(`<circle cx="${px(p.x).toFixed(1)}" cy="${py(p.y).toFixed(1)}" r="2.5" fill="${color}"><title>${escapeHtml(`${s.label}: ${p.x}, ${fmt(p.y)}`)}</title></circle>`);
  });
  if (series.length > 1) {
    series.forEach((s, i) => {
      const color = s.color ?? PALETTE[i % PALETTE.length]!;
      const y = m.top + 4 + i * 16;
      parts.push(`<rect x="${width - m.right - 150}" y="${y}" width="10" height="10" fill="${color}"/>`);
      parts.push(`<text x="${width - m.right - 134}" y="${y + 9}" font-size="11">${escapeHtml(s.label)}</text>`);
    });
  }
  parts.push('</svg>');
  return parts.join('');
}

/** Wrap report sections in one self-contained HTML page. */
export function htmlPage(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:1100px;color:#222;padding:0 1rem}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd;padding-bottom:.3rem}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:right}
th{background:#f5f5f5}td.l,th.l{text-align:left}.charts{display:flex;flex-wrap:wrap;gap:1rem}
.muted{color:#777}.bad{color:#b00020}.ok{color:#1b7f3b}code,pre{background:#f6f6f6;padding:.1rem .3rem;border-radius:3px}
pre{padding:.6rem;overflow:auto;font-size:.8rem}
</style></head><body>
${body}
</body></html>
`;
}

export interface HeatMapOptions {
  readonly title: string;
  readonly rows: readonly string[];
  readonly columns: readonly string[];
  /** values[row][column]; undefined or NaN leaves the cell grey. */
  readonly values: readonly (readonly (number | undefined)[])[];
  /** Colour scale bounds (default: the values' range). */
  readonly min?: number;
  readonly max?: number;
  /** Which end is green: 'high' (default, e.g. accuracy) or 'low' (e.g. attack success rate). */
  readonly good?: 'high' | 'low';
  readonly format?: (v: number) => string;
  readonly cellWidth?: number;
  readonly cellHeight?: number;
}

/** Red → yellow → green, t in [0, 1]. */
function divergingColour(t: number): string {
  const stops: readonly (readonly [number, number, number])[] = [[215, 48, 39], [254, 224, 139], [26, 152, 80]];
  const x = Math.min(1, Math.max(0, t)) * 2;
  const k = Math.min(1, Math.floor(x));
  const f = x - k;
  const a = stops[k]!;
  const b = stops[k + 1]!;
  return `rgb(${a.map((v, i) => Math.round(v + (b[i]! - v) * f)).join(',')})`;
}

/** A labelled grid of coloured cells with the value written in each (e.g. defence × attack). */
export function heatMap(opts: HeatMapOptions): string {
  const cw = opts.cellWidth ?? 64;
  const ch = opts.cellHeight ?? 26;
  const charW = 6.5;
  const left = 12 + Math.max(40, ...opts.rows.map((r) => r.length * charW));
  // Column headers are rotated 40°: they rise by sin 40° and reach right by cos 40° of their length.
  const longest = Math.max(0, ...opts.columns.map((c) => c.length * charW));
  const top = 40 + Math.max(30, longest * 0.65);
  const width = left + opts.columns.length * cw + Math.max(16, longest * 0.77 - cw / 2 + 8);
  const height = top + opts.rows.length * ch + 16;
  const finite = opts.values.flatMap((row) => row.filter((v): v is number => v !== undefined && Number.isFinite(v)));
  const lo = opts.min ?? (finite.length ? Math.min(...finite) : 0);
  const hi = opts.max ?? (finite.length ? Math.max(...finite) : 1);
  const fmt = opts.format ?? ((v: number) => String(Number(v.toPrecision(3))));
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${escapeHtml(opts.title)}">`);
  parts.push(`<text x="${left}" y="18" font-size="14" font-weight="600">${escapeHtml(opts.title)}</text>`);
  opts.columns.forEach((c, j) => {
    const x = left + j * cw + cw / 2;
    parts.push(`<text transform="translate(${x} ${top - 6}) rotate(-40)" font-size="11">${escapeHtml(c)}</text>`);
  });
  opts.rows.forEach((r, i) => {
    const y = top + i * ch;
    parts.push(`<text x="${left - 6}" y="${y + ch / 2 + 4}" text-anchor="end" font-size="11">${escapeHtml(r)}</text>`);
    opts.columns.forEach((c, j) => {
      const v = opts.values[i]?.[j];
      const x = left + j * cw;
      const ok = v !== undefined && Number.isFinite(v);
      let t = ok && hi > lo ? (v - lo) / (hi - lo) : 1;
      if (opts.good === 'low') t = 1 - t;
      const fill = ok ? divergingColour(t) : '#eeeeee';
      const label = ok ? fmt(v) : '—';
      parts.push(`<rect x="${x}" y="${y}" width="${cw - 1}" height="${ch - 1}" fill="${fill}"><title>${escapeHtml(`${r} × ${c}: ${label}`)}</title></rect>`);
      parts.push(`<text x="${x + cw / 2}" y="${y + ch / 2 + 4}" text-anchor="middle" font-size="11">${escapeHtml(label)}</text>`);
    });
  });
  parts.push('</svg>');
  return parts.join('');
}
