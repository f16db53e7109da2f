/**
 * Signatures on participant messages, with the private key of the participant's own certificate
 * (ECDSA P-256/SHA-256 or Ed25519, whichever the federation CA issued); the coordinator verifies
 * with the public key of the certificate the TLS handshake presented.
 *
 * Why sign inside mTLS: TLS authenticates the channel, not the update. A signed update is
 * attributable after the fact (audit, dispute) and survives a TLS-terminating proxy. What is
 * signed binds the message to its context, so it cannot be moved elsewhere:
 *   federation, participant name, certificate fingerprint   (whose message)
 *   session id + server nonce (fresh per session)            (no replay into another session)
 *   seq (1, 2, 3, … per session)                             (no replay or reordering within it)
 *   the body, including task id, round and stage             (no reuse for another round/stage)
 * Large byte fields (chunk data, payload) enter as their SHA-256; doubles as their IEEE-754 bits
 * so NaN and -0 are signed exactly as sent.
 */
import { createHash, sign, verify, type KeyObject } from 'node:crypto';
import { canonicalJson } from '../../audit/canonical-json.js';
import type { ParticipantBody } from './wire.js';

const DOMAIN = 'fedsec-participant-message-v1\n';

export interface SessionBinding {
  readonly federation: string;
  readonly participant: string;
  /** SHA-256 of the participant certificate (DER), lowercase hex. */
  readonly certFingerprint: string;
  readonly sessionId: Buffer;
  readonly serverNonce: Buffer;
}

const hex = (b: Buffer): string => b.toString('hex');
const digest = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
function f64(x: number): string {
  const b = Buffer.alloc(8);
  b.writeDoubleBE(x);
  return hex(b);
}
const optionalF64 = (x: number | undefined): string | null => (x === undefined ? null : f64(x));

function signedFields(m: ParticipantBody): Record<string, string | number | boolean | null> {
  switch (m.body) {
    case 'hello':
      return {
        federation: m.hello.federation,
        participant: m.hello.participant,
        protocolVersion: m.hello.protocolVersion,
        enrollmentToken: digest(Buffer.from(m.hello.enrollmentToken, 'utf8')),
        software: m.hello.software,
      };
    case 'reply': {
      const r = m.reply;
      return {
        taskId: r.taskId, round: r.round, stage: r.stage, numSamples: r.numSamples,
        loss: f64(r.loss), trainMs: f64(r.trainMs), clippedNorm: optionalF64(r.clippedNorm), preClipNorm: optionalF64(r.preClipNorm),
        payloadBytes: r.payloadBytes, payloadSha256: hex(r.payloadSha256),
        withinClip: r.withinClip ?? null, epsilon: optionalF64(r.epsilon),
      };
    }
    case 'chunk':
      return { taskId: m.chunk.taskId, index: m.chunk.index, dataBytes: m.chunk.data.length, dataSha256: digest(m.chunk.data) };
    case 'failed':
      return { taskId: m.failed.taskId, round: m.failed.round, stage: m.failed.stage, message: m.failed.message };
    case 'pong':
      return { nonce: hex(m.pong.nonce) };
  }
}

/** The exact bytes a signature covers. */
export function signedBytes(binding: SessionBinding, seq: number, m: ParticipantBody): Buffer {
  const transcript = {
    binding: {
      federation: binding.federation,
      participant: binding.participant,
      certFingerprint: binding.certFingerprint,
      sessionId: hex(binding.sessionId),
      serverNonce: hex(binding.serverNonce),
    },
    seq,
    body: m.body,
    fields: signedFields(m),
  };
  return Buffer.from(DOMAIN + canonicalJson(transcript), 'utf8');
}

/** node:crypto takes the digest separately for ECDSA and none for Ed25519 (it hashes internally). */
function digestFor(key: KeyObject): 'sha256' | null {
  return key.asymmetricKeyType === 'ed25519' ? null : 'sha256';
}

export function signMessage(binding: SessionBinding, seq: number, m: ParticipantBody, privateKey: KeyObject): Buffer {
  return sign(digestFor(privateKey), signedBytes(binding, seq, m), privateKey);
}

export function verifyMessage(binding: SessionBinding, seq: number, m: ParticipantBody, signature: Buffer, publicKey: KeyObject): boolean {
  if (signature.length === 0) return false;
  try {
    return verify(digestFor(publicKey), signedBytes(binding, seq, m), publicKey, signature);
  } catch {
    // A signature of the wrong form for the key (e.g. garbage DER) is simply not valid.
    return false;
  }
}
