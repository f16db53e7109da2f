// Shared fixtures for the aggregation tests (not a test file itself).
import type { AggregationContext, Contribution } from '../../src/aggregation/types.js';
import { SeededRng } from '../../src/core/rng.js';

export function contributions(rows: readonly (readonly number[])[], weights?: readonly number[]): Contribution[] {
  return rows.map((r, i) => ({ id: `p${i}`, update: Float32Array.from(r), weight: weights?.[i] ?? 1 }));
}

export function context(byzantine: number, extra: Partial<AggregationContext> = {}): AggregationContext {
  return { round: 0, byzantine, rng: SeededRng.from('test', byzantine), ...extra };
}

export function close(actual: Float32Array, expected: readonly number[], digits = 5): boolean {
  return actual.length === expected.length && expected.every((e, i) => Math.abs(actual[i]! - e) <= 10 ** -digits * Math.max(1, Math.abs(e)));
}
