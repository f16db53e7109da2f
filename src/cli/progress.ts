/**
 * Progress for long runs: a live bar on a terminal, one line per round otherwise (CI logs).
 */
import type { ParticipantOutcome, RoundObserver, RoundRecord } from '../federation/engine.js';

const pct = (v: number): string => `${(v * 100).toFixed(1)}%`;

export class ProgressReporter implements RoundObserver {
  private rounds = 0;
  private round = 0;
  private sampled = 0;
  private done = 0;
  private readonly started = performance.now();

  constructor(private readonly out: NodeJS.WriteStream = process.stderr, private readonly live = out.isTTY === true) {}

  onRunStart(info: { rounds: number; participants: readonly string[]; initial: { accuracy: number } }): void {
    this.rounds = info.rounds;
    this.out.write(`${info.participants.length} participants, ${info.rounds} rounds; initial accuracy ${pct(info.initial.accuracy)}\n`);
  }

  onRoundStart(round: number, sampled: readonly string[]): void {
    this.round = round;
    this.sampled = sampled.length;
    this.done = 0;
    this.draw();
  }

  onParticipantDone(_round: number, _outcome: ParticipantOutcome): void {
    this.done++;
    this.draw();
  }

  onRoundEnd(record: RoundRecord): void {
    const failed = record.participants.filter((p) => !p.ok).length;
    const note = record.skipped ? ` skipped: ${record.skipped}` : record.promoted ? '' : ` candidate rejected: ${record.gateReasons.join('; ')}`;
    const line = `round ${String(record.round).padStart(String(this.rounds).length)}/${this.rounds}  acc ${pct(record.evaluation.accuracy)}  loss ${record.evaluation.loss.toFixed(4)}  ` +
      `${record.participants.length - failed}/${record.sampled.length} updates  ${(record.timings.totalMs / 1000).toFixed(1)} s${failed ? `  (${failed} failed)` : ''}${note}`;
    if (this.live) this.out.write('\r\x1b[2K');
    this.out.write(`${line}\n`);
  }

  private draw(): void {
    if (!this.live) return;
    const width = 24;
    const frac = this.rounds ? (this.round - 1 + (this.sampled ? this.done / this.sampled : 0)) / this.rounds : 0;
    const filled = Math.round(frac * width);
    const elapsed = (performance.now() - this.started) / 1000;
    this.out.write(`\r\x1b[2K[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] round ${this.round}/${this.rounds}  participants ${this.done}/${this.sampled}  ${elapsed.toFixed(0)} s`);
  }
}

/** A plain-text table: header row, rows, columns right-aligned except the first. */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}
