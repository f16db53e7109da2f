/**
 * The (ε, δ) budget guard. Before a round releases anything, the engine asks whether the round's
 * privacy cost still fits; if not, training stops and the previous round's model is the result.
 * Fails closed: recording a round the budget does not allow throws.
 */
import { z } from 'zod';
import { fail } from '../core/errors.js';
import { RdpAccountant, type DpEvent, type RdpAccountantState } from './rdp-accountant.js';

export interface PrivacyBudgetLimit {
  /** Omit (or +∞) to only track ε without a limit — e.g. when the noise multiplier was fixed. */
  readonly epsilon?: number;
  readonly delta: number;
}

export interface RoundEvent extends DpEvent {
  /** The round number as the engine counts it (used in messages and history). */
  readonly round: number;
}

export type RoundCheck =
  | { readonly allowed: true; readonly epsilonAfter: number; readonly order: number | null }
  | { readonly allowed: false; readonly epsilonAfter: number; readonly order: number | null; readonly reason: string };

export interface EpsilonHistoryEntry {
  readonly round: number;
  readonly epsilon: number;
  readonly order: number | null;
}

export interface PrivacyBudgetState {
  readonly limit: { readonly epsilon: number | null; readonly delta: number };
  readonly accountant: RdpAccountantState;
  readonly history: readonly EpsilonHistoryEntry[];
}

const historySchema = z.array(
  z.object({ round: z.number().int(), epsilon: z.number().min(0), order: z.number().gt(1).nullable() }),
);
const stateSchema = z.object({
  limit: z.object({ epsilon: z.number().positive().nullable(), delta: z.number().gt(0).lt(1) }),
  accountant: z.unknown(),
  history: historySchema,
});

function fmt(x: number, digits = 3): string {
  return Number.isFinite(x) ? String(Number(x.toPrecision(digits))) : String(x);
}

/** Enough digits that the printed ε is visibly above the printed budget. */
function fmtAbove(x: number, budget: number): string {
  for (let d = 3; d < 17; d++) if (Number(x.toPrecision(d)) > budget) return fmt(x, d);
  return String(x);
}

function fmtDelta(delta: number): string {
  return delta < 1e-3 ? delta.toExponential() : String(delta);
}

export class PrivacyBudget {
  readonly epsilon: number;
  readonly delta: number;
  private readonly entries: EpsilonHistoryEntry[] = [];

  constructor(
    limit: PrivacyBudgetLimit,
    readonly accountant: RdpAccountant = new RdpAccountant(),
  ) {
    const eps = limit.epsilon ?? Infinity;
    if (!(eps > 0)) fail('config', `privacy budget ε must be positive, got ${eps}`);
    if (!(limit.delta > 0 && limit.delta < 1)) {
      fail('config', `privacy budget δ must be in (0, 1), got ${limit.delta}`, 'typical values are 1e-5 or 1/(number of records)');
    }
    this.epsilon = eps;
    this.delta = limit.delta;
  }

  /** Would this round keep ε within the budget? Records nothing. */
  checkRound(event: RoundEvent): RoundCheck {
    const { epsilon: epsilonAfter, order } = this.accountant.epsilonIf(event, this.delta);
    if (epsilonAfter <= this.epsilon) return { allowed: true, epsilonAfter, order };
    const last = this.entries.at(-1);
    const keep = last ? `the round-${last.round} model` : 'the initial model';
    return {
      allowed: false,
      epsilonAfter,
      order,
      reason: `round ${event.round} would raise ε to ${fmtAbove(epsilonAfter, this.epsilon)} > budget ${this.epsilon} (δ=${fmtDelta(this.delta)}); stopping with ${keep}`,
    };
  }

  /** Account for a round that is being released; throws if the budget does not allow it. */
  recordRound(event: RoundEvent): EpsilonHistoryEntry {
    const last = this.entries.at(-1);
    if (last && event.round <= last.round) {
      fail('precondition', `round ${event.round} recorded after round ${last.round}`, 'record each round once, in order');
    }
    const check = this.checkRound(event);
    if (!check.allowed) fail('budget', check.reason);
    this.accountant.compose(event);
    const entry = { round: event.round, epsilon: check.epsilonAfter, order: check.order };
    this.entries.push(entry);
    return entry;
  }

  /** ε spent so far (0 before any round). */
  spent(): number {
    return this.entries.at(-1)?.epsilon ?? 0;
  }

  /** Per-round ε after each recorded round, for results.json. */
  get history(): readonly EpsilonHistoryEntry[] {
    return [...this.entries];
  }

  toJSON(): PrivacyBudgetState {
    return {
      limit: { epsilon: Number.isFinite(this.epsilon) ? this.epsilon : null, delta: this.delta },
      accountant: this.accountant.toJSON(),
      history: this.history,
    };
  }

  static fromJSON(state: unknown): PrivacyBudget {
    const parsed = stateSchema.safeParse(state);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      fail(
        'io',
        `saved privacy budget is invalid at ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'unknown'}`,
        'the results store is corrupt or from an incompatible version; re-run the experiment',
      );
    }
    const { limit, accountant, history } = parsed.data;
    const budget = new PrivacyBudget(
      { epsilon: limit.epsilon ?? Infinity, delta: limit.delta },
      RdpAccountant.fromJSON(accountant),
    );
    budget.entries.push(...history);
    return budget;
  }
}
