/**
 * The attack registry: name → kind, description, options schema (zod, with defaults) and factory.
 * Configs say e.g. `{ name: 'alie' }`, `{ name: 'ipm', epsilon: 2 }`,
 * `{ name: 'sybil', base: { name: 'scaling', factor: 5 } }`, `{ name: 'backdoor', targetLabel: 0 }`.
 */
import { z } from 'zod';
import { fail } from '../core/errors.js';
import { parseEntryOptions } from '../core/options.js';
import { alie } from './alie.js';
import { backdoor } from './backdoor.js';
import { gaussianNoise } from './gaussian-noise.js';
import { ipm } from './ipm.js';
import { labelFlip } from './label-flip.js';
import { minMax } from './min-max.js';
import { scaling } from './scaling.js';
import { signFlip } from './sign-flip.js';
import { sybil } from './sybil.js';
import type { Attack, UpdateAttack } from './types.js';

export const attackSpecSchema = z.looseObject({ name: z.string().min(1) });
export type AttackSpec = z.infer<typeof attackSpecSchema>;

interface Entry {
  readonly kind: Attack['kind'];
  readonly description: string;
  readonly options: z.ZodType;
  create(options: unknown, path: string): Attack;
  resolve(options: unknown, path: string): Record<string, unknown>;
}


function define<S extends z.ZodType<Record<string, unknown>>>(
  name: string,
  kind: Attack['kind'],
  description: string,
  options: S,
  build: (o: z.output<S>, path: string) => Attack,
): [string, Entry] {
  const parse = (raw: unknown, path: string): z.output<S> => parseEntryOptions(options, raw, path, `attack "${name}"`);
  return [
    name,
    {
      kind,
      description,
      options,
      create: (raw, path) => build(parse(raw, path), path),
      resolve: (raw, path) => {
        const o = parse(raw, path) as Record<string, unknown>;
        return o.base !== undefined ? { ...o, base: resolveAttackSpec(o.base, `${path}.base`) } : o;
      },
    },
  ];
}

const perturbation = z.enum(['unit-vector', 'std', 'sign']).default('std').describe('direction p: −μ/‖μ‖, −σ or −sign(μ)');
const minMaxOptions = z.strictObject({
  perturbation,
  search: z.enum(['exact', 'bisection']).default('exact').describe("solve for γ exactly, or the paper's binary search"),
  gammaInit: z.number().positive().default(10).describe('bisection: starting γ (reaches at most 2× this)'),
  tolerance: z.number().positive().default(1e-5).describe('bisection: stop when the step is this small'),
});
const trigger = z
  .strictObject({
    size: z.number().int().min(1).default(4).describe('side of the square in pixels'),
    position: z.enum(['bottom-right', 'bottom-left', 'top-right', 'top-left']).default('bottom-right'),
    margin: z.number().int().min(0).default(1).describe('pixels from the edges'),
    value: z.number().default(1).describe('pixel value (1 = white for inputs in [0, 1])'),
  })
  .prefault({});

const entries = new Map<string, Entry>([
  define(
    'sign-flip',
    'update',
    'Each attacker sends −scale × its honest update.',
    z.strictObject({ scale: z.number().positive().default(1) }),
    (o) => signFlip(o),
  ),
  define(
    'gaussian-noise',
    'update',
    'Each attacker sends N(0, σ²) noise instead of an update.',
    z.strictObject({ sigma: z.number().positive().default(1) }),
    (o) => gaussianNoise(o),
  ),
  define(
    'scaling',
    'update',
    'Each attacker sends factor × its honest update (default n / k).',
    z.strictObject({ factor: z.number().optional().describe('λ; default numTotal / numMalicious') }),
    (o) => scaling(o),
  ),
  define(
    'alie',
    'update',
    'A Little Is Enough (Baruch et al. 2019): mean − z·std of the reference updates, z from n and f unless fixed.',
    z.strictObject({
      z: z.number().positive().optional().describe('fixed z; default Φ⁻¹((n − f − s)/(n − f)), s = ⌊n/2⌋ + 1 − f'),
      direction: z.enum(['minus', 'plus']).default('minus').describe("'plus' sends mean + z·std (ByzFL's convention)"),
      ddof: z.union([z.literal(0), z.literal(1)]).default(1).describe('1 = sample standard deviation'),
    }),
    (o) => alie(o),
  ),
  define(
    'ipm',
    'update',
    'Inner-product manipulation (Xie et al. 2020): −ε × the mean of the reference updates.',
    z.strictObject({ epsilon: z.number().positive().default(0.1) }),
    (o) => ipm(o),
  ),
  define('min-max', 'update', 'Min-max (Shejwalkar & Houmansadr 2021): mean + γ·p, no farther from any update than the benign maximum.', minMaxOptions, (o) =>
    minMax('min-max', o),
  ),
  define('min-sum', 'update', 'Min-sum (Shejwalkar & Houmansadr 2021): mean + γ·p, sum of squared distances within the benign maximum.', minMaxOptions, (o) =>
    minMax('min-sum', o),
  ),
  define(
    'sybil',
    'update',
    'k colluding identities send one poisoned update (a base attack) plus tiny noise.',
    z.strictObject({
      base: attackSpecSchema.default({ name: 'sign-flip' }).describe('the update attack producing the shared poisoned direction'),
      noise: z.number().min(0).default(0.001).describe('noise norm relative to the base norm'),
    }),
    (o, path) => {
      const base = createAt(o.base, `${path}.base`);
      if (base.kind !== 'update') fail('config', `${path}.base: "${o.base.name}" is a data attack; sybil needs an update attack`);
      return sybil({ base, noise: o.noise });
    },
  ),
  define(
    'label-flip',
    'data',
    'Train on flipped labels: y → C − 1 − y, or a mapping {from: to}.',
    z.strictObject({
      mapping: z.record(z.string().regex(/^\d+$/), z.number().int().min(0)).optional(),
      fraction: z.number().gt(0).max(1).default(1).describe('fraction of examples flipped'),
    }),
    (o) => labelFlip(o),
  ),
  define(
    'backdoor',
    'data',
    'Pixel-pattern backdoor with model replacement (Bagdasaryan et al. 2020): trigger → target label, delta boosted by n/(η·k).',
    z.strictObject({
      targetLabel: z.number().int().min(0),
      trigger,
      poisonFraction: z.number().gt(0).max(1).default(0.5),
      mode: z.enum(['replace', 'append']).default('replace'),
      boost: z.union([z.literal('model-replacement'), z.number().positive()]).default('model-replacement'),
      serverLearningRate: z.number().positive().default(1),
    }),
    (o) => backdoor(o),
  ),
]);

export function attackNames(kind?: Attack['kind']): string[] {
  return [...entries].filter(([, e]) => kind === undefined || e.kind === kind).map(([name]) => name);
}

function lookup(spec: unknown, path: string): { entry: Entry; name: string; options: Record<string, unknown> } {
  const parsed = attackSpecSchema.safeParse(spec);
  if (!parsed.success) {
    fail('config', `${path}: an attack spec is an object with a "name", got ${JSON.stringify(spec)}`, `valid names: ${attackNames().join(', ')}`);
  }
  const { name, ...options } = parsed.data;
  const entry = entries.get(name);
  if (entry === undefined) fail('config', `${path}: unknown attack "${name}"`, `use one of: ${attackNames().join(', ')}`);
  return { entry, name, options };
}

function createAt(spec: unknown, path: string): Attack {
  const { entry, options } = lookup(spec, path);
  return entry.create(options, path);
}

/** Validate a spec and build its attack. */
export function createAttack(spec: unknown): Attack {
  return createAt(spec, 'attack');
}

/** Build an update attack, or fail if the spec names a data attack. */
export function createUpdateAttack(spec: unknown): UpdateAttack {
  const attack = createAttack(spec);
  if (attack.kind !== 'update') fail('config', `attack "${attack.name}" poisons data, not updates`, `update attacks: ${attackNames('update').join(', ')}`);
  return attack;
}

/** The spec with every default filled in (nested base specs too). */
export function resolveAttackSpec(spec: unknown, path = 'attack'): AttackSpec {
  const { entry, name, options } = lookup(spec, path);
  return { name, ...entry.resolve(options, path) };
}

export function attackKind(spec: unknown): Attack['kind'] {
  return lookup(spec, 'attack').entry.kind;
}

export function describeAttacks(): { name: string; kind: Attack['kind']; description: string; options: unknown }[] {
  return [...entries].map(([name, e]) => ({
    name,
    kind: e.kind,
    description: e.description,
    options: z.toJSONSchema(e.options, { io: 'input', unrepresentable: 'any' }),
  }));
}
