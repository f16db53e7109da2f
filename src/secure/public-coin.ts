/**
 * Public, verifiable randomness for choices every party must make identically (the neighbour
 * graph, bucket assignment). It is derived from the session id and the sorted participant list,
 * so any participant can recompute it and check the coordinator's choices; it is not secret.
 *
 * Stream: HKDF-SHA256 → AES-256-CTR keystream of zeros (node:crypto); integers in [0, n) by
 * rejection sampling so there is no modulo bias.
 */
import { createCipheriv, type Cipher } from 'node:crypto';
import { fail } from '../core/errors.js';
import { hkdf32, label, sha256, u32 } from './keys.js';

const CHUNK = 4096;

export class PublicCoin {
  private readonly cipher: Cipher;
  private buffer = new Uint8Array(0);
  private offset = 0;

  private constructor(key: Uint8Array) {
    this.cipher = createCipheriv('aes-256-ctr', key, new Uint8Array(16));
  }

  /**
   * The coin for `purpose`, bound to the session id, round and the participants (sorted ids with
   * their identity keys), so a coordinator cannot reuse one session's graph for another roster.
   */
  static forSession(
    sessionId: Uint8Array,
    round: number,
    participants: readonly { id: string; identityPublicKey: Uint8Array }[],
    purpose: string,
  ): PublicCoin {
    const encoder = new TextEncoder();
    const roster: Uint8Array[] = [];
    for (const p of participants) {
      const id = encoder.encode(p.id);
      roster.push(u32(id.length), id, p.identityPublicKey);
    }
    const salt = sha256(label('roster'), u32(round), ...roster);
    return new PublicCoin(hkdf32(sessionId, salt, label(`coin/${purpose}`)));
  }

  uint32(): number {
    if (this.offset + 4 > this.buffer.length) {
      this.buffer = new Uint8Array(this.cipher.update(new Uint8Array(CHUNK)));
      this.offset = 0;
    }
    const b = this.buffer;
    const o = this.offset;
    this.offset += 4;
    return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
  }

  /** Uniform integer in [0, n), n ≤ 2^32. */
  int(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > 0x100000000) fail('internal', `PublicCoin.int needs 1 ≤ n ≤ 2^32, got ${n}`);
    const limit = Math.floor(0x100000000 / n) * n;
    for (;;) {
      const r = this.uint32();
      if (r < limit) return r % n;
    }
  }

  /** Fisher–Yates, in place. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = items[i]!;
      items[i] = items[j]!;
      items[j] = tmp;
    }
    return items;
  }
}
