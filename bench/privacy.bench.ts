/**
 * Differential-privacy costs: CSPRNG Gaussian noise (ns per value, and the ratio to filling the same
 * Float32Array with a seeded sfc32 normal — the non-secure baseline measured in the same run) for
 * d ∈ {10⁵, 10⁶}, and the accountant (ε over the 156 default orders; calibration of z).
 *
 * Options: --quick (d = 10⁵ only, fewer repetitions).
 */
import { SeededRng } from '../src/core/rng.js';
import { calibrateNoiseMultiplier } from '../src/privacy/calibrate.js';
import { RdpAccountant } from '../src/privacy/rdp-accountant.js';
import { gaussianNoise } from '../src/privacy/secure-gaussian.js';

function timeIt(reps: number, f: () => void): number {
  f(); // warm up
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) f();
  return (performance.now() - t0) / reps;
}

export async function run(args: string[]): Promise<void> {
  const quick = args.includes('--quick');
  const dims = quick ? [100_000] : [100_000, 1_000_000];
  const reps = quick ? 3 : 10;
  console.log('| noise | d | ms/call | ns/value | × seeded sfc32 normal |');
  console.log('|---|---|---|---|---|');
  for (const d of dims) {
    const rng = SeededRng.from(1, 'bench');
    const base = timeIt(reps, () => {
      const v = new Float32Array(d);
      for (let i = 0; i < d; i++) v[i] = rng.normal();
    });
    const secure = timeIt(reps, () => gaussianNoise(d, 1));
    console.log(`| CSPRNG Box–Muller | ${d} | ${secure.toFixed(1)} | ${((secure * 1e6) / d).toFixed(1)} | ${(secure / base).toFixed(2)} |`);
  }

  const eps = timeIt(reps, () => {
    new RdpAccountant().compose({ noiseMultiplier: 1.1, samplingRate: 0.01, steps: 1000 }).epsilon(1e-5);
  });
  const cal = timeIt(quick ? 1 : 3, () => {
    calibrateNoiseMultiplier({ epsilon: 3, delta: 1e-5, samplingRate: 0.01, steps: 1000 });
  });
  console.log(`\nRDP accountant, 156 default orders: ε in ${eps.toFixed(2)} ms (uncached); calibrate z in ${cal.toFixed(0)} ms`);
}
