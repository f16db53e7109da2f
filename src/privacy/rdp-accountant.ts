/**
 * Rényi-DP accountant for the Poisson-subsampled Gaussian mechanism (Mironov, Talwar & Zhang
 * 2019, "Rényi Differential Privacy of the Sampled Gaussian Mechanism"), with the RDP → (ε, δ)
 * conversion of Canonne–Kamath–Steinke 2020 / Balle et al. 2020 (Thm 21).
 *
 * One event = `steps` releases of a Gaussian mechanism with L2 sensitivity C and noise std z·C
 * (z = noise multiplier) on a Poisson sample of rate q. The same event type serves client-level
 * DP-FedAvg (one step per round, q = clients sampled per round / population) and, later, DP-SGD
 * inside local training (one accountant per participant, one step per batch, q = batch / local
 * dataset size). Events compose by adding RDP curves (order by order), so the order in which
 * they are recorded does not matter and identical (q, z) events are merged.
 *
 * A_α = E_{x∼μ0}[(μ(x)/μ0(x))^α] with μ0 = N(0, z²), μ = (1−q)μ0 + q·N(1, z²); RDP(α) = log A_α/(α−1).
 * - Integer α: the exact binomial expansion A_α = Σ_k C(α,k) (1−q)^{α−k} q^k e^{(k²−k)/(2z²)},
 *   summed in log space.
 * - Fractional α: the MTZ series split at z0 = z²·log(1/q − 1) + 1/2, whose binomial coefficients
 *   C(α, i) change sign for i > ⌈α⌉. We sum the *absolute values* of the terms (the variant of
 *   Google's dp_accounting): by the triangle inequality this is an upper bound on the signed sum,
 *   so ε is never under-reported; it is slightly larger than Opacus's signed sum at fractional
 *   orders (q=0.01, z=2.5, 50 steps, α=1.5: 6.7058e-4 vs 6.5007e-4). Integer orders are exact.
 *   The series stops when both new terms are below e^−30 (A_α ≥ 1, so the neglected tail is
 *   negligible); if it has not converged after MAX_SERIES_TERMS terms the order is reported as
 *   +∞ (unusable) rather than guessed.
 */
import { z } from 'zod';
import { fail } from '../core/errors.js';
import { logAddExp, logErfc, logSubExp } from './special.js';

export interface DpEvent {
  /** z: Gaussian noise std divided by the L2 sensitivity (clip norm). */
  readonly noiseMultiplier: number;
  /** q: Poisson sampling probability of each record (participant or example); 1 = no sampling. */
  readonly samplingRate: number;
  /** Number of releases with these parameters. */
  readonly steps: number;
}

export interface EpsilonResult {
  readonly epsilon: number;
  /** The Rényi order at which the bound is tightest; null when no order gives a finite ε. */
  readonly order: number | null;
}

/** dp_accounting's default orders: 1 + x/10 for x = 1..99, then 11..63, 128, 256, 512, 1024. */
export const DEFAULT_ORDERS: readonly number[] = Object.freeze([
  ...Array.from({ length: 99 }, (_, i) => 1 + (i + 1) / 10),
  ...Array.from({ length: 53 }, (_, i) => 11 + i),
  128,
  256,
  512,
  1024,
]);

const MAX_SERIES_TERMS = 100_000;
const SERIES_CUTOFF = -30;

export type FractionalSeries = 'abs' | 'signed';

/** log A_α for integer α ≥ 2 by the exact binomial expansion. */
function logAInteger(q: number, sigma: number, alpha: number): number {
  const logQ = Math.log(q);
  const log1mQ = Math.log1p(-q);
  const twoVar = 2 * sigma * sigma;
  let logA = -Infinity;
  let logBinom = 0; // log C(α, 0)
  for (let k = 0; k <= alpha; k++) {
    logA = logAddExp(logA, logBinom + k * logQ + (alpha - k) * log1mQ + (k * k - k) / twoVar);
    logBinom += Math.log(alpha - k) - Math.log(k + 1);
  }
  return logA;
}

/** log A_α for fractional α by the MTZ series (see the module comment for the two variants). */
function logAFractional(q: number, sigma: number, alpha: number, series: FractionalSeries): number {
  const logQ = Math.log(q);
  const log1mQ = Math.log1p(-q);
  const twoVar = 2 * sigma * sigma;
  const sqrt2Sigma = Math.SQRT2 * sigma;
  const z0 = sigma * sigma * Math.log(1 / q - 1) + 0.5;
  let logA0 = -Infinity;
  let logA1 = -Infinity;
  // log|C(α, i)| and its sign, updated by C(α, i+1) = C(α, i)·(α − i)/(i + 1).
  let logAbsCoef = 0;
  let positive = true;
  for (let i = 0; i < MAX_SERIES_TERMS; i++) {
    const j = alpha - i;
    const logS0 =
      logAbsCoef + i * logQ + j * log1mQ + (i * i - i) / twoVar + Math.log(0.5) + logErfc((i - z0) / sqrt2Sigma);
    const logS1 =
      logAbsCoef + j * logQ + i * log1mQ + (j * j - j) / twoVar + Math.log(0.5) + logErfc((z0 - j) / sqrt2Sigma);
    if (series === 'abs' || positive) {
      logA0 = logAddExp(logA0, logS0);
      logA1 = logAddExp(logA1, logS1);
    } else {
      logA0 = logSubExp(logA0, logS0);
      logA1 = logSubExp(logA1, logS1);
    }
    if (Math.max(logS0, logS1) < SERIES_CUTOFF) {
      const logA = logAddExp(logA0, logA1);
      return Number.isNaN(logA) ? Infinity : logA;
    }
    const factor = (alpha - i) / (i + 1);
    logAbsCoef += Math.log(Math.abs(factor));
    if (factor < 0) positive = !positive;
  }
  return Infinity; // did not converge: refuse to certify this order
}

/**
 * RDP at order α of ONE step of the Poisson-subsampled Gaussian mechanism.
 * `series` selects the fractional-order variant; the accountant always uses 'abs' (upper bound).
 */
export function rdpSubsampledGaussian(
  samplingRate: number,
  noiseMultiplier: number,
  alpha: number,
  series: FractionalSeries = 'abs',
): number {
  if (!(alpha > 1) || !Number.isFinite(alpha)) fail('precondition', `Rényi orders must be finite and > 1, got ${alpha}`);
  if (samplingRate === 0) return 0;
  if (noiseMultiplier === 0) return Infinity;
  if (samplingRate === 1) return alpha / (2 * noiseMultiplier * noiseMultiplier);
  const logA = Number.isInteger(alpha)
    ? logAInteger(samplingRate, noiseMultiplier, alpha)
    : logAFractional(samplingRate, noiseMultiplier, alpha, series);
  // A_α ≥ 1 exactly; clamp the last-ulp rounding so RDP is never negative. Subsampling never
  // hurts (Rényi divergence is jointly quasi-convex), so the unsampled α/(2z²) also bounds it —
  // this only bites where the |terms| series is loose (q > 1/2, large z, α < 2).
  const rdp = Math.max(0, logA) / (alpha - 1);
  return Math.min(rdp, alpha / (2 * noiseMultiplier * noiseMultiplier));
}

function checkEvent(event: DpEvent): void {
  const { noiseMultiplier: zm, samplingRate: q, steps } = event;
  if (!Number.isFinite(zm) || zm < 0) fail('precondition', `noise multiplier must be a finite number ≥ 0, got ${zm}`);
  if (!Number.isFinite(q) || q < 0 || q > 1) fail('precondition', `sampling rate must be in [0, 1], got ${q}`);
  if (!Number.isInteger(steps) || steps < 0) fail('precondition', `steps must be a whole number ≥ 0, got ${steps}`);
}

function checkOrders(orders: readonly number[]): void {
  if (orders.length === 0) fail('precondition', 'at least one Rényi order is needed');
  for (const a of orders) {
    if (!Number.isFinite(a) || !(a > 1)) fail('precondition', `Rényi orders must be finite and > 1, got ${a}`);
  }
}

/** RDP curve (one value per order) of an event: steps × the one-step RDP. */
export function computeRdp(event: DpEvent, orders: readonly number[] = DEFAULT_ORDERS): Float64Array {
  checkEvent(event);
  checkOrders(orders);
  const out = new Float64Array(orders.length);
  if (event.steps === 0 || event.samplingRate === 0) return out;
  orders.forEach((a, k) => {
    out[k] = event.steps * rdpSubsampledGaussian(event.samplingRate, event.noiseMultiplier, a);
  });
  return out;
}

/**
 * Smallest ε over the orders such that the RDP curve implies (ε, δ)-DP:
 * ε(α) = rdp(α) + log1p(−1/α) − log(δ·α)/(α − 1)  (Canonne–Kamath–Steinke 2020; Balle et al. 2020).
 */
export function epsilonFromRdp(orders: readonly number[], rdp: ArrayLike<number>, delta: number): EpsilonResult {
  checkOrders(orders);
  if (rdp.length !== orders.length) fail('shape', `${orders.length} orders but ${rdp.length} RDP values`);
  if (!(delta > 0 && delta < 1)) fail('precondition', `δ must be in (0, 1), got ${delta}`, 'typical values are 1e-5 or 1/(number of records)');
  const logDelta = Math.log(delta);
  let best = Infinity;
  let bestOrder: number | null = null;
  for (let k = 0; k < orders.length; k++) {
    const a = orders[k]!;
    const r = rdp[k]!;
    if (Number.isNaN(r)) fail('non-finite', `RDP at order ${a} is NaN`);
    if (r === Infinity) continue;
    if (r < 0) fail('precondition', `RDP must be ≥ 0, got ${r} at order ${a}`);
    const eps = r + Math.log1p(-1 / a) - (logDelta + Math.log(a)) / (a - 1);
    if (eps < best) {
      best = eps;
      bestOrder = a;
    }
  }
  return { epsilon: Math.max(0, best), order: bestOrder };
}

const eventSchema = z.object({
  noiseMultiplier: z.number().min(0),
  samplingRate: z.number().min(0).max(1),
  steps: z.number().int().min(0),
});

const stateSchema = z.object({
  version: z.literal(1),
  orders: z.array(z.number().gt(1)).min(1),
  events: z.array(eventSchema),
});

export type RdpAccountantState = z.infer<typeof stateSchema>;

/**
 * Records events and answers "what (ε, δ) has been spent". Stateful by nature (one per run for
 * client-level DP, one per participant for DP-SGD); serialisable with toJSON/fromJSON.
 */
export class RdpAccountant {
  readonly orders: readonly number[];
  private readonly merged: DpEvent[] = [];
  private readonly perStepCache = new Map<string, Float64Array>();

  constructor(orders: readonly number[] = DEFAULT_ORDERS) {
    checkOrders(orders);
    this.orders = Object.freeze([...orders]);
  }

  /** Record an event; events with the same (z, q) are merged (composition is commutative). */
  compose(event: DpEvent): this {
    checkEvent(event);
    if (event.steps === 0) return this;
    const k = this.merged.findIndex(
      (e) => e.noiseMultiplier === event.noiseMultiplier && e.samplingRate === event.samplingRate,
    );
    const { noiseMultiplier, samplingRate } = event;
    if (k >= 0) this.merged[k] = { noiseMultiplier, samplingRate, steps: this.merged[k]!.steps + event.steps };
    else this.merged.push({ noiseMultiplier, samplingRate, steps: event.steps });
    return this;
  }

  /** The recorded events, merged by (noise multiplier, sampling rate). */
  get events(): readonly DpEvent[] {
    return this.merged.map((e) => ({ ...e }));
  }

  /** Total RDP curve of the recorded events (plus `extra`, not recorded). */
  rdp(extra?: DpEvent): Float64Array {
    const total = new Float64Array(this.orders.length);
    const events = extra ? [...this.merged, extra] : this.merged;
    for (const e of events) {
      checkEvent(e);
      if (e.steps === 0 || e.samplingRate === 0) continue;
      const perStep = this.perStep(e);
      for (let k = 0; k < total.length; k++) total[k] = total[k]! + e.steps * perStep[k]!;
    }
    return total;
  }

  epsilon(delta: number): EpsilonResult {
    return epsilonFromRdp(this.orders, this.rdp(), delta);
  }

  /** ε after one more event, without recording it (the budget guard's question). */
  epsilonIf(event: DpEvent, delta: number): EpsilonResult {
    return epsilonFromRdp(this.orders, this.rdp(event), delta);
  }

  toJSON(): RdpAccountantState {
    return { version: 1, orders: [...this.orders], events: this.events.map((e) => ({ ...e })) };
  }

  static fromJSON(state: unknown): RdpAccountant {
    const parsed = stateSchema.safeParse(state);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      fail(
        'io',
        `saved accountant state is invalid at ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'unknown'}`,
        'the results store is corrupt or from an incompatible version; re-run the experiment',
      );
    }
    const acc = new RdpAccountant(parsed.data.orders);
    for (const e of parsed.data.events) acc.compose(e);
    return acc;
  }

  private perStep(e: DpEvent): Float64Array {
    const key = `${e.samplingRate}|${e.noiseMultiplier}`;
    let curve = this.perStepCache.get(key);
    if (!curve) {
      curve = computeRdp({ ...e, steps: 1 }, this.orders);
      this.perStepCache.set(key, curve);
    }
    return curve;
  }
}
