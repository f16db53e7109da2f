/**
 * Runs one complete secure-aggregation round in a single process: a coordinator and n participant
 * state machines exchanging *encoded* messages (every message goes through the binary codec, so
 * sizes are real and decoding is exercised). For tests and benchmarks: dropouts can be injected
 * before any stage, a hook can tamper with or drop any message in transit, and per-stage times and
 * bytes are recorded. The networked transport will drive the same state machines.
 */
import type { KeyObject } from 'node:crypto';
import { FedsecError } from '../core/errors.js';
import { decodeMessage, encodeMessage, isParticipantMessage } from './codec.js';
import type { SecAggSession } from './config.js';
import { SecAggCoordinator, type CoordinatorStep } from './coordinator.js';
import type { CoordinatorMessage, ParticipantMessage, SecAggMessage, SecAggStage } from './messages.js';
import { SECAGG_STAGES } from './messages.js';
import { SecAggParticipant } from './participant.js';
import { quantiseUpdate } from './quantise.js';

/** Participants that go silent from a stage on (they send nothing for it or any later stage). */
export type DropoutPlan = Partial<Record<SecAggStage, Iterable<string>>>;

export interface WireEvent {
  /** The stage the message belongs to (for relays: the stage the recipient is asked to perform). */
  readonly stage: SecAggStage;
  readonly direction: 'to-coordinator' | 'to-participant';
  /** Sender (to-coordinator) or recipient (to-participant). */
  readonly participant: string;
  readonly message: SecAggMessage;
}

/** Return a replacement message, `null` to lose the message in transit, or undefined to pass it on. */
export type TamperHook = (event: WireEvent) => SecAggMessage | null | undefined;

export type RoundInput = Uint32Array | { readonly update: Float32Array; readonly weight: number };

export interface InProcessRoundOptions {
  readonly session: SecAggSession;
  /** Identity private keys by participant id. */
  readonly identities: ReadonlyMap<string, KeyObject>;
  /** Each participant's input: already quantised (d + 1 words) or a float update and its weight. */
  readonly input: (id: string) => RoundInput;
  readonly dropouts?: DropoutPlan;
  readonly tamper?: TamperHook;
  /** Keep every byte the coordinator receives (for leak scans in tests). */
  readonly recordCoordinatorInbox?: boolean;
  /** Build participants differently (benchmarks); defaults to `new SecAggParticipant`. */
  readonly createParticipant?: (session: SecAggSession, id: string, identityKey: KeyObject) => SecAggParticipant;
}

export interface Rejection {
  readonly stage: SecAggStage;
  /** 'coordinator', or the id of the participant that rejected a relay. */
  readonly by: string;
  /** Who sent the rejected message ('coordinator' for relays). */
  readonly from: string;
  readonly error: FedsecError;
}

export type ParticipantTimes = Partial<Record<SecAggStage | 'quantise', number>>;

export interface InProcessRoundReport {
  readonly outcome: Exclude<CoordinatorStep, { type: 'relay' }>;
  readonly rejections: readonly Rejection[];
  /** Participants that rejected a relay and so took no further part (fail-closed). */
  readonly failedParticipants: readonly string[];
  readonly participantMs: ReadonlyMap<string, ParticipantTimes>;
  readonly coordinatorMs: Readonly<Record<SecAggStage, number>>;
  readonly bytesSent: ReadonlyMap<string, number>;
  readonly bytesReceived: ReadonlyMap<string, number>;
  readonly coordinatorInbox: readonly Uint8Array[];
}

const REPLY_STAGE: Readonly<Record<CoordinatorMessage['kind'], SecAggStage>> = {
  'key-relay': 'share-keys',
  'share-relay': 'masked-input',
  'consistency-request': 'consistency-check',
  'unmask-request': 'unmasking',
};

export async function runInProcessRound(options: InProcessRoundOptions): Promise<InProcessRoundReport> {
  const { session, tamper } = options;
  const coordinator = new SecAggCoordinator(session);
  const make = options.createParticipant ?? ((s, id, key) => new SecAggParticipant(s, id, key));
  const participants = new Map<string, SecAggParticipant>();
  for (const id of session.ids) {
    const key = options.identities.get(id);
    if (!key) throw new FedsecError('config', `no identity key for participant "${id}"`);
    participants.set(id, make(session, id, key));
  }
  const stageIndex = new Map(SECAGG_STAGES.map((s, i) => [s, i]));
  const goneFrom = new Map<string, number>();
  for (const [stage, ids] of Object.entries(options.dropouts ?? {}) as [SecAggStage, Iterable<string>][]) {
    for (const id of ids) {
      session.indexOf(id);
      const i = stageIndex.get(stage)!;
      goneFrom.set(id, Math.min(goneFrom.get(id) ?? i, i));
    }
  }
  const failed = new Set<string>();
  const active = (id: string, stage: SecAggStage) => !failed.has(id) && (goneFrom.get(id) ?? Infinity) > stageIndex.get(stage)!;

  const rejections: Rejection[] = [];
  const participantMs = new Map<string, ParticipantTimes>(session.ids.map((id) => [id, {}]));
  const coordinatorMs = Object.fromEntries(SECAGG_STAGES.map((s) => [s, 0])) as Record<SecAggStage, number>;
  const bytesSent = new Map<string, number>(session.ids.map((id) => [id, 0]));
  const bytesReceived = new Map<string, number>(session.ids.map((id) => [id, 0]));
  const inbox: Uint8Array[] = [];

  const addTime = (id: string, key: SecAggStage | 'quantise', ms: number) => {
    const t = participantMs.get(id)!;
    t[key] = (t[key] ?? 0) + ms;
  };
  const timed = <T>(fn: () => T): [T, number] => {
    const start = performance.now();
    const value = fn();
    return [value, performance.now() - start];
  };

  const toCoordinator = (stage: SecAggStage, id: string, produced: ParticipantMessage) => {
    const msg = tamper ? applyTamper(tamper, { stage, direction: 'to-coordinator', participant: id, message: produced }) : produced;
    if (msg === null) return;
    const [bytes, encodeMs] = timed(() => encodeMessage(msg));
    addTime(id, stage, encodeMs);
    bytesSent.set(id, bytesSent.get(id)! + bytes.length);
    if (options.recordCoordinatorInbox) inbox.push(bytes);
    const start = performance.now();
    try {
      const decoded = decodeMessage(asTransportBuffer(bytes));
      if (!isParticipantMessage(decoded)) throw new FedsecError('protocol', `the coordinator got a ${decoded.kind} message, which only it may send`);
      coordinator.receive(decoded);
    } catch (err) {
      rejections.push({ stage, by: 'coordinator', from: id, error: asFedsecError(err) });
    } finally {
      coordinatorMs[stage] += performance.now() - start;
    }
  };

  const toParticipant = async (relayed: CoordinatorMessage): Promise<void> => {
    const stage = REPLY_STAGE[relayed.kind];
    const id = session.ids[relayed.recipient]!;
    if (!active(id, stage)) return;
    const msg = tamper ? applyTamper(tamper, { stage, direction: 'to-participant', participant: id, message: relayed }) : relayed;
    if (msg === null) return;
    const [bytes, encodeMs] = timed(() => encodeMessage(msg));
    coordinatorMs[stage] += encodeMs;
    bytesReceived.set(id, bytesReceived.get(id)! + bytes.length);
    const p = participants.get(id)!;
    let reply: ParticipantMessage;
    try {
      const start = performance.now();
      const decoded = decodeMessage(asTransportBuffer(bytes));
      if (isParticipantMessage(decoded)) throw new FedsecError('protocol', `participant "${id}" got a ${decoded.kind} message, which only participants send`);
      switch (decoded.kind) {
        case 'key-relay':
          reply = await p.shareKeys(decoded);
          addTime(id, stage, performance.now() - start);
          break;
        case 'share-relay': {
          p.receiveShares(decoded);
          addTime(id, stage, performance.now() - start);
          const raw = options.input(id);
          let q: Uint32Array;
          if (raw instanceof Uint32Array) q = raw;
          else {
            const [quantised, ms] = timed(() => quantiseUpdate(raw.update, raw.weight, session.quantisation));
            addTime(id, 'quantise', ms);
            q = quantised;
          }
          const [masked, ms] = timed(() => p.maskInput(q));
          addTime(id, stage, ms);
          reply = masked;
          break;
        }
        case 'consistency-request':
          reply = p.signSurvivors(decoded);
          addTime(id, stage, performance.now() - start);
          break;
        case 'unmask-request':
          reply = p.revealShares(decoded);
          addTime(id, stage, performance.now() - start);
          break;
      }
    } catch (err) {
      // Whether it failed closed or merely refused a misaddressed relay, nobody resends: it is out.
      rejections.push({ stage, by: id, from: 'coordinator', error: asFedsecError(err) });
      failed.add(id);
      return;
    }
    toCoordinator(stage, id, reply);
  };

  for (const id of session.ids) {
    if (!active(id, 'advertise-keys')) continue;
    const [msg, ms] = timed(() => participants.get(id)!.advertiseKeys());
    addTime(id, 'advertise-keys', ms);
    toCoordinator('advertise-keys', id, msg);
  }
  for (;;) {
    const closing = coordinator.stage as SecAggStage;
    const start = performance.now();
    const step = await coordinator.closeStage();
    coordinatorMs[closing] += performance.now() - start;
    if (step.type !== 'relay') {
      return {
        outcome: step,
        rejections,
        failedParticipants: [...failed],
        participantMs,
        coordinatorMs,
        bytesSent,
        bytesReceived,
        coordinatorInbox: inbox,
      };
    }
    for (const m of step.messages) await toParticipant(m);
  }
}

/** Network transports deliver Buffers (views whose slice() does not copy): decode from one too. */
function asTransportBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function applyTamper(hook: TamperHook, event: WireEvent): SecAggMessage | null {
  const out = hook(event);
  return out === undefined ? event.message : out;
}

function asFedsecError(err: unknown): FedsecError {
  return err instanceof FedsecError ? err : new FedsecError('internal', String(err));
}
