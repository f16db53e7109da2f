/**
 * Tensors travel as a declared payload (size + SHA-256, signed in the header message) followed by
 * chunks of at most `chunkBytes`. The receiver allocates exactly the declared size up front (after
 * checking it against its limit), accepts chunks only in order and only up to that size, and
 * checks the hash at the end: a sender can neither overrun nor swap what it declared.
 */
import { createHash } from 'node:crypto';
import { SessionRejected } from './reject-reasons.js';

export function sha256(bytes: Uint8Array): Buffer {
  return createHash('sha256').update(bytes).digest();
}

/** Views (no copies) of consecutive `chunkBytes`-sized pieces; an empty payload has no chunks. */
export function splitPayload(payload: Uint8Array, chunkBytes: number): Buffer[] {
  if (!Number.isInteger(chunkBytes) || chunkBytes < 1) throw new RangeError(`chunkBytes must be a positive integer, got ${chunkBytes}`);
  const buf = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  const out: Buffer[] = [];
  for (let off = 0; off < buf.length; off += chunkBytes) out.push(buf.subarray(off, Math.min(buf.length, off + chunkBytes)));
  return out;
}

export class PayloadAssembler {
  private readonly buffer: Buffer;
  private received = 0;
  private nextIndex = 0;

  constructor(
    readonly expectedBytes: number,
    private readonly expectedSha256: Buffer,
    private readonly chunkBytes: number,
    private readonly what: string,
  ) {
    this.buffer = Buffer.alloc(expectedBytes);
  }

  get complete(): boolean {
    return this.received === this.expectedBytes;
  }

  /** Adds the next chunk; returns the payload once all bytes arrived and the hash matches. */
  add(index: number, data: Buffer): Buffer | undefined {
    if (this.complete) throw new SessionRejected('chunk-order', `${this.what}: chunk ${index} arrived after all ${this.expectedBytes} declared bytes`);
    if (index !== this.nextIndex) throw new SessionRejected('chunk-order', `${this.what}: expected chunk ${this.nextIndex}, got chunk ${index}`);
    if (data.length === 0 || data.length > this.chunkBytes) {
      throw new SessionRejected('chunk-order', `${this.what}: chunk ${index} has ${data.length} bytes; chunks carry 1..${this.chunkBytes} bytes`);
    }
    if (this.received + data.length > this.expectedBytes) {
      throw new SessionRejected('oversized', `${this.what}: chunk ${index} overruns the declared ${this.expectedBytes} bytes`);
    }
    data.copy(this.buffer, this.received);
    this.received += data.length;
    this.nextIndex++;
    if (!this.complete) return undefined;
    if (!sha256(this.buffer).equals(this.expectedSha256)) {
      throw new SessionRejected('hash-mismatch', `${this.what}: the ${this.expectedBytes} bytes received do not hash to the signed payload_sha256`);
    }
    return this.buffer;
  }
}
