/**
 * Aggregation throughput: GB/s of update data (n·d·4 bytes per aggregate call) for the mean and the
 * robust rules, over n ∈ {10, 50, 100} and d ∈ {10⁵, 10⁶}, with FedAvg (the mean) measured in the
 * same run as the baseline (ratio column = rule's time / mean's time).
 *
 * Options: --quick (n ∈ {10, 50}, d ∈ {10⁴, 10⁵}), --budget=<ms> per cell (default 800, quick 200),
 * --only=<name,…> to restrict the rules. Each cell runs once to warm up; if that was fast, it keeps
 * running until the budget is spent and reports the mean time per call. Every call includes input
 * validation (the NaN/shape scan). Geometric median runs a fixed 10 Weiszfeld iterations so cells
 * compare equal work. For reference, numpy on these machines: 100 × 10⁶ float32 mean 16 ms,
 * median 2.2 s, Gram-matrix distances 0.2 s (REFERENCES.md).
 */
import { availableParallelism, loadavg } from 'node:os';
import { SeededRng } from '../src/core/rng.js';
import { createAggregator } from '../src/aggregation/registry.js';
import type { Contribution } from '../src/aggregation/types.js';

interface Rule {
  readonly label: string;
  readonly spec: { name: string; [k: string]: unknown };
}

const RULES: readonly Rule[] = [
  { label: 'mean', spec: { name: 'fedavg' } },
  { label: 'median', spec: { name: 'median' } },
  { label: 'trimmed-mean', spec: { name: 'trimmed-mean', beta: 0.1 } },
  { label: 'krum', spec: { name: 'krum' } },
  { label: 'geometric-median', spec: { name: 'geometric-median', maxIterations: 10, tolerance: 0 } },
];

function option(args: string[], key: string): string | undefined {
  const hit = args.find((a) => a.startsWith(`--${key}=`));
  return hit?.slice(key.length + 3);
}

/** Honest-looking updates: a shared direction plus per-participant noise (cheap xorshift fill). */
function makeContributions(n: number, d: number, seed: number): Contribution[] {
  const data = new Float32Array(n * d);
  let s = seed >>> 0 || 1;
  const uniform = (): number => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296 - 0.5;
  };
  const base = new Float32Array(d);
  for (let k = 0; k < d; k++) base[k] = uniform() * 0.02;
  for (let i = 0; i < n; i++) for (let k = 0; k < d; k++) data[i * d + k] = base[k]! + uniform() * 0.01;
  return Array.from({ length: n }, (_, i) => ({ id: `p${i}`, update: data.subarray(i * d, (i + 1) * d), weight: 100 + i }));
}

interface Timing {
  readonly msPerCall: number;
  /** This process's CPU time per call: close to msPerCall unless other processes compete for the cores. */
  readonly cpuMsPerCall: number;
  readonly calls: number;
}

function timeRule(rule: Rule, contributions: Contribution[], byzantine: number, budgetMs: number): Timing {
  const agg = createAggregator(rule.spec);
  const ctx = { round: 0, byzantine, rng: SeededRng.from('bench'), expectedDim: contributions[0]!.update.length };
  const cpuMs = (since: NodeJS.CpuUsage) => {
    const u = process.cpuUsage(since);
    return (u.user + u.system) / 1000;
  };
  let c0 = process.cpuUsage();
  let t0 = performance.now();
  agg.aggregate(contributions, ctx);
  const first = performance.now() - t0;
  if (first > budgetMs / 2) return { msPerCall: first, cpuMsPerCall: cpuMs(c0), calls: 1 };
  let calls = 0;
  c0 = process.cpuUsage();
  t0 = performance.now();
  let elapsed = 0;
  while (elapsed < budgetMs) {
    agg.aggregate(contributions, ctx);
    calls++;
    elapsed = performance.now() - t0;
  }
  return { msPerCall: elapsed / calls, cpuMsPerCall: cpuMs(c0) / calls, calls };
}

export async function run(args: string[]): Promise<void> {
  const quick = args.includes('--quick');
  const budgetMs = Number(option(args, 'budget') ?? (quick ? 200 : 800));
  const only = option(args, 'only')?.split(',');
  const ns = quick ? [10, 50] : [10, 50, 100];
  const ds = quick ? [1e4, 1e5] : [1e5, 1e6];
  const rules = RULES.filter((r) => r.label === 'mean' || only === undefined || only.includes(r.label));
  console.log(`budget ${budgetMs} ms per cell; f = ⌊n/10⌋; GB/s = n·d·4 bytes / wall time per call; ×mean = time / mean's time`);
  console.log(`load average at start: ${loadavg().map((l) => l.toFixed(2)).join(', ')} on ${availableParallelism()} cores (cpu ≪ wall means contention)`);
  console.log('| n | d | rule | wall ms/call | cpu ms/call | calls | GB/s | ×mean |');
  console.log('|---:|---:|---|---:|---:|---:|---:|---:|');
  const started = performance.now();
  for (const d of ds) {
    for (const n of ns) {
      const contributions = makeContributions(n, d, 1234 + n);
      const f = Math.floor(n / 10);
      let meanMs = NaN;
      for (const rule of rules) {
        const { msPerCall, cpuMsPerCall, calls } = timeRule(rule, contributions, f, budgetMs);
        if (rule.label === 'mean') meanMs = msPerCall;
        const gbs = (n * d * 4) / (msPerCall / 1000) / 1e9;
        console.log(
          `| ${n} | ${d.toExponential(0)} | ${rule.label} | ${msPerCall.toFixed(1)} | ${cpuMsPerCall.toFixed(1)} | ${calls} | ${gbs.toFixed(2)} | ${(msPerCall / meanMs).toFixed(1)} |`,
        );
      }
    }
  }
  console.log(`\ntotal ${((performance.now() - started) / 1000).toFixed(1)} s`);
}
