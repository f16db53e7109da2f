/**
 * The participant side of SecAgg/SecAgg+ as an explicit state machine:
 *
 *   created ─advertiseKeys→ advertised ─shareKeys(key-relay)→ shared ─receiveShares(share-relay)→
 *   ready-to-mask ─maskInput(x)→ masked ─signSurvivors(consistency-request)→ signed
 *   ─revealShares(unmask-request)→ done          (any content check failing → failed)
 *
 * A message for the wrong state, session, round or recipient is rejected before it is looked at and
 * leaves the state unchanged; a message that is addressed correctly but fails a check (signature,
 * AES-GCM, survivor-list consistency, …) moves the participant to `failed` for good: it stops
 * talking rather than reveal anything on inconsistent information.
 *
 * Security-relevant choices: all secrets from node:crypto; b_u and the pairwise seeds are wiped
 * once the masked input is sent; at unmasking each neighbour gets exactly one kind of share
 * revealed (b for survivors, s^SK for dropouts) and only once, after ≥ t neighbours confirmed the
 * same survivor list.
 */
import { randomBytes, type KeyObject } from 'node:crypto';
import { fail, FedsecError } from '../core/errors.js';
import { signMessage, survivorListBytes, verifyMessage } from './codec.js';
import type { SecAggSession } from './config.js';
import {
  agree,
  bytesEqual,
  generateX25519,
  rawPublicKey,
  rawX25519PrivateKey,
  signBytes,
  verifyBytes,
  x25519PublicKey,
  type X25519KeyPair,
} from './keys.js';
import { addInto, expandMask, pairwiseMaskKey, reduceModulus, selfMaskKey, subtractFrom } from './mask-prg.js';
import type {
  AdvertiseKeysMessage,
  ConsistencyRequestMessage,
  ConsistencySignatureMessage,
  CoordinatorMessage,
  EncryptedShares,
  KeyRelayMessage,
  MaskedInputMessage,
  RevealedShare,
  ShareKeysMessage,
  ShareRelayMessage,
  UnmaskRequestMessage,
  UnmaskSharesMessage,
} from './messages.js';
import { openShares, sealShares, selfSeedCommitment, shareEncryptionKey, splitSecret, type ShareBundle, type ShareKind } from './shares.js';

export type ParticipantState = 'created' | 'advertised' | 'shared' | 'ready-to-mask' | 'masked' | 'signed' | 'done' | 'failed';

interface Neighbour {
  readonly shareKey: Uint8Array;
  readonly pairwiseSeed: Uint8Array;
}

export class SecAggParticipant {
  readonly id: string;
  readonly index: number;
  private current: ParticipantState = 'created';
  private encryption: X25519KeyPair | undefined;
  private mask: X25519KeyPair | undefined;
  private selfSeed: Uint8Array | undefined;
  /** Live neighbours from the key relay, with the derived share key and pairwise mask seed. */
  private readonly neighbours = new Map<number, Neighbour>();
  /** Shares received from neighbours (dealer → bundle): the set U2 as this participant sees it. */
  private readonly held = new Map<number, ShareBundle>();
  private survivors: ReadonlySet<number> | undefined;
  private survivorList: readonly number[] = [];

  constructor(
    private readonly session: SecAggSession,
    id: string,
    private readonly identityKey: KeyObject,
  ) {
    this.id = id;
    this.index = session.indexOf(id);
    if (identityKey.type !== 'private' || identityKey.asymmetricKeyType !== 'ed25519') {
      fail('auth', `participant "${id}" needs its Ed25519 identity private key`);
    }
    if (!bytesEqual(rawPublicKey(identityKey), session.identityPublicKeys[this.index]!)) {
      fail('auth', `the identity key given to participant "${id}" does not match its public key in the session config`);
    }
  }

  get state(): ParticipantState {
    return this.current;
  }

  /** Stage 0: fresh X25519 key pairs for share encryption (c) and pairwise masks (s), signed. */
  advertiseKeys(): AdvertiseKeysMessage {
    this.expectState('created', 'advertise keys');
    this.encryption = generateX25519();
    this.mask = generateX25519();
    this.current = 'advertised';
    return signMessage<AdvertiseKeysMessage>(
      {
        kind: 'advertise-keys',
        sessionId: this.session.sessionId,
        round: this.session.round,
        sender: this.index,
        encryptionPublicKey: this.encryption.publicKey,
        maskPublicKey: this.mask.publicKey,
      },
      this.identityKey,
    );
  }

  /** Stage 1: check the neighbours' signed keys, then Shamir-share b_u and s_u^SK among them. */
  async shareKeys(relay: KeyRelayMessage): Promise<ShareKeysMessage> {
    this.expectAddressed(relay, 'key-relay', 'advertised');
    return this.guard(async () => {
      const { session } = this;
      const seen = new Set<number>();
      for (const entry of relay.neighbours) {
        const v = entry.participant;
        const name = this.nameOf(v);
        if (v === this.index || !session.isNeighbour(this.index, v)) fail('protocol', `key relay lists ${name}, who is not a neighbour of "${this.id}"`);
        if (seen.has(v)) fail('protocol', `key relay lists ${name} twice`);
        seen.add(v);
        const advertised: AdvertiseKeysMessage = {
          kind: 'advertise-keys',
          sessionId: session.sessionId,
          round: session.round,
          sender: v,
          encryptionPublicKey: entry.encryptionPublicKey,
          maskPublicKey: entry.maskPublicKey,
          signature: entry.signature,
        };
        if (!verifyMessage(advertised, session.identityKeys[v]!)) fail('auth', `the keys relayed for ${name} do not carry its valid signature`);
        const encShared = agree(this.encryption!.privateKey, x25519PublicKey(entry.encryptionPublicKey), `${name}'s encryption key`);
        const maskShared = agree(this.mask!.privateKey, x25519PublicKey(entry.maskPublicKey), `${name}'s mask key`);
        this.neighbours.set(v, {
          shareKey: shareEncryptionKey(encShared, session.sessionId, session.round, this.index, v),
          pairwiseSeed: pairwiseMaskKey(maskShared, session.sessionId, session.round, this.index, v),
        });
        encShared.fill(0);
        maskShared.fill(0);
      }
      if (this.neighbours.size < session.threshold) {
        fail('protocol', `"${this.id}" has ${this.neighbours.size} live neighbours, fewer than the threshold t=${session.threshold}`);
      }
      const selfSeed = new Uint8Array(randomBytes(32));
      this.selfSeed = selfSeed;
      const maskSecret = rawX25519PrivateKey(this.mask!.privateKey);
      const receivers = [...this.neighbours.keys()].sort((a, b) => a - b);
      const selfShares = await splitSecret(selfSeed, receivers.length, session.threshold);
      const maskShares = await splitSecret(maskSecret, receivers.length, session.threshold);
      maskSecret.fill(0);
      const shares: EncryptedShares[] = receivers.map((v, i) => {
        const sealed = sealShares(this.neighbours.get(v)!.shareKey, session.sessionId, session.round, {
          dealer: this.index,
          receiver: v,
          selfSeedShare: selfShares[i]!,
          maskKeyShare: maskShares[i]!,
        });
        selfShares[i]!.fill(0);
        maskShares[i]!.fill(0);
        return { peer: v, ...sealed };
      });
      this.current = 'shared';
      return signMessage<ShareKeysMessage>(
        {
          kind: 'share-keys',
          sessionId: session.sessionId,
          round: session.round,
          sender: this.index,
          selfSeedCommitment: selfSeedCommitment(session.sessionId, session.round, this.index, selfSeed),
          shares,
        },
        this.identityKey,
      );
    });
  }

  /** Stage 2a: decrypt and check the shares neighbours made for us; they define whom we mask with. */
  receiveShares(relay: ShareRelayMessage): void {
    this.expectAddressed(relay, 'share-relay', 'shared');
    this.guardSync(() => {
      const { session } = this;
      for (const entry of relay.shares) {
        const v = entry.peer;
        const name = this.nameOf(v);
        const nb = this.neighbours.get(v);
        if (!nb) fail('protocol', `share relay carries shares from ${name}, who is not a live neighbour of "${this.id}"`);
        if (this.held.has(v)) fail('protocol', `share relay carries shares from ${name} twice`);
        this.held.set(v, openShares(nb.shareKey, session.sessionId, session.round, v, this.index, entry, name));
      }
      if (this.held.size < session.threshold) {
        fail('protocol', `only ${this.held.size} neighbours of "${this.id}" shared keys, fewer than the threshold t=${session.threshold}`);
      }
      // Share keys were only needed to open these; the encryption key pair is done too.
      for (const nb of this.neighbours.values()) nb.shareKey.fill(0);
      this.encryption = undefined;
      this.current = 'ready-to-mask';
    });
  }

  /**
   * Stage 2b: y = x + PRG(b_u) + Σ_{v ∈ U2 ∩ N(u)} ±PRG(s_{u,v}) mod 2^m, with + when u < v.
   * `input` is the quantised update: d words followed by the weight (see quantise.ts).
   */
  maskInput(input: Uint32Array): MaskedInputMessage {
    this.expectState('ready-to-mask', 'mask its input');
    // A bad local input is the caller's mistake, not an attack: reject it without failing the session.
    const { session } = this;
    if (!(input instanceof Uint32Array) || input.length !== session.fieldLength) {
      fail('shape', `"${this.id}"'s quantised input has length ${input?.length}, expected d + 1 = ${session.fieldLength}`);
    }
    if (session.modulusBits < 32) {
      const limit = 2 ** session.modulusBits;
      for (let i = 0; i < input.length; i++) {
        if (input[i]! >= limit) fail('shape', `quantised input word ${i} is not below 2^${session.modulusBits}`);
      }
    }
    return this.guardSync(() => {
      const masked = new Uint32Array(input);
      this.applyMasks(masked);
      reduceModulus(masked, session.modulusBits);
      // The seeds are no longer needed: neighbours hold their shares. Wipe what we can.
      this.selfSeed!.fill(0);
      this.selfSeed = undefined;
      for (const nb of this.neighbours.values()) nb.pairwiseSeed.fill(0);
      this.mask = undefined;
      this.current = 'masked';
      return signMessage<MaskedInputMessage>(
        { kind: 'masked-input', sessionId: session.sessionId, round: session.round, sender: this.index, modulusBits: session.modulusBits, masked },
        this.identityKey,
      );
    });
  }

  /**
   * Adds PRG(b_u) and the pairwise masks to `vector` in place (mod 2^32). Protected only so a
   * benchmark can substitute a uniformly random vector for the expansion when simulating hundreds
   * of participants; a participant overriding it spoils only its own contribution, which it could
   * do anyway by sending any vector.
   */
  protected applyMasks(vector: Uint32Array): void {
    const { session } = this;
    addInto(vector, expandMask(selfMaskKey(this.selfSeed!, session.sessionId, session.round), vector.length));
    for (const v of this.held.keys()) {
      const stream = expandMask(this.neighbours.get(v)!.pairwiseSeed, vector.length);
      if (this.index < v) addInto(vector, stream);
      else subtractFrom(vector, stream);
    }
  }

  /** Stage 3: check and sign the survivor list U3 we were given (signed at most once). */
  signSurvivors(request: ConsistencyRequestMessage): ConsistencySignatureMessage {
    this.expectAddressed(request, 'consistency-request', 'masked');
    return this.guardSync(() => {
      const { session } = this;
      const list = request.survivors;
      for (let i = 0; i < list.length; i++) {
        const v = list[i]!;
        if (!Number.isInteger(v) || v < 0 || v >= session.n) fail('protocol', `survivor list names unknown participant index ${v}`);
        if (i > 0 && v <= list[i - 1]!) fail('protocol', 'survivor list is not sorted and duplicate-free');
      }
      const survivors = new Set(list);
      if (!survivors.has(this.index)) fail('protocol', `survivor list omits "${this.id}" although it sent its masked input`);
      if (survivors.size < session.minSurvivors) {
        fail('protocol', `survivor list has ${survivors.size} participants, fewer than minSurvivors=${session.minSurvivors}: refusing to help unmask so small a sum`);
      }
      for (const v of session.neighbours[this.index]!) {
        if (survivors.has(v) && !this.held.has(v)) fail('protocol', `survivor list names neighbour ${this.nameOf(v)}, which never shared its keys with "${this.id}"`);
      }
      this.survivors = survivors;
      this.survivorList = [...list];
      this.current = 'signed';
      return signMessage<ConsistencySignatureMessage>(
        {
          kind: 'consistency-signature',
          sessionId: session.sessionId,
          round: session.round,
          sender: this.index,
          survivorsSignature: signBytes(this.identityKey, survivorListBytes(session.sessionId, session.round, this.survivorList)),
        },
        this.identityKey,
      );
    });
  }

  /**
   * Stage 4: after ≥ t neighbours proved they signed the same survivor list, reveal for each
   * neighbour that shared with us either its b-share (survivor) or its s^SK-share (dropped).
   */
  revealShares(request: UnmaskRequestMessage): UnmaskSharesMessage {
    this.expectAddressed(request, 'unmask-request', 'signed');
    return this.guardSync(() => {
      const { session } = this;
      const survivors = this.survivors!;
      const transcript = survivorListBytes(session.sessionId, session.round, this.survivorList);
      const confirmed = new Set<number>();
      for (const { participant: v, signature } of request.signatures) {
        const name = this.nameOf(v);
        if (v === this.index || !session.isNeighbour(this.index, v)) fail('protocol', `unmask request carries a signature from ${name}, who is not a neighbour`);
        if (!survivors.has(v)) fail('protocol', `unmask request carries a signature from ${name}, who is not in the survivor list`);
        if (confirmed.has(v)) fail('protocol', `unmask request carries ${name}'s signature twice`);
        if (!verifyBytes(session.identityKeys[v]!, transcript, signature)) {
          fail('auth', `${name} did not sign the survivor list "${this.id}" was given (inconsistent survivor sets or forged signature): refusing to unmask`);
        }
        confirmed.add(v);
      }
      if (confirmed.size < session.threshold) {
        fail('protocol', `only ${confirmed.size} neighbours confirmed the survivor list, fewer than the threshold t=${session.threshold}`);
      }
      const revealed = new Map<number, ShareKind>();
      const selfSeedShares: RevealedShare[] = [];
      const maskKeyShares: RevealedShare[] = [];
      for (const [v, bundle] of [...this.held.entries()].sort((a, b) => a[0] - b[0])) {
        const kind: ShareKind = survivors.has(v) ? 'self-seed' : 'mask-key';
        // Revealing both shares of one peer would let the coordinator strip all of its masks.
        if (revealed.has(v)) fail('internal', `refusing to reveal a second share of ${this.nameOf(v)}`);
        revealed.set(v, kind);
        if (kind === 'self-seed') selfSeedShares.push({ dealer: v, share: new Uint8Array(bundle.selfSeedShare) });
        else maskKeyShares.push({ dealer: v, share: new Uint8Array(bundle.maskKeyShare) });
      }
      for (const bundle of this.held.values()) {
        bundle.selfSeedShare.fill(0);
        bundle.maskKeyShare.fill(0);
      }
      this.held.clear();
      this.current = 'done';
      return signMessage<UnmaskSharesMessage>(
        { kind: 'unmask-shares', sessionId: session.sessionId, round: session.round, sender: this.index, selfSeedShares, maskKeyShares },
        this.identityKey,
      );
    });
  }

  private nameOf(v: number): string {
    const id = this.session.ids[v];
    return id === undefined ? `unknown participant #${v}` : `"${id}"`;
  }

  private expectState(state: ParticipantState, action: string): void {
    if (this.current !== state) fail('protocol', `participant "${this.id}" cannot ${action} in state ${this.current} (expected ${state})`);
  }

  /** Envelope checks: reject without changing state, so misrouted or replayed messages cannot kill us. */
  private expectAddressed(msg: CoordinatorMessage, kind: CoordinatorMessage['kind'], state: ParticipantState): void {
    if (msg.kind !== kind) fail('protocol', `participant "${this.id}" expected a ${kind} message, got ${msg.kind}`);
    this.expectState(state, `accept ${kind}`);
    if (!bytesEqual(msg.sessionId, this.session.sessionId)) fail('protocol', `${kind} is for another session (wrong session id)`);
    if (msg.round !== this.session.round) fail('protocol', `${kind} is for round ${msg.round}, this session is round ${this.session.round}`);
    if (msg.recipient !== this.index) fail('protocol', `${kind} is addressed to participant #${msg.recipient}, not "${this.id}"`);
  }

  private guardSync<T>(body: () => T): T {
    try {
      return body();
    } catch (err) {
      this.current = 'failed';
      throw err instanceof FedsecError ? err : new FedsecError('internal', `participant "${this.id}" failed: ${String(err)}`);
    }
  }

  private async guard<T>(body: () => Promise<T>): Promise<T> {
    try {
      return await body();
    } catch (err) {
      this.current = 'failed';
      throw err instanceof FedsecError ? err : new FedsecError('internal', `participant "${this.id}" failed: ${String(err)}`);
    }
  }
}
