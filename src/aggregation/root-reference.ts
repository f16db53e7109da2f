/**
 * FLTrust's root dataset in a simulation (Cao et al., NDSS 2021): the coordinator holds a small
 * clean dataset and, every round, trains its own copy of the current model on it; the resulting
 * delta is the reference the aggregator scores participants against.
 *
 * - `server.rootSamples` examples are drawn uniformly at random (seeded) from the training pool and
 *   removed from the participants' partitions, after partitioning — so the partitions are the same
 *   draw with or without a root set, minus those few examples.
 * - The paper has the server run the same local training as the clients (learning rate, batch size
 *   and number of local iterations); with 100 root examples and a few hundred per participant,
 *   equal *epochs* would give the reference far fewer steps (hence a far smaller norm, to which
 *   FLTrust rescales every update). The coordinator therefore trains for as many epochs as make its
 *   step count match the mean participant's.
 */
import { fail } from '../core/errors.js';
import { SeededRng } from '../core/rng.js';
import { sub } from '../core/vector.js';
import type { Dataset } from '../data/dataset.js';
import { subset } from '../data/dataset.js';
import type { ServerFeature, ServerFeatureContext } from '../federation/server-pipeline.js';

/** Draw `size` training examples as the root set and remove them from every partition. */
export function holdOutRootSet(
  train: Dataset,
  partitions: readonly number[][],
  size: number,
  seed: number | string,
): { root: Dataset; partitions: number[][] } {
  if (!Number.isInteger(size) || size < 1) fail('config', `server.rootSamples must be a positive integer, got ${size}`);
  if (size >= train.size) fail('config', `server.rootSamples is ${size} but the training pool has only ${train.size} examples`, 'hold out a small fraction (FLTrust uses 100)');
  const chosen = SeededRng.from(seed, 'root-set').sampleIndices(train.size, size).sort((a, b) => a - b);
  const held = new Set(chosen);
  return {
    root: subset(train, chosen, `${train.name}:root`),
    partitions: partitions.map((p) => p.filter((i) => !held.has(i))),
  };
}

/** Epochs over the root set that give as many SGD steps as `epochs` over `meanSize` examples. */
export function rootEpochs(epochs: number, batchSize: number, meanSize: number, rootSize: number): number {
  const participantSteps = epochs * Math.ceil(meanSize / batchSize);
  return Math.max(1, Math.round(participantSteps / Math.ceil(rootSize / batchSize)));
}

export function rootReferenceServerFeature(ctx: ServerFeatureContext): ServerFeature {
  const { root } = ctx.data;
  return {
    name: 'root-reference',
    configure(options) {
      if (!options.aggregator.needsReference) return options;
      if (!root) {
        fail(
          'config',
          `aggregator "${options.aggregator.name}" scores updates against the coordinator's own update on a clean root dataset, and there is none`,
          "set server.rootSamples (e.g. 100: that many training examples are held out of the participants' data for the coordinator)",
        );
      }
      const sizes = ctx.data.partitions.map((p) => p.length);
      const meanSize = sizes.reduce((s, n) => s + n, 0) / Math.max(1, sizes.length);
      const training = { ...options.training, epochs: rootEpochs(options.training.epochs, options.training.batchSize, meanSize, root.size) };
      return {
        ...options,
        referenceUpdate: async (params, round) => {
          ctx.model.setParams(params);
          await ctx.model.train(root, training, SeededRng.from(ctx.config.seed, 'root-train', round));
          return sub(ctx.model.getParams(), params);
        },
      };
    },
  };
}
