/**
 * Everything a simulation derives from its config alone: the data split, each participant's
 * partition, and the participants themselves. Worker threads call this too, so each worker rebuilds
 * exactly the same partitions from the seed instead of receiving data over a channel.
 */
import { SeededRng } from '../core/rng.js';
import type { SimulationConfig } from '../config/simulation.js';
import { applyScaler, fitScaler, loadCsv } from '../data/csv.js';
import type { Dataset } from '../data/dataset.js';
import { subset } from '../data/dataset.js';
import { loadMnist } from '../data/mnist.js';
import { partition } from '../data/partition.js';
import { LocalModel } from '../model/local-model.js';
import { Participant } from './participant.js';
import { clientChainFor, clientDataFor, clientTrainerFor } from './client-pipeline.js';
import { holdOutRootSet } from '../aggregation/root-reference.js';
import { participantPolicyFor } from '../secure/simulation-config.js';

export interface FederationData {
  readonly train: Dataset;
  readonly test: Dataset;
  /** partitions[k] = indices into `train` held by participant k. */
  readonly partitions: readonly number[][];
  readonly participantIds: readonly string[];
  /** The coordinator's clean root set (server.rootSamples, for FLTrust), held out of the partitions. */
  readonly root?: Dataset;
}

export function participantIds(count: number): string[] {
  const width = String(count).length;
  return Array.from({ length: count }, (_, i) => `p${String(i + 1).padStart(width, '0')}`);
}

export function loadSplit(config: SimulationConfig): { train: Dataset; test: Dataset } {
  const source = config.dataset;
  if (source.kind === 'mnist') return loadMnist();
  const { dataset } = loadCsv(source);
  // A fixed split per file (not per run seed), stratification is unnecessary for tabular sizes.
  const order = SeededRng.from('csv-split-v1', source.path).shuffle(Array.from({ length: dataset.size }, (_, i) => i));
  const nTest = Math.max(1, Math.round(dataset.size * source.testFraction));
  const rawTrain = subset(dataset, order.slice(nTest), `${dataset.name}:train`);
  const rawTest = subset(dataset, order.slice(0, nTest), `${dataset.name}:test`);
  const scaler = fitScaler(rawTrain, source.scaling);
  return { train: applyScaler(rawTrain, scaler), test: applyScaler(rawTest, scaler) };
}

export function loadFederationData(config: SimulationConfig): FederationData {
  const { train, test } = loadSplit(config);
  const partitions = partition(train.y, train.numClasses, config.participants, config.partition, SeededRng.from(config.seed, 'partition'));
  const ids = participantIds(config.participants);
  if (config.server.rootSamples === undefined) return { train, test, partitions, participantIds: ids };
  const held = holdOutRootSet(train, partitions, config.server.rootSamples, config.seed);
  return { train, test, partitions: held.partitions, participantIds: ids, root: held.root };
}

/** Build the simulated participants `ids`, sharing one model runtime (they train one at a time). */
export async function buildSimulatedParticipants(config: SimulationConfig, ids: readonly string[]): Promise<Participant[]> {
  const data = loadFederationData(config);
  const model = await LocalModel.create(config.model, data.train.featureShape, data.train.numClasses, config.seed);
  const secureAggregation = config.secureAggregation ? participantPolicyFor(config) : undefined;
  return ids.map((id) => {
    const k = data.participantIds.indexOf(id);
    if (k < 0) throw new Error(`unknown simulated participant ${id}`);
    const own = subset(data.train, data.partitions[k]!, `${data.train.name}:${id}`);
    const clientChain = clientChainFor(config, id);
    const trainer = clientTrainerFor(config, id);
    return new Participant({ id, model, data: clientDataFor(config, id, own), ...(clientChain ? { clientChain } : {}), ...(trainer ? { trainer } : {}), ...(secureAggregation ? { secureAggregation } : {}) });
  });
}
