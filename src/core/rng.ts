/**
 * Seeded, reproducible randomness for *simulation only* (partitioning, shuffling, sampling,
 * attacker choices). Never use it for keys, masks or DP noise: those come from node:crypto.
 *
 * Generator: sfc32 (small fast counter, passes PractRand/BigCrush); child streams are derived by
 * hashing (seed, label) with SHA-256 so streams for different purposes never overlap by accident.
 */
import { createHash } from 'node:crypto';

export class SeededRng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  private spareNormal: number | undefined;

  private constructor(state: Uint32Array) {
    this.a = state[0]!;
    this.b = state[1]!;
    this.c = state[2]!;
    this.d = state[3]! | 1;
    for (let i = 0; i < 12; i++) this.nextUint32();
  }

  /** A generator determined by a seed and an optional path of labels (e.g. ['partition']). */
  static from(seed: number | string, ...labels: (string | number)[]): SeededRng {
    const h = createHash('sha256').update(`fedsec-rng:${seed}`);
    for (const label of labels) h.update(`/${label}`);
    const digest = h.digest();
    return new SeededRng(new Uint32Array(digest.buffer, digest.byteOffset, 4).slice());
  }

  /** A child stream: reproducible, independent of how much the parent has been used. */
  fork(...labels: (string | number)[]): SeededRng {
    return SeededRng.from(`${this.a}:${this.b}:${this.c}:${this.d}`, ...labels);
  }

  nextUint32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1) with 53 bits. */
  next(): number {
    const hi = this.nextUint32() >>> 5;
    const lo = this.nextUint32() >>> 6;
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Standard normal (Marsaglia polar). */
  normal(): number {
    if (this.spareNormal !== undefined) {
      const s = this.spareNormal;
      this.spareNormal = undefined;
      return s;
    }
    for (;;) {
      const u = 2 * this.next() - 1;
      const v = 2 * this.next() - 1;
      const s = u * u + v * v;
      if (s > 0 && s < 1) {
        const m = Math.sqrt((-2 * Math.log(s)) / s);
        this.spareNormal = v * m;
        return u * m;
      }
    }
  }

  /** Gamma(shape, 1) by Marsaglia–Tsang (with the shape < 1 boost). */
  gamma(shape: number): number {
    if (shape < 1) return this.gamma(shape + 1) * Math.pow(this.next() || Number.MIN_VALUE, 1 / shape);
    const d = shape - 1 / 3;
    const c = 1 / Math.sqrt(9 * d);
    for (;;) {
      let x: number;
      let v: number;
      do {
        x = this.normal();
        v = 1 + c * x;
      } while (v <= 0);
      v = v * v * v;
      const u = this.next();
      if (u < 1 - 0.0331 * x * x * x * x) return d * v;
      if (Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
    }
  }

  /** A sample from the symmetric Dirichlet(alpha) over k categories. */
  dirichlet(alpha: number, k: number): number[] {
    const g = Array.from({ length: k }, () => this.gamma(alpha));
    const total = g.reduce((s, x) => s + x, 0);
    return total > 0 ? g.map((x) => x / total) : g.map(() => 1 / k);
  }

  /** Fisher–Yates, in place; returns the same array. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = items[i]!;
      items[i] = items[j]!;
      items[j] = tmp;
    }
    return items;
  }

  /** k distinct indices from [0, n), in random order. */
  sampleIndices(n: number, k: number): number[] {
    return this.shuffle(Array.from({ length: n }, (_, i) => i)).slice(0, k);
  }
}
