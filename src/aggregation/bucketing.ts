/**
 * Bucketing (Karimireddy, He & Jaggi 2022, "Byzantine-robust learning on heterogeneous datasets via
 * bucketing"): shuffle the updates with the round's seeded rng, average consecutive buckets of s,
 * and hand the ⌈n/s⌉ bucket means to an inner robust aggregator. Averaging shrinks the spread of
 * honest non-IID updates so the inner rule can tell them apart from attacks. Randomised by the
 * round's seed only: the shuffle starts from id order, so arrival order does not matter. Each
 * Byzantine update can spoil one bucket, so the inner rule still gets f.
 */
import { fail } from '../core/errors.js';
import type { AggregationContext, AggregationResult, Aggregator, Contribution, ContributionDiagnostic } from './types.js';
import { aggregateValidated } from './validate.js';

export interface BucketingOptions {
  readonly bucketSize: number;
  readonly inner: Aggregator;
}

export function bucketing(options: BucketingOptions): Aggregator {
  const { bucketSize: s, inner } = options;
  if (!Number.isInteger(s) || s < 1) fail('config', `bucketSize must be a positive integer, got ${s}`);
  const requirement = (f: number) => {
    const innerReq = inner.requirement?.(f) ?? { min: 1, rule: 'at least one bucket' };
    // ⌈n/s⌉ ≥ min ⇔ n ≥ (min − 1)·s + 1.
    return { min: (innerReq.min - 1) * s + 1, rule: `⌈n/${s}⌉ buckets to satisfy ${inner.name}'s ${innerReq.rule}` };
  };
  return {
    name: `bucketing(${inner.name})`,
    ...(inner.needsReference ? { needsReference: true } : {}),
    requirement,
    aggregate(contributions: readonly Contribution[], ctx: AggregationContext): AggregationResult {
      return aggregateValidated(`Bucketing (size ${s}) over ${inner.name}`, contributions, ctx, requirement, (valid, ctx, dim) => {
        // Shuffle from id order, so the buckets depend on the round seed only, not on arrival order.
        const byId = valid.map((_, i) => i).sort((a, b) => (valid[a]!.id < valid[b]!.id ? -1 : 1));
        const order = ctx.rng.shuffle(byId);
        const buckets: number[][] = [];
        for (let b = 0; b < order.length; b += s) buckets.push(order.slice(b, b + s));
        const bucketContribs: Contribution[] = buckets.map((members, b) => {
          const acc = new Float64Array(dim);
          for (const i of members) {
            const u = valid[i]!.update;
            for (let k = 0; k < dim; k++) acc[k] = acc[k]! + u[k]!;
          }
          const update = new Float32Array(dim);
          for (let k = 0; k < dim; k++) update[k] = acc[k]! / members.length;
          return {
            id: `bucket-${b}`,
            update,
            weight: members.reduce((w, i) => w + valid[i]!.weight, 0),
            members: members.flatMap((i) => valid[i]!.members ?? [valid[i]!.id]),
          };
        });
        const result = inner.aggregate(bucketContribs, { ...ctx, rng: ctx.rng.fork('bucketing-inner'), expectedDim: dim });
        const diagnostics = new Array<ContributionDiagnostic>(valid.length);
        buckets.forEach((members, b) => {
          const d = result.diagnostics[b]!;
          const peers = members.map((i) => valid[i]!.id).join(', ');
          for (const i of members) {
            diagnostics[i] = {
              id: valid[i]!.id,
              accepted: d.accepted,
              weight: d.weight / members.length,
              ...(d.score !== undefined ? { score: d.score } : {}),
              reason: `in bucket ${b} (${peers})${d.reason ? `: ${d.reason}` : ''}`,
            };
          }
        });
        return { aggregate: result.aggregate, diagnostics };
      });
    },
  };
}
