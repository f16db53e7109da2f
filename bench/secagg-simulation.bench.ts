/**
 * What secure aggregation costs inside `fedsec simulate`: the default federation (MNIST, MLP
 * 784-128-10, d = 101,770, Dirichlet α = 0.5) run plain and with SecAgg+ for a few rounds, reporting
 * per round the wall time, the protocol's share of it (setup to unmasked sum, concurrent with
 * nothing else), the coordinator's own work, and the SecAgg bytes per participant against the
 * plain float32 update (4d bytes).
 *
 *   npm run bench secagg-simulation -- [--rounds=3] [--participants=10,20] [--workers=2] [--dropout=0.2]
 *
 * About 2 × participants/10 × 15 s per grid point on an idle 2-core machine; the training itself
 * dominates, so read the secagg columns, not the ratio of round times, on a loaded machine.
 */
import { parseSimulationConfig } from '../src/config/simulation.js';
import { runSimulation, type SimulationResult } from '../src/federation/simulation.js';

function option(args: string[], key: string): string | undefined {
  return args.find((a) => a.startsWith(`--${key}=`))?.slice(key.length + 3);
}

const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

function perRound(result: SimulationResult, key: string): number {
  return mean(result.rounds.map((r) => r.extra[key] ?? NaN));
}

export async function run(args: string[]): Promise<void> {
  const rounds = Number(option(args, 'rounds') ?? 3);
  const sizes = (option(args, 'participants') ?? '10').split(',').map(Number);
  const workers = Number(option(args, 'workers') ?? 2);
  const dropout = option(args, 'dropout');
  console.log(`SecAgg+ in fedsec simulate: MLP 784-128-10 on MNIST, ${rounds} rounds, ${workers} workers${dropout ? `, dropout rate ${dropout} at masked-input` : ''}.`);
  console.log('round ms = mean wall time per round; secagg ms = protocol wall time per round (after training);');
  console.log('coord ms = coordinator work in it; KB/participant = SecAgg bytes both ways / sampled participants.\n');
  console.log('| participants | plain round ms | secure round ms | secagg ms | coord ms | KB/participant | plain update KB | expansion | accuracy plain / secure |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const n of sizes) {
    const base = { participants: n, rounds, runtime: { workers } };
    const plain = await runSimulation(parseSimulationConfig(base));
    const secure = await runSimulation(parseSimulationConfig({ ...base, secureAggregation: dropout ? { simulateDropouts: { rate: Number(dropout), stage: 'masked-input' } } : {} }));
    const d = secure.finalParams.length;
    const roundMs = (r: SimulationResult): number => mean(r.rounds.map((x) => x.timings.totalMs));
    const kb = perRound(secure, 'secaggBytes') / n / 1024;
    const plainKb = (4 * d) / 1024;
    const acc = (r: SimulationResult): string => `${(100 * (r.rounds.at(-1)?.evaluation.accuracy ?? NaN)).toFixed(2)}%`;
    console.log(
      `| ${n} | ${roundMs(plain).toFixed(0)} | ${roundMs(secure).toFixed(0)} | ${perRound(secure, 'secaggMs').toFixed(0)} | ${perRound(secure, 'secaggCoordinatorMs').toFixed(0)} | ${kb.toFixed(0)} | ${plainKb.toFixed(0)} | ${(kb / plainKb).toFixed(3)}× | ${acc(plain)} / ${acc(secure)} |`,
    );
  }
}
