/**
 * `fedsec models list|show|export --results runs/x/results.json`: the model registry a monitored
 * run recorded (every candidate, promoted or rejected, with why) and the verified parameters of a
 * version. A version is named by number, `latest` (promoted) or a SHA-256 prefix.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { fail } from '../../core/errors.js';
import type { ModelVersion } from '../../monitoring/model-registry.js';
import { findVersion, loadRegistry, readVersionBlob } from '../../monitoring/model-registry.js';
import { writeFileAtomic } from '../../store/atomic-file.js';
import { formatTable } from '../progress.js';

const truncate = (s: string, n: number): string => (s.length > n ? `${s.slice(0, n - 1)}…` : s);
const pct = (v: number | null | undefined): string => (typeof v === 'number' ? `${(v * 100).toFixed(2)}%` : '—');

function describe(v: ModelVersion): string {
  const lines = [
    `version ${v.version} — round ${v.round} — ${v.status.toUpperCase()}`,
    `sha256   ${v.sha256} (${v.bytes} bytes)${v.blob ? `, stored at ${v.blob}` : ', parameters not stored'}`,
    `parent   ${v.parent !== undefined ? `version ${v.parent}` : '—'}`,
    `created  ${v.createdAt}`,
    `metrics  ${Object.entries(v.metrics).map(([k, x]) => `${k} ${k === 'accuracy' ? pct(x) : x === null ? '—' : Number(x.toPrecision(4))}`).join(', ')}`,
    `per class ${v.perClassAccuracy.map((a, k) => `${k}:${pct(a)}`).join(' ')}`,
  ];
  if (v.reasons.length > 0) lines.push(`${v.status === 'rejected' ? 'rejected because' : 'notes'}:`, ...v.reasons.map((r) => `  - ${r}`));
  for (const p of v.probes) {
    lines.push(`probe ${p.probe}: ${p.flaggedClasses.length > 0 ? `FLAGGED class(es) ${p.flaggedClasses.join(', ')}` : 'nothing flagged'} (max score ${p.maxScore ?? '—'}, threshold ${p.threshold}, ${p.ms} ms)`);
  }
  if (v.findings.length > 0) {
    lines.push('findings:', ...v.findings.map((f) => `  - ${f.type} [${f.severity}] ×${f.count}${f.subjects.length > 0 ? `: ${f.subjects.join(', ')}` : ''}`));
  }
  return lines.join('\n');
}

export function register(program: Command): void {
  const models = program.command('models').description('Inspect and export the model versions a monitored run recorded');

  models
    .command('list')
    .description('list every model version: promoted or rejected, accuracy, hash, why')
    .requiredOption('--results <file>', 'results.json of a run with a monitoring section')
    .option('--json', 'machine-readable output', false)
    .action((o: { results: string; json: boolean }) => {
      const { registry } = loadRegistry(o.results);
      if (o.json) {
        process.stdout.write(`${JSON.stringify(registry.versions, null, 2)}\n`);
        return;
      }
      process.stdout.write(`${formatTable(
        ['version', 'round', 'status', 'accuracy', 'sha256', 'stored', 'reasons'],
        registry.versions.map((v) => [
          String(v.version), String(v.round), v.status, pct(v.metrics.accuracy), v.sha256.slice(0, 12), v.blob ? 'yes' : 'no',
          truncate(v.reasons.join('; '), 70) || '—',
        ]),
      )}\n`);
    });

  models
    .command('show')
    .description('show one version: metrics, per-class accuracy, probe results, findings, gate reasons')
    .argument('<version>', 'version number, "latest" (last promoted) or a SHA-256 prefix')
    .requiredOption('--results <file>', 'results.json of a run with a monitoring section')
    .option('--json', 'machine-readable output', false)
    .action((ref: string, o: { results: string; json: boolean }) => {
      const { registry } = loadRegistry(o.results);
      const v = findVersion(registry, ref);
      process.stdout.write(o.json ? `${JSON.stringify(v, null, 2)}\n` : `${describe(v)}\n`);
    });

  models
    .command('export')
    .description("write a version's parameters (fedsec .fsp format) after checking their SHA-256")
    .argument('<version>', 'version number, "latest" (last promoted) or a SHA-256 prefix')
    .requiredOption('--results <file>', 'results.json of a run with a monitoring section')
    .requiredOption('-o, --out <file>', 'where to write the parameters')
    .option('--allow-rejected', 'also export a candidate the gate rejected', false)
    .option('--force', 'overwrite --out if it exists', false)
    .action((ref: string, o: { results: string; out: string; allowRejected: boolean; force: boolean }) => {
      const { registry, dir } = loadRegistry(o.results);
      const v = findVersion(registry, ref);
      if (v.status === 'rejected' && !o.allowRejected) {
        fail('precondition', `version ${v.version} was rejected by the validation gate: ${v.reasons.join('; ')}`, 'pass --allow-rejected to export it anyway (e.g. for forensics)');
      }
      const out = resolve(o.out);
      if (existsSync(out) && !o.force) fail('io', `${out} already exists`, 'choose another --out or pass --force');
      const bytes = readVersionBlob(dir, v);
      mkdirSync(dirname(out), { recursive: true });
      writeFileAtomic(out, bytes, { mode: 0o640 });
      process.stdout.write(`wrote ${out}: version ${v.version} (round ${v.round}, ${v.status}), sha256 ${v.sha256}, ${bytes.length} bytes\n`);
    });
}
