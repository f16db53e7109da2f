/**
 * Who attacks, when, with what: the attack section of a run config, and the deterministic choice
 * of the malicious participants from a seed.
 */
import { z } from 'zod';
import { fail } from '../core/errors.js';
import { SeededRng } from '../core/rng.js';
import { attackSpecSchema, resolveAttackSpec, type AttackSpec } from './registry.js';

/** Exactly one of: a fraction of the participants, a count, or explicit ids. */
export const maliciousSelectionSchema = z
  .strictObject({
    fraction: z.number().min(0).max(1).optional().describe('⌊fraction·n⌋ participants'),
    count: z.number().int().min(0).optional(),
    ids: z.array(z.string().min(1)).min(1).optional(),
  })
  .refine((s) => [s.fraction, s.count, s.ids].filter((x) => x !== undefined).length === 1, {
    message: 'give exactly one of fraction, count or ids',
  });
export type MaliciousSelection = z.infer<typeof maliciousSelectionSchema>;

export const attackConfigSchema = z
  .strictObject({
    malicious: maliciousSelectionSchema,
    /** First round (inclusive) in which the attackers attack; before it they behave honestly. */
    startRound: z.number().int().min(0).default(0),
    /** Last round (inclusive); absent = until the end. */
    endRound: z.number().int().min(0).optional(),
    /** Update attacks see the round's benign updates (true) or only their own honest ones (false). */
    omniscient: z.boolean().default(false),
    attack: attackSpecSchema,
  })
  .refine((c) => c.endRound === undefined || c.endRound >= c.startRound, { message: 'endRound must be ≥ startRound', path: ['endRound'] });

export interface AttackConfig {
  readonly malicious: MaliciousSelection;
  readonly startRound: number;
  readonly endRound?: number | undefined;
  readonly omniscient: boolean;
  /** The attack spec with its defaults filled in. */
  readonly attack: AttackSpec;
}

/** Validate an attack section; the attack spec itself is checked against the attack registry. */
export function parseAttackConfig(raw: unknown): AttackConfig {
  const r = attackConfigSchema.safeParse(raw);
  if (!r.success) {
    fail(
      'config',
      `invalid attack config: ${r.error.issues.map((i) => `${i.path.length > 0 ? `${i.path.join('.')}: ` : ''}${i.message}`).join('; ')}`,
      'e.g. { "malicious": { "fraction": 0.2 }, "startRound": 0, "omniscient": true, "attack": { "name": "alie" } }',
    );
  }
  return { ...r.data, attack: resolveAttackSpec(r.data.attack, 'attack.attack') };
}

/**
 * The `attack` section of a simulation config: the schema above, with the attack spec checked
 * against the registry and its defaults filled in at parse time (so a typo fails before any
 * training, with the path `attack.attack`).
 */
export const attackSectionSchema = attackConfigSchema.transform((c, ctx): AttackConfig => {
  try {
    return { ...c, attack: resolveAttackSpec(c.attack, 'attack') };
  } catch (err) {
    // The registry prefixes its messages with the path; zod adds the path itself.
    const message = (err instanceof Error ? err.message : String(err)).replace(/^attack: /, '');
    ctx.issues.push({ code: 'custom', message, input: c.attack, path: ['attack'] });
    return z.NEVER;
  }
});

export function isAttackActive(config: Pick<AttackConfig, 'startRound' | 'endRound'>, round: number): boolean {
  return round >= config.startRound && (config.endRound === undefined || round <= config.endRound);
}

/**
 * The malicious participants, as a sorted list of ids: the same ids and seed always give the same
 * set, whatever order the ids come in.
 */
export function selectMalicious(participantIds: readonly string[], selection: MaliciousSelection, seed: number | string): string[] {
  const ids = [...participantIds].sort();
  for (let i = 1; i < ids.length; i++) if (ids[i] === ids[i - 1]) fail('config', `participant id "${ids[i]}" appears twice`);
  if (selection.ids !== undefined) {
    const known = new Set(ids);
    const unknown = selection.ids.filter((id) => !known.has(id));
    if (unknown.length > 0) fail('config', `malicious ids not among the participants: ${unknown.join(', ')}`, `participants: ${ids.join(', ')}`);
    return [...new Set(selection.ids)].sort();
  }
  const n = ids.length;
  // The epsilon keeps e.g. 0.7 · 10 = 6.999… at 7.
  const k = selection.count ?? Math.floor((selection.fraction ?? 0) * n + 1e-9);
  if (k > n) fail('config', `cannot make ${k} of ${n} participants malicious`, 'lower malicious.count');
  return SeededRng.from(seed, 'malicious-participants')
    .sampleIndices(n, k)
    .map((i) => ids[i]!)
    .sort();
}
