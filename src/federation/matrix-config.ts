/**
 * The defence × attack matrix config: one base simulation, a list of aggregators (defences), a list
 * of attacks (with "none" for the attack-free baseline), the threat model they share, and seeds.
 * Everything is checked before the first cell trains: each cell's full simulation config, each
 * aggregator's precondition on n and f, FLTrust's root set. Errors carry the path to fix.
 *
 *   name: robustness
 *   base: { participants: 20, rounds: 15, byzantine: 4, server: { rootSamples: 100 }, … }
 *   threat: { malicious: { count: 4 }, omniscient: true, startRound: 1 }
 *   defences: [fedavg, median, { name: trimmed-mean, beta: 0.2 }, { label: nb, name: norm-bound, maxNorm: 2 }]
 *   attacks: [none, sign-flip, { name: ipm, epsilon: 0.5 }, { label: alie-local, attack: { name: alie }, omniscient: false }]
 *   seeds: [1, 2]
 *   parallel: { cells: 2, workersPerCell: 0 }
 */
import { z } from 'zod';
import { fail, FedsecError } from '../core/errors.js';
import { aggregatorTraits, createAggregator, resolveAggregatorSpec, type AggregatorSpec } from '../aggregation/registry.js';
import { maliciousSelectionSchema, type AttackConfig } from '../attacks/config.js';
import { attackNames, resolveAttackSpec, type AttackSpec } from '../attacks/registry.js';
import { describeIssues, parseSimulationConfig, simulationConfigSchema, type SimulationConfig } from '../config/simulation.js';

const threatSchema = z.strictObject({
  malicious: maliciousSelectionSchema,
  startRound: z.number().int().min(0).default(0),
  endRound: z.number().int().min(0).optional(),
  omniscient: z.boolean().default(false),
});

export const matrixConfigSchema = z.strictObject({
  name: z.string().min(1).default('matrix'),
  /** A simulation config without `aggregation` and `attack` (the matrix sets those per cell). */
  base: z.record(z.string(), z.unknown()).default({}),
  /** Who attacks, from when, and what they see: shared by every attack unless it overrides it. */
  threat: threatSchema.optional(),
  /** Aggregator specs (a name, or `{ name, …options, label? }`). */
  defences: z.array(z.unknown()).min(1, 'list at least one defence (aggregator spec), e.g. [fedavg, median]'),
  /** "none", an attack name, an attack spec `{ name, …options, label? }`, or `{ label?, attack: spec, malicious?, startRound?, endRound?, omniscient? }`. */
  attacks: z.array(z.unknown()).min(1, 'list at least one attack, e.g. [none, sign-flip]'),
  /** One run per seed per cell; the table shows the mean (± standard deviation). Default: base.seed. */
  seeds: z.array(z.union([z.number().int(), z.string().min(1)])).min(1).optional(),
  parallel: z
    .strictObject({
      /** Cells trained at the same time. */
      cells: z.number().int().min(1).max(16).default(2),
      /**
       * Worker threads per cell. 0 (default): each of the `cells` slots is a long-lived thread that
       * runs its cells one after another, participants included — measured fastest (no per-cell
       * worker start-up or data reload).
       */
      workersPerCell: z.number().int().min(0).max(64).default(0),
    })
    .prefault({}),
});

export type MatrixConfigInput = z.input<typeof matrixConfigSchema>;

export interface MatrixDefence {
  readonly label: string;
  readonly spec: AggregatorSpec;
}

export interface MatrixAttack {
  readonly label: string;
  /** Undefined for the attack-free baseline. */
  readonly section?: AttackConfig;
}

export interface MatrixCell {
  readonly defence: MatrixDefence;
  readonly attack: MatrixAttack;
  readonly seed: number | string;
  readonly config: SimulationConfig;
}

export interface MatrixPlan {
  readonly name: string;
  readonly base: SimulationConfig;
  readonly defences: readonly MatrixDefence[];
  readonly attacks: readonly MatrixAttack[];
  readonly seeds: readonly (number | string)[];
  readonly parallel: { readonly cells: number; readonly workersPerCell: number };
  /** Defence-major, then attack, then seed: rows of the table fill in order. */
  readonly cells: readonly MatrixCell[];
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Rethrow a registry/config error with the matrix path in front. */
function at<T>(path: string, f: () => T): T {
  try {
    return f();
  } catch (err) {
    // The registries name the spec's own path first ("aggregator.inner: …"); put the matrix's in its place.
    if (err instanceof FedsecError) throw new FedsecError(err.code, err.message.replace(/^(aggregator|attack)\b/, path));
    throw err;
  }
}

function compact(options: Record<string, unknown>): string {
  return Object.entries(options)
    .map(([k, v]) => (isRecord(v) && typeof v.name === 'string' ? `${k}=${autoLabel(v as AggregatorSpec)}` : `${k}=${JSON.stringify(v)}`))
    .join(',');
}

/** `name`, or `name(k=v,…)` with the options as written (not the defaults). */
function autoLabel(spec: { name: string } & Record<string, unknown>): string {
  const { name, ...options } = spec;
  return Object.keys(options).length > 0 ? `${name}(${compact(options)})` : name;
}

function parseDefence(raw: unknown, i: number): MatrixDefence {
  const path = `defences[${i}]`;
  const entry = typeof raw === 'string' ? { name: raw } : raw;
  if (!isRecord(entry) || typeof entry.name !== 'string') {
    fail('config', `${path}: a defence is an aggregator name or an object with a "name", got ${JSON.stringify(raw)}`, 'e.g. median, or { name: trimmed-mean, beta: 0.2 }');
  }
  const { label, ...spec } = entry as { name: string; label?: unknown } & Record<string, unknown>;
  if (label !== undefined && (typeof label !== 'string' || label.length === 0)) fail('config', `${path}.label: must be a non-empty string`);
  const resolved = at(path, () => resolveAggregatorSpec(spec, 'aggregator'));
  return { label: label ?? autoLabel(spec), spec: resolved };
}

const attackOverrideSchema = z.strictObject({
  label: z.string().min(1).optional(),
  attack: z.unknown(),
  malicious: maliciousSelectionSchema.optional(),
  startRound: z.number().int().min(0).optional(),
  endRound: z.number().int().min(0).optional(),
  omniscient: z.boolean().optional(),
});

function parseAttack(raw: unknown, i: number, threat: z.output<typeof threatSchema> | undefined): MatrixAttack {
  const path = `attacks[${i}]`;
  if (raw === 'none' || raw === null) return { label: 'none' };
  let label: string | undefined;
  let specRaw: unknown;
  let overrides: Partial<z.output<typeof threatSchema>> = {};
  if (typeof raw === 'string') specRaw = { name: raw };
  else if (isRecord(raw) && 'attack' in raw) {
    const r = attackOverrideSchema.safeParse(raw);
    if (!r.success) fail('config', `${path}: invalid attack entry:\n${describeIssues(r.error).replace(/^ {2}- /gm, `  - ${path}.`)}`);
    const { label: l, attack, ...rest } = r.data;
    label = l;
    specRaw = attack;
    overrides = Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined));
  } else if (isRecord(raw) && typeof raw.name === 'string') {
    const { label: l, ...spec } = raw;
    if (l !== undefined && (typeof l !== 'string' || l.length === 0)) fail('config', `${path}.label: must be a non-empty string`);
    label = l as string | undefined;
    specRaw = spec;
  } else {
    fail('config', `${path}: an attack is "none", an attack name, or an object with a "name" (or an "attack" spec), got ${JSON.stringify(raw)}`, `attack names: ${attackNames().join(', ')}`);
  }
  const spec: AttackSpec = at(path, () => resolveAttackSpec(specRaw, 'attack'));
  const merged = { ...(threat ?? {}), ...overrides };
  if (merged.malicious === undefined) {
    fail('config', `${path}: who is malicious is not said`, 'add a threat section, e.g. threat: { malicious: { count: 4 }, omniscient: true }, or give this attack its own malicious: { … }');
  }
  const startRound = merged.startRound ?? 0;
  if (merged.endRound !== undefined && merged.endRound < startRound) fail('config', `${path}: endRound ${merged.endRound} is before startRound ${startRound}`);
  const section: AttackConfig = {
    malicious: merged.malicious,
    startRound,
    ...(merged.endRound !== undefined ? { endRound: merged.endRound } : {}),
    omniscient: merged.omniscient ?? false,
    attack: spec,
  };
  return { label: label ?? autoLabel(specRaw as AttackSpec), section };
}

function uniqueLabels(kind: string, labels: readonly string[]): void {
  const seen = new Set<string>();
  for (const [i, l] of labels.entries()) {
    if (seen.has(l)) fail('config', `${kind}[${i}]: label "${l}" is used twice`, `give one of them a distinct label: { label: …, … }`);
    seen.add(l);
  }
}

/** Participants per round, when the sampling fixes it. */
function perRound(c: SimulationConfig): number | undefined {
  return c.sampling.kind === 'all' ? c.participants : c.sampling.kind === 'fixed' ? c.sampling.perRound : undefined;
}

export function parseMatrixConfig(input: unknown, source = 'matrix config'): MatrixPlan {
  const r = matrixConfigSchema.safeParse(input ?? {});
  if (!r.success) fail('config', `invalid ${source}:\n${describeIssues(r.error)}`);
  const m = r.data;
  for (const key of ['aggregation', 'attack'] as const) {
    if (key in m.base) fail('config', `invalid ${source}: base.${key} is set, but the matrix chooses it per cell`, key === 'aggregation' ? 'list aggregators under defences' : 'list attacks under attacks (and who is malicious under threat)');
  }
  if (isRecord(m.base.runtime) && 'workers' in m.base.runtime) {
    fail('config', `invalid ${source}: base.runtime.workers is set, but the matrix decides it`, 'set parallel.workersPerCell (and parallel.cells) instead');
  }
  const baseParsed = simulationConfigSchema.safeParse(m.base);
  if (!baseParsed.success) fail('config', `invalid ${source}:\n${describeIssues(baseParsed.error).replace(/^ {2}- /gm, '  - base.')}`);
  const base = baseParsed.data;

  const defences = m.defences.map((d, i) => parseDefence(d, i));
  const attacks = m.attacks.map((a, i) => parseAttack(a, i, m.threat));
  uniqueLabels('defences', defences.map((d) => d.label));
  uniqueLabels('attacks', attacks.map((a) => a.label));

  // Preconditions that would otherwise show up as every round of a cell being skipped.
  const n = perRound(base);
  defences.forEach((d, i) => {
    const req = createAggregator(d.spec).requirement?.(base.byzantine);
    if (n !== undefined && req && n < req.min) {
      fail('config', `defences[${i}] (${d.label}) needs ${req.rule} with f = base.byzantine = ${base.byzantine}, but a round has ${n} participants`, 'drop it, lower base.byzantine, or add participants');
    }
    if (aggregatorTraits(d.spec).needsReference && base.server.rootSamples === undefined) {
      fail('config', `defences[${i}] (${d.label}) needs the coordinator's root dataset`, 'set base.server.rootSamples (e.g. 100), for every cell so that all cells train on the same partitions');
    }
  });

  const seeds = m.seeds ?? [base.seed];
  const cells: MatrixCell[] = [];
  for (const defence of defences) {
    for (const attack of attacks) {
      for (const seed of seeds) {
        const raw = {
          ...m.base,
          name: `${m.name}: ${defence.label} × ${attack.label}`,
          seed,
          aggregation: defence.spec,
          ...(attack.section ? { attack: attack.section } : {}),
          runtime: { ...(isRecord(m.base.runtime) ? m.base.runtime : {}), workers: m.parallel.workersPerCell },
        };
        cells.push({ defence, attack, seed, config: parseSimulationConfig(raw, `matrix cell ${defence.label} × ${attack.label} (seed ${seed})`) });
      }
    }
  }
  return { name: m.name, base, defences, attacks, seeds, parallel: m.parallel, cells };
}
