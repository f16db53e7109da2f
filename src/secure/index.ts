/**
 * Secure aggregation (Bonawitz et al. CCS 2017 with the SecAgg+ neighbour graph of Bell et al.
 * CCS 2020): transport-agnostic participant and coordinator state machines, their message codec,
 * quantisation into Z_(2^m), an in-process round driver and bucketed rounds.
 */
export { createSession, newSessionId, MAX_DEGREE, MAX_PARTICIPANTS, type SecAggConfigInput, type SecAggSession } from './config.js';
export { SecAggParticipant, type ParticipantState } from './participant.js';
export {
  SecAggCoordinator,
  type CoordinatorStage,
  type CoordinatorStep,
  type SecAggAbort,
  type SecAggAbortCode,
  type SecAggResult,
} from './coordinator.js';
export type * from './messages.js';
export { SECAGG_STAGES } from './messages.js';
export { decodeMessage, encodeMessage, encodedSize, signMessage, verifyMessage } from './codec.js';
export { generateIdentity, type Identity } from './keys.js';
export { defaultDegree, defaultThreshold, suggestDegree, type NeighbourGraph } from './neighbour-graph.js';
export { quantiseUpdate, dequantiseSum, levelsPerParticipant, quantisationScale, type QuantisationParams, type DequantisedSum } from './quantise.js';
export {
  runInProcessRound,
  type InProcessRoundOptions,
  type InProcessRoundReport,
  type DropoutPlan,
  type TamperHook,
  type WireEvent,
  type RoundInput,
  type Rejection,
} from './in-process-round.js';
export { planBuckets, runBucketedRound, bucketContributions, type BucketPlan, type BucketOutcome } from './buckets.js';
