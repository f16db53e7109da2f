/**
 * Splitting a training pool among participants: IID, Dirichlet(α) label skew (Hsu et al. 2019)
 * and label shards (McMahan et al. 2017). All reproducible from a SeededRng.
 */
import { z } from 'zod';
import { fail } from '../core/errors.js';
import type { SeededRng } from '../core/rng.js';

export const partitionSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('iid') }).strict(),
  z.object({ kind: z.literal('dirichlet'), alpha: z.number().positive().default(0.5), minSize: z.number().int().nonnegative().default(10) }).strict(),
  z.object({ kind: z.literal('shards'), shardsPerParticipant: z.number().int().positive().default(2) }).strict(),
]);
export type PartitionSpec = z.infer<typeof partitionSchema>;

/** Returns, for each participant, the indices of its examples in the pool. */
export function partition(labels: Int32Array, numClasses: number, participants: number, spec: PartitionSpec, rng: SeededRng): number[][] {
  if (!Number.isInteger(participants) || participants < 1) fail('config', `need at least one participant, got ${participants}`);
  if (labels.length < participants) fail('config', `cannot split ${labels.length} examples among ${participants} participants`, 'use fewer participants');
  switch (spec.kind) {
    case 'iid':
      return iid(labels.length, participants, rng);
    case 'dirichlet':
      return dirichlet(labels, numClasses, participants, spec.alpha, spec.minSize, rng);
    case 'shards':
      return shards(labels, participants, spec.shardsPerParticipant, rng);
  }
}

function iid(n: number, participants: number, rng: SeededRng): number[][] {
  const order = rng.shuffle(Array.from({ length: n }, (_, i) => i));
  const parts: number[][] = Array.from({ length: participants }, () => []);
  order.forEach((idx, k) => parts[k % participants]!.push(idx));
  return parts;
}

function byClass(labels: Int32Array, numClasses: number): number[][] {
  const classes: number[][] = Array.from({ length: numClasses }, () => []);
  labels.forEach((label, i) => classes[label]!.push(i));
  return classes;
}

/**
 * For each class, draw proportions p ~ Dir(α) over participants and deal that class's examples
 * accordingly. Redraw (up to a limit) until every participant has at least `minSize` examples,
 * as the common FL benchmarks do, so no participant ends up with an empty dataset.
 */
function dirichlet(labels: Int32Array, numClasses: number, participants: number, alpha: number, minSize: number, rng: SeededRng): number[][] {
  const classes = byClass(labels, numClasses);
  const floor = Math.min(minSize, Math.floor(labels.length / participants));
  for (let attempt = 0; attempt < 1000; attempt++) {
    const parts: number[][] = Array.from({ length: participants }, () => []);
    for (const members of classes) {
      const idx = rng.shuffle([...members]);
      const p = rng.dirichlet(alpha, participants);
      let start = 0;
      let cumulative = 0;
      p.forEach((share, k) => {
        cumulative += share;
        const end = k === participants - 1 ? idx.length : Math.round(cumulative * idx.length);
        parts[k]!.push(...idx.slice(start, end));
        start = end;
      });
    }
    if (parts.every((part) => part.length >= floor)) return parts.map((part) => rng.shuffle(part));
  }
  fail('config', `Dirichlet(α=${alpha}) partition could not give every one of ${participants} participants ${floor} examples`, 'raise alpha, lower minSize, or use fewer participants');
}

/** Sort by label, cut into participants·k shards, give each participant k random shards. */
function shards(labels: Int32Array, participants: number, perParticipant: number, rng: SeededRng): number[][] {
  const order = Array.from({ length: labels.length }, (_, i) => i);
  // Stable sort by label with a random tiebreak so shards differ between seeds.
  const tiebreak = order.map(() => rng.next());
  order.sort((a, b) => labels[a]! - labels[b]! || tiebreak[a]! - tiebreak[b]!);
  const numShards = participants * perParticipant;
  if (numShards > labels.length) fail('config', `${numShards} shards need at least that many examples, have ${labels.length}`);
  const shardIds = rng.shuffle(Array.from({ length: numShards }, (_, i) => i));
  const parts: number[][] = Array.from({ length: participants }, () => []);
  shardIds.forEach((shard, k) => {
    const start = Math.floor((shard * labels.length) / numShards);
    const end = Math.floor(((shard + 1) * labels.length) / numShards);
    parts[Math.floor(k / perParticipant)]!.push(...order.slice(start, end));
  });
  return parts.map((part) => rng.shuffle(part));
}
