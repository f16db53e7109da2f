/**
 * The "validate" stage every aggregator runs first: malformed contributions never reach the math.
 *
 * Policy: by default invalid contributions are *filtered* — returned as rejected-with-reason so the
 * round's diagnostics say who sent what — because one bad participant must not be able to cancel a
 * round. `strict: true` throws on the first invalid contribution instead (for callers that treat any
 * malformed input as a protocol violation). Aggregators then check their n-vs-f precondition on the
 * contributions that survived, and fail closed if too few did.
 */
import { fail, type FedsecErrorCode } from '../core/errors.js';
import { firstNonFinite } from '../core/vector.js';
import type {
  AggregationContext,
  AggregationResult,
  AggregatorRequirement,
  Contribution,
  ContributionDiagnostic,
} from './types.js';

export interface RejectedContribution {
  /** Position in the input array. */
  readonly index: number;
  readonly id: string;
  readonly code: FedsecErrorCode;
  readonly reason: string;
}

export interface ValidationResult {
  readonly accepted: Contribution[];
  /** Input positions of `accepted`, in the same order. */
  readonly acceptedIndices: number[];
  readonly rejected: RejectedContribution[];
  /** The update length every accepted contribution has (0 when none were accepted). */
  readonly dim: number;
}

export interface ValidationOptions {
  /** The model's parameter count; when absent, the most common update length is expected. */
  readonly expectedDim?: number | undefined;
  /** Throw a FedsecError on the first invalid contribution instead of filtering it out. */
  readonly strict?: boolean;
}

/**
 * True when every entry is finite: x·0 is ±0 for finite x and NaN for NaN/±Inf, so no branch per
 * entry; four independent sums keep the adds from waiting on each other.
 */
function allFinite(v: Float32Array): boolean {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  const end = v.length - (v.length % 4);
  for (let i = 0; i < end; i += 4) {
    s0 += v[i]! * 0;
    s1 += v[i + 1]! * 0;
    s2 += v[i + 2]! * 0;
    s3 += v[i + 3]! * 0;
  }
  for (let i = end; i < v.length; i++) s0 += v[i]! * 0;
  return s0 + s1 + s2 + s3 === 0;
}

function expectedLength(contributions: readonly Contribution[], given: number | undefined): number {
  if (given !== undefined) {
    if (!Number.isInteger(given) || given <= 0) fail('config', `expectedDim must be a positive integer, got ${given}`);
    return given;
  }
  const counts = new Map<number, number>();
  for (const c of contributions) {
    if (c.update instanceof Float32Array && c.update.length > 0) counts.set(c.update.length, (counts.get(c.update.length) ?? 0) + 1);
  }
  let best = 0;
  let bestCount = 0;
  let tied = false;
  for (const [len, count] of counts) {
    if (count > bestCount) {
      best = len;
      bestCount = count;
      tied = false;
    } else if (count === bestCount) tied = true;
  }
  if (tied) {
    fail(
      'shape',
      `contributions disagree on the update length (${[...counts].map(([l, c]) => `${c}× ${l}`).join(', ')}) and no length is in the majority`,
      'pass expectedDim (the model parameter count) in the aggregation context',
    );
  }
  return best;
}

/**
 * Split contributions into valid and rejected. Checks: non-empty unique id, Float32Array update of
 * the expected length, every entry finite, weight finite and > 0. A repeated id keeps the first copy.
 */
export function validateContributions(contributions: readonly Contribution[], options: ValidationOptions = {}): ValidationResult {
  const dim = expectedLength(contributions, options.expectedDim);
  const accepted: Contribution[] = [];
  const acceptedIndices: number[] = [];
  const rejected: RejectedContribution[] = [];
  const seen = new Set<string>();
  contributions.forEach((c, index) => {
    const id = typeof c.id === 'string' ? c.id : String(c.id);
    const reject = (code: FedsecErrorCode, reason: string): void => {
      if (options.strict) fail(code, `contribution ${index} (${JSON.stringify(id)}) rejected: ${reason}`);
      rejected.push({ index, id, code, reason });
    };
    if (typeof c.id !== 'string' || c.id.length === 0) return reject('protocol', 'id must be a non-empty string');
    if (seen.has(c.id)) return reject('protocol', `duplicate id: each participant contributes once per round, later copy dropped`);
    seen.add(c.id);
    if (!(c.update instanceof Float32Array)) return reject('shape', 'update must be a Float32Array');
    if (c.update.length !== dim) return reject('shape', `update has length ${c.update.length}, expected ${dim}`);
    if (!allFinite(c.update)) {
      const at = firstNonFinite(c.update);
      return reject('non-finite', `update has ${c.update[at]} at index ${at}`);
    }
    if (typeof c.weight !== 'number' || !Number.isFinite(c.weight) || c.weight <= 0) {
      return reject('config', `weight must be a finite number > 0, got ${c.weight}`);
    }
    accepted.push(c);
    acceptedIndices.push(index);
  });
  return { accepted, acceptedIndices, rejected, dim: accepted.length > 0 ? dim : 0 };
}

/** f must be a non-negative integer. */
export function checkByzantine(byzantine: number): number {
  if (!Number.isInteger(byzantine) || byzantine < 0) {
    fail('config', `byzantine (f) must be a non-negative integer, got ${byzantine}`);
  }
  return byzantine;
}

/** The core of an aggregator: valid contributions in, aggregate + one diagnostic per input out. */
export type AggregateCore = (valid: readonly Contribution[], ctx: AggregationContext, dim: number) => AggregationResult;

/**
 * Validate, check the precondition on the survivors, run `core`, and report diagnostics in input
 * order (rejected ones with weight 0 and their reason). Every aggregator goes through here.
 */
export function aggregateValidated(
  name: string,
  contributions: readonly Contribution[],
  ctx: AggregationContext,
  requirement: (f: number) => AggregatorRequirement,
  core: AggregateCore,
): AggregationResult {
  const f = checkByzantine(ctx.byzantine);
  const { accepted, acceptedIndices, rejected, dim } = validateContributions(contributions, { expectedDim: ctx.expectedDim });
  const req = requirement(f);
  if (accepted.length < req.min || accepted.length === 0) {
    const dropped =
      rejected.length > 0
        ? `; ${rejected.length} of ${contributions.length} contributions were invalid (${rejected
            .slice(0, 3)
            .map((r) => `${r.id}: ${r.reason}`)
            .join('; ')}${rejected.length > 3 ? '; …' : ''})`
        : '';
    fail('precondition', `${name} needs ${req.rule} (n = ${accepted.length}, f = ${f})${dropped}`, 'add participants or lower byzantine');
  }
  const result = core(accepted, ctx, dim);
  if (result.diagnostics.length !== accepted.length) {
    fail('internal', `${name} returned ${result.diagnostics.length} diagnostics for ${accepted.length} contributions`);
  }
  const diagnostics = new Array<ContributionDiagnostic>(contributions.length);
  acceptedIndices.forEach((inputIndex, k) => {
    diagnostics[inputIndex] = result.diagnostics[k]!;
  });
  for (const r of rejected) diagnostics[r.index] = { id: r.id, accepted: false, weight: 0, reason: `invalid: ${r.reason}` };
  return { aggregate: result.aggregate, diagnostics };
}

/** Requirement helper: n ≥ min, stated as `rule`. */
export function atLeast(min: number, rule: string): AggregatorRequirement {
  return { min, rule };
}
