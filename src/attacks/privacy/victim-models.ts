/**
 * Models the privacy attacks run against. Besides fedsec's zoo (what `fedsec simulate` trains),
 * two architectures from the gradient-leakage literature:
 *  - 'lenet': DLG's LeNet variant (Zhu et al. 2019) — three 5×5 convolutions with 12 channels,
 *    strides 2, 2, 1, 'same' padding, sigmoid, then one dense layer to the logits. No pooling
 *    (tfjs has no second-order gradient for MaxPoolGrad) and a smooth activation (ReLU's second
 *    derivative is zero, which starves gradient matching).
 *  - 'mlp': a dense net with a chosen activation (sigmoid by default). Its first layer is dense
 *    with a bias, so the analytic recovery x = ∂ℓ/∂W_j / ∂ℓ/∂b_j applies.
 * Initialisation is seeded (glorot-uniform kernels, zero biases) so a run is reproducible.
 */
import { z } from 'zod';
import { SeededRng } from '../../core/rng.js';
import { tfl } from '../../model/backend.js';
import { LocalModel } from '../../model/local-model.js';
import { modelSpecSchema } from '../../model/zoo.js';

const activation = z.enum(['sigmoid', 'tanh', 'relu']);

export const victimModelSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('lenet'),
    channels: z.number().int().min(1).max(64).default(12),
    activation: activation.default('sigmoid'),
  }).strict(),
  z.object({
    kind: z.literal('mlp'),
    hidden: z.array(z.number().int().min(1).max(4096)).min(1).max(4).default([256]),
    activation: activation.default('sigmoid'),
  }).strict(),
  z.object({ kind: z.literal('zoo'), spec: modelSpecSchema }).strict(),
]);
export type VictimModelSpec = z.infer<typeof victimModelSchema>;
export type VictimModelInput = z.input<typeof victimModelSchema>;

export async function buildVictimModel(spec: VictimModelSpec, featureShape: readonly number[], numClasses: number, seed: number | string): Promise<LocalModel> {
  if (spec.kind === 'zoo') return LocalModel.create(spec.spec, featureShape, numClasses, seed);
  const rng = SeededRng.from(seed, 'victim-init', spec.kind);
  const init = () => ({
    kernelInitializer: tfl.initializers.glorotUniform({ seed: rng.int(2 ** 31) }),
    biasInitializer: tfl.initializers.zeros(),
  });
  const inputShape = [...featureShape];
  if (spec.kind === 'lenet') {
    const conv = (i: number, strides: number) =>
      tfl.layers.conv2d({ filters: spec.channels, kernelSize: 5, strides, padding: 'same', activation: spec.activation, name: `conv${i}`, ...(i === 1 ? { inputShape } : {}), ...init() });
    const model = tfl.sequential({
      name: 'lenet',
      layers: [conv(1, 2), conv(2, 2), conv(3, 1), tfl.layers.flatten({ name: 'flatten' }), tfl.layers.dense({ units: numClasses, name: 'logits', ...init() })],
    });
    return LocalModel.wrap(model, featureShape, numClasses);
  }
  const flat = featureShape.length > 1 ? [tfl.layers.flatten({ inputShape, name: 'flatten' })] : [];
  const model = tfl.sequential({
    name: 'mlp',
    layers: [
      ...flat,
      ...spec.hidden.map((units, i) =>
        tfl.layers.dense({ units, activation: spec.activation, name: `hidden${i + 1}`, ...(i === 0 && flat.length === 0 ? { inputShape } : {}), ...init() })),
      tfl.layers.dense({ units: numClasses, name: 'logits', ...init() }),
    ],
  });
  return LocalModel.wrap(model, featureShape, numClasses);
}

/** Human-readable name for reports. */
export function describeVictim(spec: VictimModelSpec): string {
  switch (spec.kind) {
    case 'lenet':
      return `LeNet (DLG variant, ${spec.channels} channels, ${spec.activation})`;
    case 'mlp':
      return `MLP ${spec.hidden.join('-')} (${spec.activation})`;
    case 'zoo':
      return `zoo ${spec.spec.kind}${spec.spec.kind === 'mlp' ? ` ${spec.spec.hidden.join('-')} (relu)` : ''}`;
  }
}
