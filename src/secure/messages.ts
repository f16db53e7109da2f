/**
 * The messages of one secure-aggregation round (Bonawitz et al. 2017 with the SecAgg+ neighbour
 * graph of Bell et al. 2020). Participants and coordinator are pure state machines over these;
 * `codec.ts` gives their canonical bytes (what is signed and what a transport carries).
 *
 * Participant indices are positions in the session's sorted roster. Every participant→coordinator
 * message carries an Ed25519 signature by the sender's identity key over its canonical bytes;
 * coordinator→participant messages relay participant-signed or participant-authenticated material
 * and are validated against it.
 */

export const SECAGG_STAGES = ['advertise-keys', 'share-keys', 'masked-input', 'consistency-check', 'unmasking'] as const;
export type SecAggStage = (typeof SECAGG_STAGES)[number];

interface Envelope {
  readonly sessionId: Uint8Array;
  readonly round: number;
}

interface FromParticipant extends Envelope {
  readonly sender: number;
  /** Ed25519 over the message's canonical bytes without this field. */
  readonly signature: Uint8Array;
}

interface ToParticipant extends Envelope {
  readonly recipient: number;
}

/** Stage 0: the two X25519 public keys (c_u for share encryption, s_u for pairwise masks). */
export interface AdvertiseKeysMessage extends FromParticipant {
  readonly kind: 'advertise-keys';
  readonly encryptionPublicKey: Uint8Array;
  readonly maskPublicKey: Uint8Array;
}

/** Shares sealed for one neighbour; `peer` is the receiver (share-keys) or the dealer (share-relay). */
export interface EncryptedShares {
  readonly peer: number;
  readonly nonce: Uint8Array;
  readonly ciphertext: Uint8Array;
  readonly selfSeedShareDigest: Uint8Array;
  readonly maskKeyShareDigest: Uint8Array;
}

/** Stage 1: t-of-k shares of b_u and s_u^SK, each sealed to its neighbour, plus a commitment to b_u. */
export interface ShareKeysMessage extends FromParticipant {
  readonly kind: 'share-keys';
  readonly selfSeedCommitment: Uint8Array;
  readonly shares: readonly EncryptedShares[];
}

/** Stage 2: y_u = x_u + PRG(b_u) + Σ_v ±PRG(s_{u,v}) mod 2^m, length d + 1 (last word: weight). */
export interface MaskedInputMessage extends FromParticipant {
  readonly kind: 'masked-input';
  readonly modulusBits: number;
  readonly masked: Uint32Array;
}

/** Stage 3: the sender's signature over the survivor list it was given. */
export interface ConsistencySignatureMessage extends FromParticipant {
  readonly kind: 'consistency-signature';
  readonly survivorsSignature: Uint8Array;
}

export interface RevealedShare {
  readonly dealer: number;
  readonly share: Uint8Array;
}

/** Stage 4: shares of b_v for surviving neighbours and of s_v^SK for dropped ones — never both. */
export interface UnmaskSharesMessage extends FromParticipant {
  readonly kind: 'unmask-shares';
  readonly selfSeedShares: readonly RevealedShare[];
  readonly maskKeyShares: readonly RevealedShare[];
}

export type ParticipantMessage =
  | AdvertiseKeysMessage
  | ShareKeysMessage
  | MaskedInputMessage
  | ConsistencySignatureMessage
  | UnmaskSharesMessage;

export interface AdvertisedKeys {
  readonly participant: number;
  readonly encryptionPublicKey: Uint8Array;
  readonly maskPublicKey: Uint8Array;
  /** The neighbour's own signature on its advertise-keys message. */
  readonly signature: Uint8Array;
}

/** To each live participant: its live neighbours' signed keys. */
export interface KeyRelayMessage extends ToParticipant {
  readonly kind: 'key-relay';
  readonly neighbours: readonly AdvertisedKeys[];
}

/** To each participant that shared: the sealed shares its live neighbours made for it. */
export interface ShareRelayMessage extends ToParticipant {
  readonly kind: 'share-relay';
  readonly shares: readonly EncryptedShares[];
}

/** To each participant whose masked input arrived: the full survivor list U3, sorted. */
export interface ConsistencyRequestMessage extends ToParticipant {
  readonly kind: 'consistency-request';
  readonly survivors: readonly number[];
}

export interface SurvivorSignature {
  readonly participant: number;
  readonly signature: Uint8Array;
}

/** To each participant that signed: its neighbours' signatures over the survivor list. */
export interface UnmaskRequestMessage extends ToParticipant {
  readonly kind: 'unmask-request';
  readonly signatures: readonly SurvivorSignature[];
}

export type CoordinatorMessage = KeyRelayMessage | ShareRelayMessage | ConsistencyRequestMessage | UnmaskRequestMessage;

export type SecAggMessage = ParticipantMessage | CoordinatorMessage;

/** The participant message each stage collects. */
export const STAGE_MESSAGE: Readonly<Record<SecAggStage, ParticipantMessage['kind']>> = {
  'advertise-keys': 'advertise-keys',
  'share-keys': 'share-keys',
  'masked-input': 'masked-input',
  'consistency-check': 'consistency-signature',
  unmasking: 'unmask-shares',
};
