/**
 * Tampered, forged, replayed and inconsistent messages are rejected with an explicit FedsecError
 * ('auth' or 'protocol'), by the coordinator or by the participant that receives them, and the
 * round then either completes over the remaining honest participants or aborts — never with a
 * wrong sum.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { FedsecError } from '../../src/core/errors.js';
import { signMessage, survivorListBytes, type Unsigned } from '../../src/secure/codec.js';
import { SecAggCoordinator } from '../../src/secure/coordinator.js';
import { runInProcessRound, type InProcessRoundReport, type TamperHook } from '../../src/secure/in-process-round.js';
import { signBytes } from '../../src/secure/keys.js';
import type {
  AdvertiseKeysMessage,
  ConsistencyRequestMessage,
  MaskedInputMessage,
  ShareKeysMessage,
  ShareRelayMessage,
  UnmaskRequestMessage,
  UnmaskSharesMessage,
} from '../../src/secure/messages.js';
import { SecAggParticipant } from '../../src/secure/participant.js';
import { makeRoster, modularSum, type Roster } from './helpers.js';

const D = 6;

function inputsFor(roster: Roster): Map<string, Uint32Array> {
  return new Map(roster.session.ids.map((id, u) => [id, Uint32Array.from({ length: D + 1 }, (_, i) => 1000 * u + i)]));
}

async function run(roster: Roster, tamper: TamperHook, dropouts = {}): Promise<{ report: InProcessRoundReport; inputs: Map<string, Uint32Array> }> {
  const inputs = inputsFor(roster);
  const report = await runInProcessRound({ session: roster.session, identities: roster.identities, input: (id) => inputs.get(id)!, tamper, dropouts });
  return { report, inputs };
}

function expectCorrectIfDone(report: InProcessRoundReport, inputs: Map<string, Uint32Array>): void {
  if (report.outcome.type !== 'done') return;
  const survivors = report.outcome.result.survivors;
  expect(report.outcome.result.sum).toEqual(modularSum(survivors.map((id) => inputs.get(id)!), D + 1));
}

function flip(bytes: Uint8Array, at = 0): Uint8Array {
  const out = bytes.slice();
  out[at] = out[at]! ^ 0x01;
  return out;
}

function thrown(fn: () => unknown): FedsecError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(FedsecError);
    return err as FedsecError;
  }
  throw new Error('expected a FedsecError');
}

describe('SecAgg rejections (through a full round)', () => {
  it('rejects a message whose signature was tampered with, and completes without its sender', async () => {
    const roster = makeRoster(8, { vectorLength: D, degree: 7 });
    const { report, inputs } = await run(roster, ({ message, participant }) =>
      participant === 'p002' && message.kind === 'advertise-keys' ? { ...message, signature: flip(message.signature) } : undefined,
    );
    expect(report.rejections).toHaveLength(1);
    const [r] = report.rejections;
    expect(r!.error.code).toBe('auth');
    expect(r!.error.message).toMatch(/advertise-keys claiming to be from "p002" has an invalid signature/);
    expect(report.outcome.type).toBe('done');
    if (report.outcome.type === 'done') expect(report.outcome.result.survivors).not.toContain('p002');
    expectCorrectIfDone(report, inputs);
  });

  it('rejects a forgery: p001 signs a masked input in p004\'s name', async () => {
    const roster = makeRoster(8, { vectorLength: D, degree: 7 });
    const { report, inputs } = await run(roster, ({ message, participant }) => {
      if (participant !== 'p004' || message.kind !== 'masked-input') return undefined;
      const { signature: _s, ...unsigned } = message;
      return signMessage<MaskedInputMessage>({ ...unsigned, masked: new Uint32Array(D + 1) }, roster.identities.get('p001')!);
    });
    expect(report.rejections.map((r) => [r.error.code, r.from])).toEqual([['auth', 'p004']]);
    expect(report.rejections[0]!.error.message).toMatch(/masked-input claiming to be from "p004" has an invalid signature/);
    // p004 counts as dropped after sharing; its pairwise masks are removed, the sum stays exact.
    expect(report.outcome.type).toBe('done');
    if (report.outcome.type === 'done') expect(report.outcome.result.droppedAfterSharing).toEqual(['p004']);
    expectCorrectIfDone(report, inputs);
  });

  it('rejects a properly signed masked vector of the wrong length', async () => {
    const roster = makeRoster(8, { vectorLength: D, degree: 7 });
    const { report, inputs } = await run(roster, ({ message, participant }) => {
      if (participant !== 'p006' || message.kind !== 'masked-input') return undefined;
      const { signature: _s, ...unsigned } = message;
      return signMessage<MaskedInputMessage>({ ...unsigned, masked: message.masked.subarray(0, D) }, roster.identities.get('p006')!);
    });
    expect(report.rejections).toHaveLength(1);
    expect(report.rejections[0]!.error.code).toBe('protocol');
    expect(report.rejections[0]!.error.message).toMatch(/"p006" sent a masked vector of length 6, expected d \+ 1 = 7/);
    expectCorrectIfDone(report, inputs);
    expect(report.outcome.type).toBe('done');
  });

  it('a participant rejects a share ciphertext that fails AES-GCM, and stops (fail-closed)', async () => {
    const roster = makeRoster(8, { vectorLength: D, degree: 7 });
    const { report, inputs } = await run(roster, ({ message, participant }) => {
      if (participant !== 'p003' || message.kind !== 'share-relay') return undefined;
      const [first, ...rest] = message.shares;
      return { ...message, shares: [{ ...first!, ciphertext: flip(first!.ciphertext, 10) }, ...rest] } satisfies ShareRelayMessage;
    });
    expect(report.rejections).toHaveLength(1);
    expect(report.rejections[0]!.by).toBe('p003');
    expect(report.rejections[0]!.error.code).toBe('auth');
    expect(report.rejections[0]!.error.message).toMatch(/failed AES-GCM authentication/);
    expect(report.failedParticipants).toEqual(['p003']);
    expect(report.outcome.type).toBe('done');
    if (report.outcome.type === 'done') expect(report.outcome.result.survivors).not.toContain('p003');
    expectCorrectIfDone(report, inputs);
  });

  it('a participant rejects relayed keys that lack the neighbour\'s signature', async () => {
    const roster = makeRoster(8, { vectorLength: D, degree: 7 });
    const evil = new Uint8Array(randomBytes(32));
    const { report, inputs } = await run(roster, ({ message, participant }) => {
      if (participant !== 'p000' || message.kind !== 'key-relay') return undefined;
      const [first, ...rest] = message.neighbours;
      return { ...message, neighbours: [{ ...first!, maskPublicKey: evil }, ...rest] };
    });
    expect(report.rejections.map((r) => [r.by, r.error.code])).toEqual([['p000', 'auth']]);
    expect(report.rejections[0]!.error.message).toMatch(/do not carry its valid signature/);
    expectCorrectIfDone(report, inputs);
  });

  it('detects an equivocating coordinator: a participant signs the survivor list it was given, the coordinator\'s check rejects it', async () => {
    const roster = makeRoster(8, { vectorLength: D, degree: 7 });
    const { report, inputs } = await run(roster, ({ message, participant }) => {
      if (participant !== 'p001' || message.kind !== 'consistency-request') return undefined;
      return { ...message, survivors: message.survivors.filter((v) => v !== 5) } satisfies ConsistencyRequestMessage;
    });
    expect(report.rejections).toHaveLength(1);
    expect(report.rejections[0]!.error.code).toBe('auth');
    expect(report.rejections[0]!.error.message).toMatch(/"p001" signed a different survivor set/);
    expectCorrectIfDone(report, inputs);
  });

  it('participants refuse to unmask when a neighbour signed a different survivor list', async () => {
    const roster = makeRoster(6, { vectorLength: D, degree: 5, threshold: 4 });
    const { session } = roster;
    // The coordinator hands p000 a signature by p001 over another survivor list.
    const forged = signBytes(roster.identities.get('p001')!, survivorListBytes(session.sessionId, session.round, [0, 1, 2, 3, 4]));
    const { report } = await run(roster, ({ message, participant }) => {
      if (participant !== 'p000' || message.kind !== 'unmask-request') return undefined;
      return {
        ...message,
        signatures: message.signatures.map((s) => (s.participant === 1 ? { ...s, signature: forged } : s)),
      } satisfies UnmaskRequestMessage;
    });
    const rejection = report.rejections.find((r) => r.by === 'p000');
    expect(rejection?.error.code).toBe('auth');
    expect(rejection?.error.message).toMatch(/"p001" did not sign the survivor list "p000" was given.*refusing to unmask/);
    // p000 withheld its shares; with t = 4 of 5 neighbours the other five still suffice.
    expect(report.outcome.type).toBe('done');
  });

  it('aborts with reconstruction-mismatch when a dealer committed to a different self-mask seed', async () => {
    const roster = makeRoster(6, { vectorLength: D, degree: 5 });
    const { report } = await run(roster, ({ message, participant }) => {
      if (participant !== 'p002' || message.kind !== 'share-keys') return undefined;
      const { signature: _s, ...unsigned } = message;
      return signMessage<ShareKeysMessage>({ ...unsigned, selfSeedCommitment: new Uint8Array(randomBytes(32)) }, roster.identities.get('p002')!);
    });
    expect(report.outcome.type).toBe('aborted');
    if (report.outcome.type === 'aborted') {
      expect(report.outcome.abort.code).toBe('reconstruction-mismatch');
      expect(report.outcome.abort.participant).toBe('p002');
      expect(report.outcome.abort.message).toMatch(/does not match its commitment.*no aggregate was released/);
    }
  });

  it('aborts cleanly below threshold: survivors with fewer than t live neighbours', async () => {
    const roster = makeRoster(5, { vectorLength: D, degree: 4, threshold: 3 });
    const { report } = await run(roster, () => undefined, { 'masked-input': ['p000', 'p001'] });
    expect(report.outcome.type).toBe('aborted');
    if (report.outcome.type === 'aborted') {
      expect(report.outcome.abort.code).toBe('too-few-participants');
      expect(report.outcome.abort.stage).toBe('masked-input');
    }
    const late = await run(roster, () => undefined, { unmasking: ['p000', 'p001'] });
    expect(late.report.outcome.type).toBe('aborted');
    if (late.report.outcome.type === 'aborted') {
      expect(late.report.outcome.abort.code).toBe('too-few-neighbours');
      expect(late.report.outcome.abort.stage).toBe('unmasking');
      expect(late.report.outcome.abort.message).toMatch(/fewer than t=3.*no aggregate was released/);
    }
  });
});

describe('SecAgg rejections (state machines directly)', () => {
  async function upToMasked(roster: Roster) {
    const { session, identities } = roster;
    const coordinator = new SecAggCoordinator(session);
    const parts = session.ids.map((id) => new SecAggParticipant(session, id, identities.get(id)!));
    const adverts = parts.map((p) => p.advertiseKeys());
    for (const m of adverts) coordinator.receive(m);
    let step = await coordinator.closeStage();
    if (step.type !== 'relay') throw new Error('unexpected');
    const shareMsgs = await Promise.all(step.messages.map((m) => parts[m.recipient]!.shareKeys(m as never)));
    for (const m of shareMsgs) coordinator.receive(m);
    step = await coordinator.closeStage();
    if (step.type !== 'relay') throw new Error('unexpected');
    for (const m of step.messages) parts[m.recipient]!.receiveShares(m as ShareRelayMessage);
    return { coordinator, parts, adverts, shareMsgs };
  }

  it('rejects duplicates, replays from another round or session, unknown senders and out-of-stage kinds', async () => {
    const roster = makeRoster(5, { vectorLength: D, degree: 4 });
    const { session, identities } = roster;
    const coordinator = new SecAggCoordinator(session);
    const p = new SecAggParticipant(session, 'p001', identities.get('p001')!);
    const msg = p.advertiseKeys();
    coordinator.receive(msg);
    expect(thrown(() => coordinator.receive(msg)).message).toMatch(/duplicate advertise-keys from "p001"/);
    const { signature: _s, ...unsigned } = msg;
    const replay = signMessage<AdvertiseKeysMessage>({ ...(unsigned as Unsigned<AdvertiseKeysMessage>), round: 6, sender: 2 }, identities.get('p002')!);
    const e1 = thrown(() => coordinator.receive(replay));
    expect([e1.code, e1.message]).toEqual(['protocol', expect.stringMatching(/for round 6, not 7 \(replay\?\)/)]);
    const other = signMessage<AdvertiseKeysMessage>({ ...unsigned, sessionId: new Uint8Array(32), sender: 2 }, identities.get('p002')!);
    expect(thrown(() => coordinator.receive(other)).message).toMatch(/another session/);
    const unknown = signMessage<AdvertiseKeysMessage>({ ...unsigned, sender: 9 }, identities.get('p002')!);
    expect(thrown(() => coordinator.receive(unknown)).message).toMatch(/unknown participant index 9/);
    const early = signMessage<MaskedInputMessage>(
      { kind: 'masked-input', sessionId: session.sessionId, round: 7, sender: 3, modulusBits: 32, masked: new Uint32Array(D + 1) },
      identities.get('p003')!,
    );
    expect(thrown(() => coordinator.receive(early)).message).toMatch(/expected advertise-keys messages in stage advertise-keys, got masked-input/);
  });

  it('rejects low-order X25519 keys even when properly signed', () => {
    const roster = makeRoster(5, { vectorLength: D, degree: 4 });
    const coordinator = new SecAggCoordinator(roster.session);
    const bad = signMessage<AdvertiseKeysMessage>(
      {
        kind: 'advertise-keys',
        sessionId: roster.session.sessionId,
        round: 7,
        sender: 0,
        encryptionPublicKey: new Uint8Array(32), // the all-zero point has order 1
        maskPublicKey: new Uint8Array(randomBytes(32)),
      },
      roster.identities.get('p000')!,
    );
    const err = thrown(() => coordinator.receive(bad));
    expect(err.code).toBe('auth');
    expect(err.message).toMatch(/invalid or of low order|all-zero/);
  });

  it('rejects an unmask message revealing both shares of one peer, or a share that does not match its digest', async () => {
    const roster = makeRoster(5, { vectorLength: D, degree: 4, threshold: 3 });
    const { session, identities } = roster;
    const { coordinator, parts, shareMsgs } = await upToMasked(roster);
    for (const p of parts) coordinator.receive(p.maskInput(new Uint32Array(D + 1)));
    let step = await coordinator.closeStage();
    if (step.type !== 'relay') throw new Error('unexpected');
    for (const m of step.messages) coordinator.receive(parts[m.recipient]!.signSurvivors(m as ConsistencyRequestMessage));
    step = await coordinator.closeStage();
    if (step.type !== 'relay') throw new Error('unexpected');
    const honest = parts[0]!.revealShares(step.messages[0] as UnmaskRequestMessage);
    const { signature: _s, ...unsigned } = honest;
    const both = signMessage<UnmaskSharesMessage>(
      { ...unsigned, maskKeyShares: [{ dealer: honest.selfSeedShares[0]!.dealer, share: new Uint8Array(33) }] },
      identities.get('p000')!,
    );
    const e1 = thrown(() => coordinator.receive(both));
    expect([e1.code, e1.message]).toEqual(['protocol', expect.stringMatching(/revealed both the self-mask share and the mask-key share/)]);
    const wrong = signMessage<UnmaskSharesMessage>(
      { ...unsigned, selfSeedShares: honest.selfSeedShares.map((s, i) => (i === 0 ? { ...s, share: flip(s.share, 3) } : s)) },
      identities.get('p000')!,
    );
    const e2 = thrown(() => coordinator.receive(wrong));
    expect([e2.code, e2.message]).toEqual(['auth', expect.stringMatching(/does not match the digest the dealer committed to/)]);
    coordinator.receive(honest); // the genuine one is still accepted afterwards
    expect(shareMsgs).toHaveLength(session.n);
  });

  it('a participant ignores misaddressed relays without failing, and refuses a second unmask', async () => {
    const roster = makeRoster(5, { vectorLength: D, degree: 4, threshold: 3 });
    const { coordinator, parts } = await upToMasked(roster);
    const p0 = parts[0]!;
    for (const p of parts) coordinator.receive(p.maskInput(new Uint32Array(D + 1)));
    let step = await coordinator.closeStage();
    if (step.type !== 'relay') throw new Error('unexpected');
    const forP1 = step.messages.find((m) => m.recipient === 1) as ConsistencyRequestMessage;
    expect(thrown(() => p0.signSurvivors(forP1)).message).toMatch(/addressed to participant #1, not "p000"/);
    expect(p0.state).toBe('masked');
    for (const m of step.messages) coordinator.receive(parts[m.recipient]!.signSurvivors(m as ConsistencyRequestMessage));
    step = await coordinator.closeStage();
    if (step.type !== 'relay') throw new Error('unexpected');
    const req = step.messages.find((m) => m.recipient === 0) as UnmaskRequestMessage;
    p0.revealShares(req);
    expect(p0.state).toBe('done');
    expect(thrown(() => p0.revealShares(req)).message).toMatch(/cannot accept unmask-request in state done/);
  });

  it('refuses an identity key that does not match the session roster', () => {
    const roster = makeRoster(4, { vectorLength: D });
    const err = thrown(() => new SecAggParticipant(roster.session, 'p000', roster.identities.get('p001')!));
    expect(err.code).toBe('auth');
    expect(err.message).toMatch(/does not match its public key/);
  });

  it('lets the caller abort; nothing is released and later messages are refused', async () => {
    const roster = makeRoster(5, { vectorLength: D });
    const { coordinator, parts } = await upToMasked(roster);
    coordinator.receive(parts[0]!.maskInput(new Uint32Array(D + 1)));
    const abort = coordinator.abort('deadline passed');
    expect(abort.code).toBe('aborted-by-caller');
    expect(abort.message).toMatch(/deadline passed; no aggregate was released/);
    expect(coordinator.stage).toBe('aborted');
    expect(thrown(() => coordinator.receive(parts[1]!.maskInput(new Uint32Array(D + 1)))).message).toMatch(/round is aborted/);
  });
});
