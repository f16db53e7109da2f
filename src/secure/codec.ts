/**
 * Canonical binary encoding of secure-aggregation messages: what is signed, what a transport
 * carries, and what the benchmark counts as bytes on the wire. Decoding is strict (magic, version,
 * kind, exact field sizes, counts bounded by the remaining bytes, no trailing bytes) and every
 * failure is a FedsecError('protocol').
 *
 * Layout: "FSA" ‖ version(1) ‖ kind(u8) ‖ session id(32) ‖ round(u32) ‖ sender/recipient(u16) ‖ body
 * ‖ [Ed25519 signature(64), participant messages only]. Integers big-endian, except the masked
 * vector's words, which are little-endian (1, 2 or 4 bytes each, by modulus bits).
 */
import type { KeyObject } from 'node:crypto';
import { fail } from '../core/errors.js';
import { KEY_BYTES, SIGNATURE_BYTES, concatBytes, label, signBytes, u32, verifyBytes } from './keys.js';
import type {
  AdvertisedKeys,
  EncryptedShares,
  ParticipantMessage,
  RevealedShare,
  SecAggMessage,
  SurvivorSignature,
} from './messages.js';
import { DIGEST_BYTES, NONCE_BYTES, SHARE_BYTES, SHARE_CIPHERTEXT_BYTES } from './shares.js';

const MAGIC = [0x46, 0x53, 0x41, 0x01]; // "FSA" v1
const SESSION_BYTES = 32;
const HEADER_BYTES = MAGIC.length + 1 + SESSION_BYTES + 4 + 2;
const SIGNING_LABEL = label('envelope');
const SURVIVORS_LABEL = label('survivors');
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

const KIND_CODES = {
  'advertise-keys': 1,
  'share-keys': 2,
  'masked-input': 3,
  'consistency-signature': 4,
  'unmask-shares': 5,
  'key-relay': 17,
  'share-relay': 18,
  'consistency-request': 19,
  'unmask-request': 20,
} as const satisfies Record<SecAggMessage['kind'], number>;

const PARTICIPANT_KINDS: ReadonlySet<string> = new Set(['advertise-keys', 'share-keys', 'masked-input', 'consistency-signature', 'unmask-shares']);

export type Unsigned<M> = M extends unknown ? Omit<M, 'signature'> : never;

export function isParticipantMessage(msg: SecAggMessage): msg is ParticipantMessage {
  return PARTICIPANT_KINDS.has(msg.kind);
}

/** Bytes per masked word on the wire for a modulus of 2^bits. */
export function wordBytes(modulusBits: number): 1 | 2 | 4 {
  return modulusBits <= 8 ? 1 : modulusBits <= 16 ? 2 : 4;
}

interface Sink {
  u8(n: number): void;
  u16(n: number): void;
  u32(n: number): void;
  bytes(b: Uint8Array, expected: number, what: string): void;
  words(v: Uint32Array, width: 1 | 2 | 4): void;
}

class Counter implements Sink {
  size = 0;
  u8(): void {
    this.size += 1;
  }
  u16(): void {
    this.size += 2;
  }
  u32(): void {
    this.size += 4;
  }
  bytes(b: Uint8Array, expected: number, what: string): void {
    if (!(b instanceof Uint8Array) || b.length !== expected) fail('protocol', `cannot encode ${what}: expected ${expected} bytes, got ${b?.length}`);
    this.size += expected;
  }
  words(v: Uint32Array, width: 1 | 2 | 4): void {
    this.size += v.length * width;
  }
}

class Writer implements Sink {
  private readonly view: DataView;
  constructor(
    readonly out: Uint8Array,
    public pos: number,
  ) {
    this.view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  }
  u8(n: number): void {
    this.view.setUint8(this.pos, n);
    this.pos += 1;
  }
  u16(n: number): void {
    this.view.setUint16(this.pos, n);
    this.pos += 2;
  }
  u32(n: number): void {
    this.view.setUint32(this.pos, n);
    this.pos += 4;
  }
  bytes(b: Uint8Array): void {
    this.out.set(b, this.pos);
    this.pos += b.length;
  }
  words(v: Uint32Array, width: 1 | 2 | 4): void {
    if (width === 4 && LITTLE_ENDIAN) {
      this.out.set(new Uint8Array(v.buffer, v.byteOffset, v.byteLength), this.pos);
      this.pos += v.byteLength;
      return;
    }
    for (let i = 0; i < v.length; i++) {
      const x = v[i]!;
      if (width === 1) this.view.setUint8(this.pos, x);
      else if (width === 2) this.view.setUint16(this.pos, x, true);
      else this.view.setUint32(this.pos, x, true);
      this.pos += width;
    }
  }
}

function checkCount(n: number, what: string): void {
  if (!Number.isInteger(n) || n < 0 || n > 0xffff) fail('protocol', `cannot encode ${what}: count ${n} is outside 0..65535`);
}

function writeEncryptedShares(s: Sink, list: readonly EncryptedShares[]): void {
  checkCount(list.length, 'share list');
  s.u16(list.length);
  for (const e of list) {
    s.u16(e.peer);
    s.bytes(e.nonce, NONCE_BYTES, 'nonce');
    s.bytes(e.ciphertext, SHARE_CIPHERTEXT_BYTES, 'share ciphertext');
    s.bytes(e.selfSeedShareDigest, DIGEST_BYTES, 'share digest');
    s.bytes(e.maskKeyShareDigest, DIGEST_BYTES, 'share digest');
  }
}

function writeRevealed(s: Sink, list: readonly RevealedShare[]): void {
  checkCount(list.length, 'revealed shares');
  s.u16(list.length);
  for (const r of list) {
    s.u16(r.dealer);
    s.bytes(r.share, SHARE_BYTES, 'revealed share');
  }
}

function writeMessage(s: Sink, msg: Unsigned<SecAggMessage>): void {
  for (const b of MAGIC) s.u8(b);
  s.u8(KIND_CODES[msg.kind]);
  s.bytes(msg.sessionId, SESSION_BYTES, 'session id');
  if (!Number.isInteger(msg.round) || msg.round < 0 || msg.round > 0xffffffff) fail('protocol', `cannot encode round ${msg.round}`);
  s.u32(msg.round);
  const party = 'sender' in msg ? msg.sender : msg.recipient;
  checkCount(party, 'participant index');
  s.u16(party);
  switch (msg.kind) {
    case 'advertise-keys':
      s.bytes(msg.encryptionPublicKey, KEY_BYTES, 'encryption public key');
      s.bytes(msg.maskPublicKey, KEY_BYTES, 'mask public key');
      break;
    case 'share-keys':
      s.bytes(msg.selfSeedCommitment, DIGEST_BYTES, 'self-seed commitment');
      writeEncryptedShares(s, msg.shares);
      break;
    case 'masked-input': {
      if (!Number.isInteger(msg.modulusBits) || msg.modulusBits < 8 || msg.modulusBits > 32) fail('protocol', `cannot encode modulus bits ${msg.modulusBits}`);
      s.u8(msg.modulusBits);
      s.u32(msg.masked.length);
      s.words(msg.masked, wordBytes(msg.modulusBits));
      break;
    }
    case 'consistency-signature':
      s.bytes(msg.survivorsSignature, SIGNATURE_BYTES, 'survivor signature');
      break;
    case 'unmask-shares':
      writeRevealed(s, msg.selfSeedShares);
      writeRevealed(s, msg.maskKeyShares);
      break;
    case 'key-relay':
      checkCount(msg.neighbours.length, 'neighbour list');
      s.u16(msg.neighbours.length);
      for (const k of msg.neighbours) {
        s.u16(k.participant);
        s.bytes(k.encryptionPublicKey, KEY_BYTES, 'encryption public key');
        s.bytes(k.maskPublicKey, KEY_BYTES, 'mask public key');
        s.bytes(k.signature, SIGNATURE_BYTES, 'advertise signature');
      }
      break;
    case 'share-relay':
      writeEncryptedShares(s, msg.shares);
      break;
    case 'consistency-request':
      checkCount(msg.survivors.length, 'survivor list');
      s.u16(msg.survivors.length);
      for (const v of msg.survivors) s.u16(v);
      break;
    case 'unmask-request':
      checkCount(msg.signatures.length, 'signature list');
      s.u16(msg.signatures.length);
      for (const g of msg.signatures) {
        s.u16(g.participant);
        s.bytes(g.signature, SIGNATURE_BYTES, 'survivor signature');
      }
      break;
  }
}

/** Encode into a fresh buffer with `prefix` bytes reserved in front and `suffix` bytes after. */
function frame(msg: Unsigned<SecAggMessage>, prefix: number, suffix: number): { out: Uint8Array; end: number } {
  const counter = new Counter();
  writeMessage(counter, msg);
  const out = new Uint8Array(prefix + counter.size + suffix);
  const w = new Writer(out, prefix);
  writeMessage(w, msg);
  return { out, end: w.pos };
}

export function encodeMessage(msg: SecAggMessage): Uint8Array {
  const signed = isParticipantMessage(msg);
  const { out, end } = frame(msg, 0, signed ? SIGNATURE_BYTES : 0);
  if (signed) {
    const sig = msg.signature;
    if (!(sig instanceof Uint8Array) || sig.length !== SIGNATURE_BYTES) fail('protocol', `cannot encode ${msg.kind}: signature must be ${SIGNATURE_BYTES} bytes`);
    out.set(sig, end);
  }
  return out;
}

/** Exact encoded size, without building the bytes. */
export function encodedSize(msg: SecAggMessage): number {
  const counter = new Counter();
  writeMessage(counter, msg);
  return counter.size + (isParticipantMessage(msg) ? SIGNATURE_BYTES : 0);
}

/** What the sender's identity key signs: a domain label followed by the unsigned encoding. */
export function signingBytes(msg: Unsigned<ParticipantMessage>): Uint8Array {
  const { out } = frame(msg, SIGNING_LABEL.length, 0);
  out.set(SIGNING_LABEL, 0);
  return out;
}

export function signMessage<M extends ParticipantMessage>(unsigned: Unsigned<M>, identityKey: KeyObject): M {
  const signature = signBytes(identityKey, signingBytes(unsigned));
  return { ...unsigned, signature } as unknown as M;
}

export function verifyMessage(msg: ParticipantMessage, identityPublicKey: KeyObject): boolean {
  const { signature, ...unsigned } = msg;
  return verifyBytes(identityPublicKey, signingBytes(unsigned as Unsigned<ParticipantMessage>), signature);
}

class Reader {
  private readonly view: DataView;
  pos = 0;
  constructor(private readonly data: Uint8Array) {
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  }
  get remaining(): number {
    return this.data.length - this.pos;
  }
  need(n: number, what: string): void {
    if (n > this.remaining) fail('protocol', `malformed secure-aggregation message: truncated ${what} (${this.remaining} bytes left, need ${n})`);
  }
  u8(what: string): number {
    this.need(1, what);
    return this.view.getUint8(this.pos++);
  }
  u16(what: string): number {
    this.need(2, what);
    const v = this.view.getUint16(this.pos);
    this.pos += 2;
    return v;
  }
  u32(what: string): number {
    this.need(4, what);
    const v = this.view.getUint32(this.pos);
    this.pos += 4;
    return v;
  }
  bytes(n: number, what: string): Uint8Array {
    this.need(n, what);
    const b = this.data.slice(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
  count(itemBytes: number, what: string): number {
    const n = this.u16(`${what} count`);
    this.need(n * itemBytes, what);
    return n;
  }
  words(n: number, width: 1 | 2 | 4, modulusBits: number): Uint32Array {
    this.need(n * width, 'masked vector');
    let out: Uint32Array;
    if (width === 4 && LITTLE_ENDIAN) {
      out = new Uint32Array(this.data.slice(this.pos, this.pos + n * 4).buffer);
    } else {
      out = new Uint32Array(n);
      for (let i = 0; i < n; i++) {
        const o = this.pos + i * width;
        out[i] = width === 1 ? this.view.getUint8(o) : width === 2 ? this.view.getUint16(o, true) : this.view.getUint32(o, true);
      }
    }
    this.pos += n * width;
    if (modulusBits < 32) {
      const limit = 2 ** modulusBits;
      for (let i = 0; i < n; i++) {
        if (out[i]! >= limit) fail('protocol', `masked vector word ${i} is not below 2^${modulusBits}`);
      }
    }
    return out;
  }
}

const ENCRYPTED_SHARE_BYTES = 2 + NONCE_BYTES + SHARE_CIPHERTEXT_BYTES + 2 * DIGEST_BYTES;

function readEncryptedShares(r: Reader): EncryptedShares[] {
  const n = r.count(ENCRYPTED_SHARE_BYTES, 'share list');
  const out: EncryptedShares[] = [];
  for (let i = 0; i < n; i++) {
    out.push({
      peer: r.u16('peer'),
      nonce: r.bytes(NONCE_BYTES, 'nonce'),
      ciphertext: r.bytes(SHARE_CIPHERTEXT_BYTES, 'ciphertext'),
      selfSeedShareDigest: r.bytes(DIGEST_BYTES, 'digest'),
      maskKeyShareDigest: r.bytes(DIGEST_BYTES, 'digest'),
    });
  }
  return out;
}

function readRevealed(r: Reader): RevealedShare[] {
  const n = r.count(2 + SHARE_BYTES, 'revealed shares');
  const out: RevealedShare[] = [];
  for (let i = 0; i < n; i++) out.push({ dealer: r.u16('dealer'), share: r.bytes(SHARE_BYTES, 'share') });
  return out;
}

export function decodeMessage(input: Uint8Array): SecAggMessage {
  if (!(input instanceof Uint8Array)) fail('protocol', 'a secure-aggregation message must be bytes');
  // Transports hand us Buffers, whose slice() is a view (and whose type the Shamir library rejects):
  // read through a plain Uint8Array so every decoded field is an independent Uint8Array copy.
  const data = Object.getPrototypeOf(input) === Uint8Array.prototype ? input : new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  const r = new Reader(data);
  r.need(HEADER_BYTES, 'header');
  for (const b of MAGIC) {
    if (r.u8('magic') !== b) fail('protocol', 'not a fedsec secure-aggregation v1 message (bad magic or version)');
  }
  const code = r.u8('kind');
  const kind = (Object.keys(KIND_CODES) as SecAggMessage['kind'][]).find((k) => KIND_CODES[k] === code);
  if (kind === undefined) fail('protocol', `unknown secure-aggregation message kind ${code}`);
  const sessionId = r.bytes(SESSION_BYTES, 'session id');
  const round = r.u32('round');
  const party = r.u16('participant index');
  let msg: SecAggMessage;
  const sig = () => r.bytes(SIGNATURE_BYTES, 'signature');
  switch (kind) {
    case 'advertise-keys':
      msg = { kind, sessionId, round, sender: party, encryptionPublicKey: r.bytes(KEY_BYTES, 'key'), maskPublicKey: r.bytes(KEY_BYTES, 'key'), signature: sig() };
      break;
    case 'share-keys': {
      const selfSeedCommitment = r.bytes(DIGEST_BYTES, 'commitment');
      msg = { kind, sessionId, round, sender: party, selfSeedCommitment, shares: readEncryptedShares(r), signature: sig() };
      break;
    }
    case 'masked-input': {
      const modulusBits = r.u8('modulus bits');
      if (modulusBits < 8 || modulusBits > 32) fail('protocol', `masked input declares ${modulusBits} modulus bits (allowed 8..32)`);
      const n = r.u32('vector length');
      msg = { kind, sessionId, round, sender: party, modulusBits, masked: r.words(n, wordBytes(modulusBits), modulusBits), signature: sig() };
      break;
    }
    case 'consistency-signature':
      msg = { kind, sessionId, round, sender: party, survivorsSignature: r.bytes(SIGNATURE_BYTES, 'survivor signature'), signature: sig() };
      break;
    case 'unmask-shares': {
      const selfSeedShares = readRevealed(r);
      const maskKeyShares = readRevealed(r);
      msg = { kind, sessionId, round, sender: party, selfSeedShares, maskKeyShares, signature: sig() };
      break;
    }
    case 'key-relay': {
      const n = r.count(2 + 2 * KEY_BYTES + SIGNATURE_BYTES, 'neighbour list');
      const neighbours: AdvertisedKeys[] = [];
      for (let i = 0; i < n; i++) {
        neighbours.push({
          participant: r.u16('participant'),
          encryptionPublicKey: r.bytes(KEY_BYTES, 'key'),
          maskPublicKey: r.bytes(KEY_BYTES, 'key'),
          signature: r.bytes(SIGNATURE_BYTES, 'signature'),
        });
      }
      msg = { kind, sessionId, round, recipient: party, neighbours };
      break;
    }
    case 'share-relay':
      msg = { kind, sessionId, round, recipient: party, shares: readEncryptedShares(r) };
      break;
    case 'consistency-request': {
      const n = r.count(2, 'survivor list');
      const survivors: number[] = [];
      for (let i = 0; i < n; i++) survivors.push(r.u16('survivor'));
      msg = { kind, sessionId, round, recipient: party, survivors };
      break;
    }
    case 'unmask-request': {
      const n = r.count(2 + SIGNATURE_BYTES, 'signature list');
      const signatures: SurvivorSignature[] = [];
      for (let i = 0; i < n; i++) signatures.push({ participant: r.u16('participant'), signature: r.bytes(SIGNATURE_BYTES, 'signature') });
      msg = { kind, sessionId, round, recipient: party, signatures };
      break;
    }
  }
  if (r.remaining !== 0) fail('protocol', `malformed ${kind} message: ${r.remaining} unexpected trailing bytes`);
  return msg;
}

/** What each participant signs in the consistency check: the survivor list it was given. */
export function survivorListBytes(sessionId: Uint8Array, round: number, survivors: readonly number[]): Uint8Array {
  const list = new Uint8Array(2 + 2 * survivors.length);
  const view = new DataView(list.buffer);
  view.setUint16(0, survivors.length);
  survivors.forEach((v, i) => view.setUint16(2 + 2 * i, v));
  return concatBytes(SURVIVORS_LABEL, sessionId, u32(round), list);
}
