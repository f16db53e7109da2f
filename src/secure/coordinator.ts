/**
 * The coordinator (server) side of SecAgg/SecAgg+ as an explicit state machine. Per stage it
 * accepts participant messages (`receive`, which throws a FedsecError for each rejected message and
 * leaves its state untouched), then `closeStage()` fixes the set of senders and returns the relay
 * messages for the next stage, the final sum, or a typed abort.
 *
 *   advertise-keys (U1) → share-keys (U2) → masked-input (U3) → consistency-check (U4)
 *   → unmasking (U5) → done | aborted
 *
 * Liveness rule (checked at every close, so a doomed round stops early): every survivor keeps ≥ t
 * neighbours that can still reveal its self-mask share, and every participant that dropped after
 * sharing but was masked against by a survivor keeps ≥ t neighbours that can reveal its mask key.
 * Otherwise the round aborts with a reason and no partial aggregate leaves this object.
 *
 * Masked inputs are summed on arrival (memory O(d), not O(n·d)).
 */
import type { KeyObject } from 'node:crypto';
import { fail, FedsecError } from '../core/errors.js';
import { survivorListBytes, verifyMessage } from './codec.js';
import type { SecAggSession } from './config.js';
import { agree, bytesEqual, generateX25519, rawPublicKey, verifyBytes, x25519PrivateKey, x25519PublicKey } from './keys.js';
import { addInto, expandMask, pairwiseMaskKey, reduceModulus, selfMaskKey, subtractFrom } from './mask-prg.js';
import type {
  AdvertiseKeysMessage,
  ConsistencySignatureMessage,
  CoordinatorMessage,
  EncryptedShares,
  MaskedInputMessage,
  ParticipantMessage,
  RevealedShare,
  SecAggStage,
  ShareKeysMessage,
  UnmaskSharesMessage,
} from './messages.js';
import { STAGE_MESSAGE } from './messages.js';
import { combineShares, selfSeedCommitment, shareDigest } from './shares.js';

export type SecAggAbortCode =
  | 'too-few-participants'
  | 'too-few-neighbours'
  | 'reconstruction-mismatch'
  | 'aborted-by-caller';

export interface SecAggAbort {
  readonly code: SecAggAbortCode;
  /** The stage whose close detected the problem. */
  readonly stage: SecAggStage;
  readonly participant?: string;
  readonly message: string;
}

export interface SecAggResult {
  /** Σ over survivors of their quantised inputs, mod 2^m; length d + 1 (last word: Σ weights). */
  readonly sum: Uint32Array;
  /** U3: the participants whose inputs are in the sum. */
  readonly survivors: readonly string[];
  /** U2 \ U3: shared keys but their masked input never arrived (their pairwise masks were removed). */
  readonly droppedAfterSharing: readonly string[];
  readonly modulusBits: number;
}

export type CoordinatorStep =
  | { readonly type: 'relay'; readonly next: SecAggStage; readonly messages: readonly CoordinatorMessage[] }
  | { readonly type: 'done'; readonly result: SecAggResult }
  | { readonly type: 'aborted'; readonly abort: SecAggAbort };

export type CoordinatorStage = SecAggStage | 'done' | 'aborted';

interface Advertised {
  readonly message: AdvertiseKeysMessage;
  readonly maskKey: KeyObject;
}

export class SecAggCoordinator {
  private current: CoordinatorStage = 'advertise-keys';
  /** Senders admitted to the current stage (the previous stage's set; everyone at the start). */
  private expected: ReadonlySet<number>;
  private readonly inbox = new Map<number, ParticipantMessage>();
  private readonly advertised = new Map<number, Advertised>(); // U1
  private readonly shared = new Map<number, ShareKeysMessage>(); // U2
  private u3: number[] = [];
  private u3set: ReadonlySet<number> = new Set();
  private accumulator: Uint32Array | undefined;
  /** Ephemeral key used only to test advertised keys for low order. */
  private readonly probe = generateX25519();

  constructor(private readonly session: SecAggSession) {
    this.expected = new Set(session.ids.keys());
  }

  get stage(): CoordinatorStage {
    return this.current;
  }

  /** Who may still send in the current stage. */
  expectedSenders(): readonly string[] {
    return [...this.expected].filter((u) => !this.inbox.has(u)).map((u) => this.session.ids[u]!);
  }

  receivedCount(): number {
    return this.inbox.size;
  }

  /** Validate and accept one participant message; throws FedsecError('protocol' | 'auth') to reject it. */
  receive(msg: ParticipantMessage): void {
    const { session } = this;
    const stage = this.current;
    if (stage === 'done' || stage === 'aborted') fail('protocol', `the round is ${stage}; ${msg.kind} from participant #${msg.sender} is too late`);
    const want = STAGE_MESSAGE[stage];
    if (msg.kind !== want) fail('protocol', `expected ${want} messages in stage ${stage}, got ${msg.kind}`);
    if (!bytesEqual(msg.sessionId, session.sessionId)) fail('protocol', `${msg.kind} from participant #${msg.sender} is for another session (wrong session id; replay?)`);
    if (msg.round !== session.round) fail('protocol', `${msg.kind} from participant #${msg.sender} is for round ${msg.round}, not ${session.round} (replay?)`);
    const u = msg.sender;
    if (!Number.isInteger(u) || u < 0 || u >= session.n) fail('protocol', `${msg.kind} from unknown participant index ${u}`);
    const name = `"${session.ids[u]}"`;
    if (!this.expected.has(u)) fail('protocol', `${name} is not part of stage ${stage} (it dropped or was not admitted earlier)`);
    if (this.inbox.has(u)) fail('protocol', `duplicate ${msg.kind} from ${name}`);
    if (!verifyMessage(msg, session.identityKeys[u]!)) fail('auth', `${msg.kind} claiming to be from ${name} has an invalid signature`);
    switch (msg.kind) {
      case 'advertise-keys':
        this.checkAdvertise(msg, name);
        break;
      case 'share-keys':
        this.checkShareKeys(msg, name);
        break;
      case 'masked-input':
        this.acceptMasked(msg, name);
        break;
      case 'consistency-signature':
        this.checkConsistency(msg, name);
        break;
      case 'unmask-shares':
        this.checkUnmask(msg, name);
        break;
    }
    this.inbox.set(u, msg);
  }

  /** Stop the round on the caller's initiative (e.g. a deadline policy); nothing is released. */
  abort(message: string): SecAggAbort {
    const stage = this.current;
    if (stage === 'done' || stage === 'aborted') fail('protocol', `the round is already ${stage}`);
    return this.fail({ code: 'aborted-by-caller', stage, message }).abort;
  }

  /** Fix this stage's senders and move on. */
  async closeStage(): Promise<CoordinatorStep> {
    const stage = this.current;
    if (stage === 'done' || stage === 'aborted') fail('protocol', `the round is already ${stage}`);
    const senders = new Set(this.inbox.keys());
    switch (stage) {
      case 'advertise-keys':
        return this.closeAdvertise(senders);
      case 'share-keys':
        return this.closeShareKeys(senders);
      case 'masked-input':
        return this.closeMasked(senders);
      case 'consistency-check':
        return this.closeConsistency(senders);
      case 'unmasking':
        return this.closeUnmasking(senders);
    }
  }

  // ── validation ────────────────────────────────────────────────────────────────────────────────

  private checkAdvertise(msg: AdvertiseKeysMessage, name: string): void {
    for (const [what, raw] of [
      ['encryption', msg.encryptionPublicKey],
      ['mask', msg.maskPublicKey],
    ] as const) {
      let key: KeyObject;
      try {
        key = x25519PublicKey(raw);
      } catch {
        return fail('auth', `${name} advertised a malformed X25519 ${what} key`);
      }
      agree(this.probe.privateKey, key, `${name}'s advertised ${what} key`);
    }
  }

  private checkShareKeys(msg: ShareKeysMessage, name: string): void {
    const u = msg.sender;
    const expected = this.session.neighbours[u]!.filter((v) => this.advertised.has(v));
    const seen = new Set<number>();
    for (const e of msg.shares) {
      if (!expected.includes(e.peer)) fail('protocol', `${name} sealed shares for participant #${e.peer}, who is not one of its live neighbours`);
      if (seen.has(e.peer)) fail('protocol', `${name} sealed two sets of shares for participant #${e.peer}`);
      seen.add(e.peer);
    }
    if (seen.size !== expected.length) {
      fail('protocol', `${name} sealed shares for ${seen.size} neighbours, but ${expected.length} live neighbours were relayed to it`);
    }
  }

  private acceptMasked(msg: MaskedInputMessage, name: string): void {
    const { session } = this;
    if (msg.modulusBits !== session.modulusBits) fail('protocol', `${name} masked with ${msg.modulusBits} modulus bits, the session uses ${session.modulusBits}`);
    if (msg.masked.length !== session.fieldLength) {
      fail('protocol', `${name} sent a masked vector of length ${msg.masked.length}, expected d + 1 = ${session.fieldLength}`);
    }
    this.accumulator ??= new Uint32Array(session.fieldLength);
    addInto(this.accumulator, msg.masked);
  }

  private checkConsistency(msg: ConsistencySignatureMessage, name: string): void {
    const transcript = survivorListBytes(this.session.sessionId, this.session.round, this.u3);
    if (!verifyBytes(this.session.identityKeys[msg.sender]!, transcript, msg.survivorsSignature)) {
      fail('auth', `${name} signed a different survivor set than the coordinator's (inconsistent survivor sets, or a forged signature)`);
    }
  }

  private checkUnmask(msg: UnmaskSharesMessage, name: string): void {
    const { session } = this;
    const u = msg.sender;
    const both = new Set(msg.selfSeedShares.map((s) => s.dealer));
    for (const s of msg.maskKeyShares) {
      if (both.has(s.dealer)) fail('protocol', `${name} revealed both the self-mask share and the mask-key share of participant #${s.dealer}: refusing (that would unmask it)`);
    }
    const neighbours = session.neighbours[u]!.filter((v) => this.shared.has(v));
    const wantSelf = neighbours.filter((v) => this.u3set.has(v));
    const wantMask = neighbours.filter((v) => !this.u3set.has(v));
    this.checkRevealed(msg.selfSeedShares, wantSelf, 'self-seed', u, name);
    this.checkRevealed(msg.maskKeyShares, wantMask, 'mask-key', u, name);
  }

  private checkRevealed(list: readonly RevealedShare[], want: readonly number[], kind: 'self-seed' | 'mask-key', u: number, name: string): void {
    const { session } = this;
    const what = kind === 'self-seed' ? 'self-mask seed shares' : 'mask-key shares';
    const seen = new Set<number>();
    for (const { dealer, share } of list) {
      if (!want.includes(dealer)) fail('protocol', `${name} revealed ${what} of participant #${dealer}, which it must not (wrong survivor status or not a neighbour)`);
      if (seen.has(dealer)) fail('protocol', `${name} revealed ${what} of participant #${dealer} twice`);
      seen.add(dealer);
      const sealed = this.shared.get(dealer)!.shares.find((e) => e.peer === u)!;
      const committed = kind === 'self-seed' ? sealed.selfSeedShareDigest : sealed.maskKeyShareDigest;
      if (!bytesEqual(shareDigest(kind, session.sessionId, session.round, dealer, u, share), committed)) {
        fail('auth', `${name} revealed a share of "${session.ids[dealer]}" that does not match the digest the dealer committed to`);
      }
    }
    if (seen.size !== want.length) fail('protocol', `${name} revealed ${what} for ${seen.size} neighbours, expected ${want.length}`);
  }

  // ── stage transitions ─────────────────────────────────────────────────────────────────────────

  private closeAdvertise(u1: Set<number>): CoordinatorStep {
    for (const [u, msg] of this.inbox) {
      const m = msg as AdvertiseKeysMessage;
      this.advertised.set(u, { message: m, maskKey: x25519PublicKey(m.maskPublicKey) });
    }
    const abort = this.checkFlatLiveness('advertise-keys', u1);
    if (abort) return abort;
    const { session } = this;
    const messages: CoordinatorMessage[] = [...u1].sort((a, b) => a - b).map((u) => ({
      kind: 'key-relay',
      sessionId: session.sessionId,
      round: session.round,
      recipient: u,
      neighbours: session.neighbours[u]!.filter((v) => u1.has(v)).map((v) => {
        const m = this.advertised.get(v)!.message;
        return { participant: v, encryptionPublicKey: m.encryptionPublicKey, maskPublicKey: m.maskPublicKey, signature: m.signature };
      }),
    }));
    return this.advance('share-keys', u1, messages);
  }

  private closeShareKeys(u2: Set<number>): CoordinatorStep {
    for (const [u, msg] of this.inbox) this.shared.set(u, msg as ShareKeysMessage);
    const abort = this.checkFlatLiveness('share-keys', u2);
    if (abort) return abort;
    const { session } = this;
    const messages: CoordinatorMessage[] = [...u2].sort((a, b) => a - b).map((u) => ({
      kind: 'share-relay',
      sessionId: session.sessionId,
      round: session.round,
      recipient: u,
      shares: session.neighbours[u]!.filter((v) => u2.has(v)).map((v): EncryptedShares => {
        const e = this.shared.get(v)!.shares.find((s) => s.peer === u)!;
        return { ...e, peer: v };
      }),
    }));
    return this.advance('masked-input', u2, messages);
  }

  private closeMasked(u3: Set<number>): CoordinatorStep {
    this.u3 = [...u3].sort((a, b) => a - b);
    this.u3set = u3;
    const abort = this.checkRevealLiveness('masked-input', u3);
    if (abort) return abort;
    const { session } = this;
    const messages: CoordinatorMessage[] = this.u3.map((u) => ({
      kind: 'consistency-request',
      sessionId: session.sessionId,
      round: session.round,
      recipient: u,
      survivors: this.u3,
    }));
    return this.advance('consistency-check', u3, messages);
  }

  private closeConsistency(u4: Set<number>): CoordinatorStep {
    const abort = this.checkRevealLiveness('consistency-check', u4);
    if (abort) return abort;
    const { session } = this;
    const sigs = new Map([...this.inbox].map(([u, m]) => [u, (m as ConsistencySignatureMessage).survivorsSignature]));
    const messages: CoordinatorMessage[] = [...u4].sort((a, b) => a - b).map((u) => ({
      kind: 'unmask-request',
      sessionId: session.sessionId,
      round: session.round,
      recipient: u,
      signatures: session.neighbours[u]!.filter((v) => u4.has(v)).map((v) => ({ participant: v, signature: sigs.get(v)! })),
    }));
    return this.advance('unmasking', u4, messages);
  }

  private async closeUnmasking(u5: Set<number>): Promise<CoordinatorStep> {
    const abort = this.checkRevealLiveness('unmasking', u5);
    if (abort) return abort;
    const { session } = this;
    const t = session.threshold;
    const selfShares = new Map<number, Uint8Array[]>();
    const maskShares = new Map<number, Uint8Array[]>();
    for (const msg of this.inbox.values()) {
      const m = msg as UnmaskSharesMessage;
      for (const s of m.selfSeedShares) push(selfShares, s.dealer, s.share);
      for (const s of m.maskKeyShares) push(maskShares, s.dealer, s.share);
    }
    const sum = this.accumulator ?? new Uint32Array(session.fieldLength);
    const L = session.fieldLength;
    // Self masks of survivors.
    for (const v of this.u3) {
      const name = session.ids[v]!;
      let seed: Uint8Array;
      try {
        seed = await combineShares((selfShares.get(v) ?? []).slice(0, t), `the self-mask seed of "${name}"`);
      } catch (err) {
        return this.fail({ code: 'reconstruction-mismatch', stage: 'unmasking', participant: name, message: reason(err) });
      }
      if (!bytesEqual(selfSeedCommitment(session.sessionId, session.round, v, seed), this.shared.get(v)!.selfSeedCommitment)) {
        return this.fail({
          code: 'reconstruction-mismatch',
          stage: 'unmasking',
          participant: name,
          message: `the self-mask seed reconstructed for "${name}" does not match its commitment: its shares are inconsistent (malicious dealer)`,
        });
      }
      subtractFrom(sum, expandMask(selfMaskKey(seed, session.sessionId, session.round), L));
      seed.fill(0);
    }
    // Pairwise masks that survivors added towards participants who dropped after sharing.
    for (const v of this.droppedAfterSharing()) {
      const maskedBy = session.neighbours[v]!.filter((u) => this.u3set.has(u));
      if (maskedBy.length === 0) continue;
      const name = session.ids[v]!;
      let secret: Uint8Array;
      try {
        secret = await combineShares((maskShares.get(v) ?? []).slice(0, t), `the mask key of "${name}"`);
      } catch (err) {
        return this.fail({ code: 'reconstruction-mismatch', stage: 'unmasking', participant: name, message: reason(err) });
      }
      let privateKey: KeyObject;
      try {
        privateKey = x25519PrivateKey(secret);
      } catch {
        return this.fail({ code: 'reconstruction-mismatch', stage: 'unmasking', participant: name, message: `the mask key reconstructed for "${name}" is not a valid X25519 key` });
      }
      secret.fill(0);
      if (!bytesEqual(rawPublicKey(privateKey), this.advertised.get(v)!.message.maskPublicKey)) {
        return this.fail({
          code: 'reconstruction-mismatch',
          stage: 'unmasking',
          participant: name,
          message: `the mask key reconstructed for "${name}" does not match the public key it advertised: its shares are inconsistent (malicious dealer)`,
        });
      }
      for (const u of maskedBy) {
        const shared = agree(privateKey, this.advertised.get(u)!.maskKey, `the pairwise mask of "${session.ids[u]}" and "${name}"`);
        const stream = expandMask(pairwiseMaskKey(shared, session.sessionId, session.round, u, v), L);
        // u added +PRG when u < v and −PRG otherwise; undo exactly that.
        if (u < v) subtractFrom(sum, stream);
        else addInto(sum, stream);
      }
    }
    reduceModulus(sum, session.modulusBits);
    this.accumulator = undefined;
    this.current = 'done';
    this.inbox.clear();
    return {
      type: 'done',
      result: {
        sum,
        survivors: this.u3.map((u) => session.ids[u]!),
        droppedAfterSharing: this.droppedAfterSharing().map((v) => session.ids[v]!),
        modulusBits: session.modulusBits,
      },
    };
  }

  private droppedAfterSharing(): number[] {
    return [...this.shared.keys()].filter((v) => !this.u3set.has(v)).sort((a, b) => a - b);
  }

  /** Before masking: every participant still in needs ≥ t live neighbours. */
  private checkFlatLiveness(stage: SecAggStage, live: ReadonlySet<number>): CoordinatorStep | undefined {
    const { session } = this;
    if (live.size < session.minSurvivors) {
      return this.fail({ code: 'too-few-participants', stage, message: `only ${live.size} participants completed ${stage}, fewer than minSurvivors=${session.minSurvivors}` });
    }
    for (const u of live) {
      const alive = session.neighbours[u]!.filter((v) => live.has(v)).length;
      if (alive < session.threshold) {
        return this.fail({
          code: 'too-few-neighbours',
          stage,
          participant: session.ids[u]!,
          message: `"${session.ids[u]}" has ${alive} live neighbours after ${stage}, fewer than the threshold t=${session.threshold}`,
        });
      }
    }
    return undefined;
  }

  /** From masking on: secrets must stay reconstructible from the participants still able to reveal. */
  private checkRevealLiveness(stage: SecAggStage, revealers: ReadonlySet<number>): CoordinatorStep | undefined {
    const { session } = this;
    if (this.u3set.size < session.minSurvivors) {
      return this.fail({
        code: 'too-few-participants',
        stage,
        message: `only ${this.u3set.size} masked inputs arrived, fewer than minSurvivors=${session.minSurvivors}`,
      });
    }
    const t = session.threshold;
    for (const v of this.u3) {
      const alive = session.neighbours[v]!.filter((u) => revealers.has(u)).length;
      if (alive < t) {
        return this.fail({
          code: 'too-few-neighbours',
          stage,
          participant: session.ids[v]!,
          message: `survivor "${session.ids[v]}" has ${alive} neighbours left to reveal its self-mask shares after ${stage}, fewer than t=${t}`,
        });
      }
    }
    for (const v of this.droppedAfterSharing()) {
      const nbrs = session.neighbours[v]!;
      if (!nbrs.some((u) => this.u3set.has(u))) continue;
      const alive = nbrs.filter((u) => revealers.has(u)).length;
      if (alive < t) {
        return this.fail({
          code: 'too-few-neighbours',
          stage,
          participant: session.ids[v]!,
          message: `"${session.ids[v]}" dropped after sharing keys and only ${alive} neighbours are left to reveal its mask key after ${stage}, fewer than t=${t}`,
        });
      }
    }
    return undefined;
  }

  private advance(next: SecAggStage, admitted: Set<number>, messages: CoordinatorMessage[]): CoordinatorStep {
    this.current = next;
    this.expected = admitted;
    this.inbox.clear();
    return { type: 'relay', next, messages };
  }

  private fail(abort: SecAggAbort): CoordinatorStep & { type: 'aborted' } {
    this.current = 'aborted';
    this.accumulator?.fill(0);
    this.accumulator = undefined;
    this.inbox.clear();
    return { type: 'aborted', abort: { ...abort, message: `secure aggregation aborted at ${abort.stage}: ${abort.message}; no aggregate was released` } };
  }
}

function push(map: Map<number, Uint8Array[]>, key: number, value: Uint8Array): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

function reason(err: unknown): string {
  return err instanceof FedsecError ? err.message : String(err);
}
