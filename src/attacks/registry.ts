/**
 * The attack registry: name → kind, description, options schema (zod, with defaults) and factory.
 * Configs say e.g. `{ name: 'alie' }`, `{ name: 'ipm', epsilon: 2 }`,
 * `{ name: 'sybil', base: { name: 'scaling', factor: 5 } }`, `{ name: 'backdoor', targetLabel: 0 }`.
 */
import { z } from 'zod';
import { fail } from '../core/errors.js';
import { Registry, registrySpecSchema, type RegistrySpec } from '../core/registry.js';
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

export const attackSpecSchema = registrySpecSchema;
export type AttackSpec = RegistrySpec;

/** What may be assumed of an attack before building it: what it poisons. */
export interface AttackTraits {
  readonly kind: Attack['kind'];
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

/** Every attack fedsec knows; add one with a file and one `define` here (or `attacks.define` from outside). */
export const attacks = new Registry<Attack, AttackTraits>('attack', '{ "name": "sign-flip" }')
  .define('sign-flip', {
    description: 'Each attacker sends −scale × its honest update.',
    options: z.strictObject({ scale: z.number().positive().default(1) }),
    build: (o) => signFlip(o),
    traits: { kind: 'update' },
  })
  .define('gaussian-noise', {
    description: 'Each attacker sends N(0, σ²) noise instead of an update.',
    options: z.strictObject({ sigma: z.number().positive().default(1) }),
    build: (o) => gaussianNoise(o),
    traits: { kind: 'update' },
  })
  .define('scaling', {
    description: 'Each attacker sends factor × its honest update (default n / k).',
    options: z.strictObject({ factor: z.number().optional().describe('λ; default numTotal / numMalicious') }),
    build: (o) => scaling(o),
    traits: { kind: 'update' },
  })
  .define('alie', {
    description: 'A Little Is Enough (Baruch et al. 2019): mean − z·std of the reference updates, z from n and f unless fixed.',
    options: z.strictObject({
      z: z.number().positive().optional().describe('fixed z; default Φ⁻¹((n − f − s)/(n − f)), s = ⌊n/2⌋ + 1 − f'),
      direction: z.enum(['minus', 'plus']).default('minus').describe("'plus' sends mean + z·std (ByzFL's convention)"),
      ddof: z.union([z.literal(0), z.literal(1)]).default(1).describe('1 = sample standard deviation'),
    }),
    build: (o) => alie(o),
    traits: { kind: 'update' },
  })
  .define('ipm', {
    description: 'Inner-product manipulation (Xie et al. 2020): −ε × the mean of the reference updates.',
    options: z.strictObject({ epsilon: z.number().positive().default(0.1) }),
    build: (o) => ipm(o),
    traits: { kind: 'update' },
  })
  .define('min-max', {
    description: 'Min-max (Shejwalkar & Houmansadr 2021): mean + γ·p, no farther from any update than the benign maximum.',
    options: minMaxOptions,
    build: (o) => minMax('min-max', o),
    traits: { kind: 'update' },
  })
  .define('min-sum', {
    description: 'Min-sum (Shejwalkar & Houmansadr 2021): mean + γ·p, sum of squared distances within the benign maximum.',
    options: minMaxOptions,
    build: (o) => minMax('min-sum', o),
    traits: { kind: 'update' },
  })
  .define('sybil', {
    description: 'k colluding identities send one poisoned update (a base attack) plus tiny noise.',
    options: z.strictObject({
      base: attackSpecSchema.default({ name: 'sign-flip' }).describe('the update attack producing the shared poisoned direction'),
      noise: z.number().min(0).default(0.001).describe('noise norm relative to the base norm'),
    }),
    nested: ['base'],
    build: (o, at) => {
      const base = at.create(o.base, 'base');
      if (base.kind !== 'update') fail('config', `${at.path}.base: "${o.base.name}" is a data attack; sybil needs an update attack`);
      return sybil({ base, noise: o.noise });
    },
    traits: { kind: 'update' },
  })
  .define('label-flip', {
    description: 'Train on flipped labels: y → C − 1 − y, or a mapping {from: to}.',
    options: z.strictObject({
      mapping: z.record(z.string().regex(/^\d+$/), z.number().int().min(0)).optional(),
      fraction: z.number().gt(0).max(1).default(1).describe('fraction of examples flipped'),
    }),
    build: (o) => labelFlip(o),
    traits: { kind: 'data' },
  })
  .define('backdoor', {
    description: 'Pixel-pattern backdoor with model replacement (Bagdasaryan et al. 2020): trigger → target label, delta boosted by n/(η·k).',
    options: z.strictObject({
      targetLabel: z.number().int().min(0),
      trigger,
      poisonFraction: z.number().gt(0).max(1).default(0.5),
      mode: z.enum(['replace', 'append']).default('replace'),
      boost: z.union([z.literal('model-replacement'), z.number().positive()]).default('model-replacement'),
      serverLearningRate: z.number().positive().default(1),
    }),
    build: (o) => backdoor(o),
    traits: { kind: 'data' },
  });

export function attackNames(kind?: Attack['kind']): string[] {
  return attacks.names((traits) => kind === undefined || traits?.kind === kind);
}

/** Validate a spec and build its attack. */
export function createAttack(spec: unknown): Attack {
  return attacks.create(spec);
}

/** Build an update attack, or fail if the spec names a data attack. */
export function createUpdateAttack(spec: unknown): UpdateAttack {
  const attack = createAttack(spec);
  if (attack.kind !== 'update') fail('config', `attack "${attack.name}" poisons data, not updates`, `update attacks: ${attackNames('update').join(', ')}`);
  return attack;
}

/** The spec with every default filled in (nested base specs too). */
export function resolveAttackSpec(spec: unknown, path = 'attack'): AttackSpec {
  return attacks.resolve(spec, path);
}

export function attackKind(spec: unknown): Attack['kind'] {
  return attacks.traits(spec).kind;
}

export function describeAttacks(): { name: string; kind: Attack['kind']; description: string; options: unknown }[] {
  return attacks.describe().map(({ name, description, options, traits }) => ({ name, kind: traits?.kind ?? 'update', description, options }));
}
