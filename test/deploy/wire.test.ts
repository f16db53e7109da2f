// The wire pieces on their own: message signatures (binding and tamper detection), the protobuf
// codec with its zod validation, and chunked payloads.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { signMessage, verifyMessage, type SessionBinding } from '../../src/transport/network/message-signature.js';
import { PayloadAssembler, sha256, splitPayload } from '../../src/transport/network/payload-chunks.js';
import { SessionRejected } from '../../src/transport/network/reject-reasons.js';
import { decodeCoordinatorMessage, decodeParticipantMessage, encodeCoordinatorMessage, encodeParticipantMessage, type ParticipantBody } from '../../src/transport/network/wire.js';

const binding: SessionBinding = { federation: 'fed', participant: 'alice', certFingerprint: 'cd'.repeat(32), sessionId: Buffer.alloc(16, 1), serverNonce: Buffer.alloc(32, 2) };
const reply: ParticipantBody = {
  body: 'reply',
  reply: { taskId: 4, round: 2, stage: 'train', numSamples: 30, loss: 0.7, trainMs: 12, payloadBytes: 8, payloadSha256: Buffer.alloc(32, 9) },
};

function rejectionOf(fn: () => unknown): SessionRejected {
  try {
    fn();
  } catch (err) {
    if (err instanceof SessionRejected) return err;
    throw err;
  }
  throw new Error('did not throw');
}

describe.each([
  ['ECDSA P-256', () => generateKeyPairSync('ec', { namedCurve: 'prime256v1' })],
  ['Ed25519', () => generateKeyPairSync('ed25519')],
])('message signatures with %s', (_name, keys) => {
  const { privateKey, publicKey } = keys();

  it('verify with the certificate key, in this session, at this seq only', () => {
    const sig = signMessage(binding, 5, reply, privateKey);
    expect(verifyMessage(binding, 5, reply, sig, publicKey)).toBe(true);
    expect(verifyMessage(binding, 6, reply, sig, publicKey)).toBe(false);
    expect(verifyMessage({ ...binding, sessionId: Buffer.alloc(16, 3) }, 5, reply, sig, publicKey)).toBe(false);
    expect(verifyMessage({ ...binding, serverNonce: Buffer.alloc(32, 4) }, 5, reply, sig, publicKey)).toBe(false);
    expect(verifyMessage({ ...binding, participant: 'bob' }, 5, reply, sig, publicKey)).toBe(false);
    expect(verifyMessage(binding, 5, reply, sig, generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey)).toBe(false);
    expect(verifyMessage(binding, 5, reply, Buffer.alloc(0), publicKey)).toBe(false);
    expect(verifyMessage(binding, 5, reply, randomBytes(64), publicKey)).toBe(false);
  });

  it('any change to a signed reply field breaks the signature (NaN and -0 included)', () => {
    const sig = signMessage(binding, 1, reply, privateKey);
    const r = (reply as Extract<ParticipantBody, { body: 'reply' }>).reply;
    fc.assert(
      fc.property(
        fc.oneof(
          fc.record({ round: fc.nat().filter((v) => v !== r.round) }),
          fc.record({ taskId: fc.integer({ min: 1 }).filter((v) => v !== r.taskId) }),
          fc.record({ stage: fc.string().filter((v) => v !== r.stage) }),
          fc.record({ numSamples: fc.nat().filter((v) => v !== r.numSamples) }),
          fc.record({ loss: fc.double().filter((v) => !Object.is(v, r.loss)) }),
          fc.record({ payloadBytes: fc.nat().filter((v) => v !== r.payloadBytes) }),
          fc.record({ clippedNorm: fc.double() }),
        ),
        (change) => !verifyMessage(binding, 1, { body: 'reply', reply: { ...r, ...change } }, sig, publicKey),
      ),
      { numRuns: 200 },
    );
  });

  it('chunks are signed over their data', () => {
    const chunk: ParticipantBody = { body: 'chunk', chunk: { taskId: 1, index: 0, data: Buffer.from([1, 2, 3, 4]) } };
    const sig = signMessage(binding, 3, chunk, privateKey);
    expect(verifyMessage(binding, 3, chunk, sig, publicKey)).toBe(true);
    expect(verifyMessage(binding, 3, { body: 'chunk', chunk: { taskId: 1, index: 0, data: Buffer.from([1, 2, 3, 5]) } }, sig, publicKey)).toBe(false);
  });
});

describe('protobuf codec', () => {
  it('round-trips participant and coordinator messages', () => {
    const msg = { ...reply, seq: 9, signature: Buffer.from('sig') };
    expect(decodeParticipantMessage(encodeParticipantMessage(msg))).toEqual(msg);
    const task = {
      body: 'task' as const,
      task: { taskId: 1, round: 2, stage: 'train', timeoutMs: 1000, training: { epochs: 1, batchSize: 8, learningRate: 0.5, optimizer: 'adam' as const }, seed: 's', payloadBytes: 10, payloadSha256: sha256(Buffer.alloc(10)) },
    };
    expect(decodeCoordinatorMessage(encodeCoordinatorMessage(task))).toEqual(task);
  });

  it('refuses malformed and invalid messages with the field at fault', () => {
    expect(rejectionOf(() => decodeParticipantMessage(Buffer.from([0xff, 0xff, 0xff]))).reason).toBe('malformed');
    expect(rejectionOf(() => decodeParticipantMessage(Buffer.from([0x08, 0x01]))).detail).toBe('ParticipantMessage has no body (hello, reply, chunk, failed or pong)');
    const badSha = encodeParticipantMessage({ ...reply, reply: { ...(reply as Extract<ParticipantBody, { body: 'reply' }>).reply, payloadSha256: Buffer.alloc(5) }, seq: 1, signature: Buffer.alloc(3) });
    expect(rejectionOf(() => decodeParticipantMessage(badSha)).detail).toBe('invalid ParticipantMessage: reply.payloadSha256: must be 32 bytes');
    const zeroTask = encodeParticipantMessage({ body: 'chunk', chunk: { taskId: 0, index: 0, data: Buffer.alloc(1) }, seq: 1, signature: Buffer.alloc(3) });
    expect(rejectionOf(() => decodeParticipantMessage(zeroTask)).detail).toMatch(/^invalid ParticipantMessage: chunk.taskId: /);
    expect(() => decodeCoordinatorMessage(Buffer.from([0x0a, 0x02, 0x0a, 0x00]))).toThrow(/the coordinator sent an invalid message: challenge.sessionId: must be 16 bytes/);
  });
});

describe('chunked payloads', () => {
  it('split + assemble round-trips any payload and chunk size', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 3000 }), fc.integer({ min: 1, max: 700 }), (bytes, size) => {
        const payload = Buffer.from(bytes);
        const chunks = splitPayload(payload, size);
        expect(chunks.every((c) => c.length >= 1 && c.length <= size)).toBe(true);
        const asm = new PayloadAssembler(payload.length, sha256(payload), size, 'p');
        let out: Buffer | undefined;
        chunks.forEach((c, i) => {
          out = asm.add(i, c);
        });
        expect(out?.equals(payload)).toBe(true);
      }),
      { numRuns: 100 },
    );
  });

  it('refuses out-of-order, overrunning, oversized and swapped chunks', () => {
    const payload = randomBytes(40);
    const fresh = () => new PayloadAssembler(40, sha256(payload), 16, 'model');
    expect(rejectionOf(() => fresh().add(1, payload.subarray(0, 16)))).toMatchObject({ reason: 'chunk-order', detail: 'model: expected chunk 0, got chunk 1' });
    expect(rejectionOf(() => fresh().add(0, Buffer.alloc(17))).reason).toBe('chunk-order');
    const a = fresh();
    a.add(0, payload.subarray(0, 16));
    a.add(1, payload.subarray(16, 32));
    expect(rejectionOf(() => a.add(2, Buffer.alloc(16))).detail).toBe('model: chunk 2 overruns the declared 40 bytes');
    const b = fresh();
    b.add(0, payload.subarray(0, 16));
    b.add(1, payload.subarray(16, 32));
    expect(rejectionOf(() => b.add(2, Buffer.alloc(8))).reason).toBe('hash-mismatch');
  });
});
