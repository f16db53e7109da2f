/**
 * The model zoo (logistic regression, MLP, a LeNet-like CNN) and loading a user's own tfjs
 * LayersModel. Zoo models output logits; layers get fixed names so parameter layouts are stable
 * across processes, and initialisers are seeded so the same seed gives the same initial model.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { z } from 'zod';
import { fail } from '../core/errors.js';
import { SeededRng } from '../core/rng.js';
import { loadLayersModelFromFiles } from './model-files.js';

export const modelSpecSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('logreg') }).strict(),
  z.object({ kind: z.literal('mlp'), hidden: z.array(z.number().int().positive()).min(1).default([128]) }).strict(),
  z.object({
    kind: z.literal('cnn'),
    filters: z.tuple([z.number().int().positive(), z.number().int().positive()]).default([8, 16]),
    kernelSize: z.number().int().min(1).max(7).default(5),
    dense: z.number().int().positive().default(64),
  }).strict(),
  z.object({ kind: z.literal('file'), path: z.string().min(1).describe('path to a tfjs model.json (weights beside it)') }).strict(),
]);
export type ModelSpec = z.infer<typeof modelSpecSchema>;

function seededInit(rng: SeededRng) {
  return {
    kernelInitializer: tfl.initializers.glorotUniform({ seed: rng.int(2 ** 31) }),
    biasInitializer: tfl.initializers.zeros(),
  };
}

export async function buildModel(spec: ModelSpec, featureShape: readonly number[], numClasses: number, seed: number | string): Promise<tfl.LayersModel> {
  const rng = SeededRng.from(seed, 'model-init');
  const inputShape = [...featureShape];
  // Images are flattened for dense models; tabular rows already are flat.
  const flat = (): tfl.layers.Layer[] => (featureShape.length > 1 ? [tfl.layers.flatten({ inputShape, name: 'flatten' })] : []);
  const firstDense = featureShape.length > 1 ? {} : { inputShape };
  const flatSize = featureShape.reduce((p, d) => p * d, 1);
  switch (spec.kind) {
    case 'logreg':
      return tfl.sequential({
        name: 'logreg',
        layers: [
          ...flat(),
          tfl.layers.dense({ units: numClasses, name: 'logits', ...firstDense, ...seededInit(rng) }),
        ],
      });
    case 'mlp':
      return tfl.sequential({
        name: 'mlp',
        layers: [
          ...flat(),
          ...spec.hidden.map((units, i) => tfl.layers.dense({ units, activation: 'relu', name: `hidden${i + 1}`, ...(i === 0 ? firstDense : {}), ...seededInit(rng) })),
          tfl.layers.dense({ units: numClasses, name: 'logits', ...seededInit(rng) }),
        ],
      });
    case 'cnn': {
      if (featureShape.length !== 3) fail('config', `the cnn model needs image data [height, width, channels], got feature shape [${featureShape.join(', ')}]`, 'use mlp or logreg for tabular data');
      const [f1, f2] = spec.filters;
      return tfl.sequential({
        name: 'cnn',
        layers: [
          tfl.layers.conv2d({ inputShape, filters: f1, kernelSize: spec.kernelSize, activation: 'relu', padding: 'same', name: 'conv1', ...seededInit(rng) }),
          tfl.layers.maxPooling2d({ poolSize: 2, strides: 2, name: 'pool1' }),
          tfl.layers.conv2d({ filters: f2, kernelSize: spec.kernelSize, activation: 'relu', padding: 'valid', name: 'conv2', ...seededInit(rng) }),
          tfl.layers.maxPooling2d({ poolSize: 2, strides: 2, name: 'pool2' }),
          tfl.layers.flatten({ name: 'flatten' }),
          tfl.layers.dense({ units: spec.dense, activation: 'relu', name: 'dense1', ...seededInit(rng) }),
          tfl.layers.dense({ units: numClasses, name: 'logits', ...seededInit(rng) }),
        ],
      });
    }
    case 'file': {
      const model = await loadLayersModelFromFiles(spec.path);
      const inShape = model.inputs[0]?.shape.slice(1) ?? [];
      const outShape = model.outputs[0]?.shape.slice(1) ?? [];
      const inSize = inShape.reduce<number>((p, d) => p * (d ?? 1), 1);
      if (inSize !== flatSize) fail('model', `model ${spec.path} takes inputs of shape [${inShape.join(', ')}], the data has [${featureShape.join(', ')}]`);
      if (outShape.length !== 1 || outShape[0] !== numClasses) fail('model', `model ${spec.path} outputs [${outShape.join(', ')}], the data has ${numClasses} classes`);
      return model;
    }
  }
}

/** Does the model end in a softmax (then the loss takes probabilities, not logits)? */
export function outputsProbabilities(model: tfl.LayersModel): boolean {
  const last = model.layers[model.layers.length - 1];
  const config = last?.getConfig() as { activation?: unknown } | undefined;
  return config?.activation === 'softmax';
}

export { tf };
