/**
 * Fixtures for the secure-aggregation collector tests: participants with fixed updates that speak
 * the secagg-* kinds through the real participant driver (and can misbehave), a transport that
 * records every reply, and a scan of recorded traffic for plaintext updates.
 */
import type { ParticipantHandler, ProtocolCall, ProtocolMap, RequestKind, TrainReply } from '../../src/federation/protocol.js';
import { SecAggParticipantDriver, type SecAggParticipantPolicy } from '../../src/secure/participant-driver.js';
import type { ParticipantTransport, RequestOptions } from '../../src/transport/types.js';

export interface StubBehaviour {
  /** Throw on the n-th secagg-step request of a session (1 key-relay … 4 unmask-request). */
  readonly failAtStep?: number;
  /** …only when the session's roster satisfies this. */
  readonly failIf?: (roster: readonly string[]) => boolean;
  /** Report this sample count to the coordinator while training on `samples`. */
  readonly reportSamples?: number;
  /** Mask this weight whatever the coordinator assigned. */
  readonly maskWeight?: number;
}

export const POLICY: SecAggParticipantPolicy = { modulusBits: 32, clip: 1, minSurvivors: 3 };

/** A participant whose "training" returns a fixed update. */
export class StubParticipant implements ParticipantHandler {
  readonly driver: SecAggParticipantDriver;
  private roster: readonly string[] = [];
  private steps = 0;

  constructor(
    readonly id: string,
    private readonly delta: Float32Array,
    private readonly samples: number,
    policy: SecAggParticipantPolicy = POLICY,
    private readonly behaviour: StubBehaviour = {},
  ) {
    this.driver = new SecAggParticipantDriver(id, policy, async (req) => this.trainReply(req.round));
  }

  private trainReply(round: number): TrainReply {
    return { participantId: this.id, round, delta: Float32Array.from(this.delta), numSamples: this.samples, metrics: { loss: 0.5, trainMs: 1 } };
  }

  async handle<K extends RequestKind>(kind: K, request: ProtocolMap[K]['request']): Promise<ProtocolMap[K]['reply']> {
    let call = { kind, request } as ProtocolCall;
    const b = this.behaviour;
    if (call.kind === 'train') return this.trainReply(call.request.round) as ProtocolMap[K]['reply'];
    if (call.kind === 'secagg-setup') {
      this.roster = call.request.participants.map((p) => p.id);
      this.steps = 0;
      if (b.maskWeight !== undefined) call = { kind: 'secagg-setup', request: { ...call.request, weight: b.maskWeight } };
    }
    if (call.kind === 'secagg-step') {
      this.steps++;
      if (this.steps === b.failAtStep && (b.failIf?.(this.roster) ?? true)) throw new Error('connection reset by peer');
    }
    const reply = await this.driver.handle(call);
    if (call.kind === 'secagg-train' && b.reportSamples !== undefined) return { ...reply, numSamples: b.reportSamples } as ProtocolMap[K]['reply'];
    return reply as ProtocolMap[K]['reply'];
  }
}

/** Passes requests through and keeps every reply (what the coordinator received). */
export class RecordingTransport implements ParticipantTransport {
  readonly kinds: string[] = [];
  readonly replies: unknown[] = [];

  constructor(private readonly inner: ParticipantTransport) {}

  participants(): readonly string[] {
    return this.inner.participants();
  }

  async request<K extends RequestKind>(id: string, kind: K, request: ProtocolMap[K]['request'], options?: RequestOptions): Promise<ProtocolMap[K]['reply']> {
    this.kinds.push(kind);
    const reply = await this.inner.request(id, kind, request, options);
    this.replies.push(reply);
    return reply;
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/** Every typed array inside a reply (depth-first). */
function typedArrays(value: unknown, out: ArrayBufferView[] = []): ArrayBufferView[] {
  if (ArrayBuffer.isView(value)) out.push(value);
  else if (Array.isArray(value)) for (const v of value) typedArrays(v, out);
  else if (value !== null && typeof value === 'object') for (const v of Object.values(value)) typedArrays(v, out);
  return out;
}

export interface LeakScan {
  /** Float arrays anywhere in the replies. */
  readonly floatArrays: number;
  /** Updates of which an 8-byte window (two consecutive float32 values) occurs in reply bytes. */
  readonly leakedUpdates: number;
  readonly bytesScanned: number;
}

/**
 * Look for each update in everything the coordinator received: its float32 bytes, in 8-byte
 * windows (two consecutive non-zero coordinates) at every position.
 */
export function scanForUpdates(replies: readonly unknown[], updates: readonly Float32Array[]): LeakScan {
  const arrays = replies.flatMap((r) => typedArrays(r));
  const floatArrays = arrays.filter((a) => a instanceof Float32Array || a instanceof Float64Array).length;
  const haystack = Buffer.concat(arrays.map((a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength)));
  // Index every window of every update, then slide over the received bytes at every offset.
  const windows = new Map<bigint, number>();
  updates.forEach((u, k) => {
    const bytes = Buffer.from(u.buffer, u.byteOffset, u.byteLength);
    for (let i = 0; i + 1 < u.length; i++) if (u[i] !== 0 && u[i + 1] !== 0) windows.set(bytes.readBigUInt64LE(4 * i), k);
  });
  const leaked = new Set<number>();
  for (let o = 0; o + 8 <= haystack.length; o++) {
    const k = windows.get(haystack.readBigUInt64LE(o));
    if (k !== undefined) leaked.add(k);
  }
  const leakedUpdates = leaked.size;
  return { floatArrays, leakedUpdates, bytesScanned: haystack.length };
}
