/**
 * Loading and saving tfjs LayersModels as model.json + weight files with our own file I/O
 * (plain Node has no file:// handler without tfjs-node).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { z } from 'zod';
import { fail } from '../core/errors.js';

const weightEntrySchema = z.object({ name: z.string(), shape: z.array(z.number().int().nonnegative()), dtype: z.enum(['float32', 'int32', 'bool', 'string', 'complex64']) }).passthrough();
const modelJsonSchema = z.object({
  modelTopology: z.record(z.string(), z.unknown()),
  weightsManifest: z.array(z.object({ paths: z.array(z.string().min(1)), weights: z.array(weightEntrySchema) })),
}).passthrough();

export async function loadLayersModelFromFiles(modelJsonPath: string): Promise<tfl.LayersModel> {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(modelJsonPath, 'utf8'));
  } catch (err) {
    fail('model', `cannot read model file ${modelJsonPath}: ${(err as Error).message}`);
  }
  const parsed = modelJsonSchema.safeParse(raw);
  if (!parsed.success) fail('model', `${modelJsonPath} is not a tfjs LayersModel model.json: ${parsed.error.issues[0]?.path.join('.')} ${parsed.error.issues[0]?.message}`);
  const dir = dirname(resolve(modelJsonPath));
  const buffers: Buffer[] = [];
  const weightSpecs: tf.io.WeightsManifestEntry[] = [];
  for (const group of parsed.data.weightsManifest) {
    for (const p of group.paths) {
      if (p.includes('..') || p.startsWith('/')) fail('model', `weight path "${p}" in ${modelJsonPath} must be a file beside model.json`);
      try {
        buffers.push(readFileSync(join(dir, p)));
      } catch (err) {
        fail('model', `cannot read weight file ${p} listed in ${modelJsonPath}: ${(err as Error).message}`);
      }
    }
    weightSpecs.push(...(group.weights as tf.io.WeightsManifestEntry[]));
  }
  const all = Buffer.concat(buffers);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength) as ArrayBuffer;
  try {
    return await tfl.loadLayersModel(tf.io.fromMemory({ modelTopology: parsed.data.modelTopology, weightSpecs, weightData }));
  } catch (err) {
    fail('model', `tfjs could not build the model in ${modelJsonPath}: ${(err as Error).message}`);
  }
}

export async function saveLayersModelToFiles(model: tfl.LayersModel, dir: string): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const modelJsonPath = join(dir, 'model.json');
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const weightData = artifacts.weightData;
      const bytes = weightData === undefined ? new Uint8Array(0) : new Uint8Array(Array.isArray(weightData) ? tf.io.concatenateArrayBuffers(weightData) : weightData);
      writeFileSync(join(dir, 'weights.bin'), bytes);
      writeFileSync(modelJsonPath, JSON.stringify({
        format: 'layers-model',
        generatedBy: 'fedsec',
        modelTopology: artifacts.modelTopology,
        weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs ?? [] }],
      }));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  return modelJsonPath;
}
