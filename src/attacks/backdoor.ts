/**
 * Pixel-pattern backdoor with model replacement (Bagdasaryan et al. 2020). The attacker stamps a
 * trigger (a small bright square near a corner, by default 4×4 at the bottom right of a 28×28
 * image) on a fraction of its training examples and relabels them to the target class, trains
 * normally, then scales its delta by γ = n / (η·k) so that, after the server averages n updates
 * and applies them with learning rate η, the k attackers' boosted deltas replace the global model's
 * step (the paper's γ ≈ n/η for one attacker). `applyTrigger` and `backdoorTestSet` let the
 * evaluator measure attack success rate on triggered test images of the other classes.
 */
import { fail } from '../core/errors.js';
import type { SeededRng } from '../core/rng.js';
import { scale, type Vector } from '../core/vector.js';
import { featureSize, type Dataset } from '../data/dataset.js';
import type { DataAttack, DataAttackContext } from './types.js';

export interface Trigger {
  /** Side of the square, in pixels. */
  readonly size: number;
  readonly position: 'bottom-right' | 'bottom-left' | 'top-right' | 'top-left';
  /** Pixels between the square and the image edges. */
  readonly margin: number;
  /** Value written to every channel of the square's pixels (1 = white for inputs in [0, 1]). */
  readonly value: number;
}

export interface BackdoorOptions {
  readonly targetLabel: number;
  readonly trigger: Trigger;
  /** Fraction of the attacker's examples (of other classes) that get the trigger, in (0, 1]. */
  readonly poisonFraction: number;
  /** 'replace' relabels examples in place; 'append' adds triggered copies. */
  readonly mode: 'replace' | 'append';
  /** γ: 'model-replacement' = n / (η·k); a number = that factor (1 = no boost). */
  readonly boost: 'model-replacement' | number;
  /** The server learning rate η the attacker assumes. */
  readonly serverLearningRate: number;
}

/** [height, width, channels] of an image feature shape, or an actionable error. */
function imageShape(featureShape: readonly number[]): [number, number, number] {
  if (featureShape.length === 2) return [featureShape[0]!, featureShape[1]!, 1];
  if (featureShape.length === 3) return [featureShape[0]!, featureShape[1]!, featureShape[2]!];
  fail(
    'shape',
    `a pixel trigger needs image features [height, width] or [height, width, channels], got [${featureShape.join(', ')}]`,
    'give the dataset its image featureShape, e.g. [28, 28, 1] for MNIST',
  );
}

/**
 * A copy of `x` (one example, or a batch of consecutive examples) with the trigger stamped on
 * every example. Channels-last layout.
 */
export function applyTrigger(x: Float32Array, featureShape: readonly number[], trigger: Trigger): Float32Array {
  const [h, w, ch] = imageShape(featureShape);
  const per = h * w * ch;
  if (x.length % per !== 0) fail('shape', `input length ${x.length} is not a multiple of the example size ${per} (${h}×${w}×${ch})`);
  const { size, margin } = trigger;
  if (!Number.isInteger(size) || size < 1 || !Number.isInteger(margin) || margin < 0 || size + margin > Math.min(h, w)) {
    fail('config', `trigger of size ${size} with margin ${margin} does not fit a ${h}×${w} image`, 'use a smaller size or margin');
  }
  const top = trigger.position.startsWith('top') ? margin : h - margin - size;
  const left = trigger.position.endsWith('left') ? margin : w - margin - size;
  const out = x.slice();
  for (let e = 0; e < x.length; e += per) {
    for (let r = top; r < top + size; r++) {
      for (let c = left; c < left + size; c++) {
        const at = e + (r * w + c) * ch;
        out.fill(trigger.value, at, at + ch);
      }
    }
  }
  return out;
}

/** Triggered copies of every test example *not* of the target class, labelled as the target. */
export function backdoorTestSet(data: Dataset, targetLabel: number, trigger: Trigger): Dataset {
  const f = featureSize(data);
  const keep: number[] = [];
  data.y.forEach((y, i) => {
    if (y !== targetLabel) keep.push(i);
  });
  const x = new Float32Array(keep.length * f);
  keep.forEach((i, k) => x.set(data.x.subarray(i * f, (i + 1) * f), k * f));
  return {
    ...data,
    name: `${data.name}+trigger→${targetLabel}`,
    x: applyTrigger(x, data.featureShape, trigger),
    y: new Int32Array(keep.length).fill(targetLabel),
    size: keep.length,
  };
}

/** The model-replacement factor γ = n / (η·k). */
export function modelReplacementFactor(ctx: DataAttackContext, serverLearningRate: number): number {
  return ctx.numTotal / (serverLearningRate * ctx.numMalicious);
}

export function backdoor(options: BackdoorOptions): DataAttack {
  return {
    kind: 'data',
    name: 'backdoor',
    poison(data: Dataset, rng: SeededRng): Dataset {
      if (options.targetLabel >= data.numClasses) {
        fail('config', `backdoor targetLabel ${options.targetLabel} is not a class of ${data.name} (0..${data.numClasses - 1})`);
      }
      const f = featureSize(data);
      const candidates: number[] = [];
      data.y.forEach((y, i) => {
        if (y !== options.targetLabel) candidates.push(i);
      });
      const count = Math.min(candidates.length, Math.round(options.poisonFraction * data.size));
      const chosen = rng.shuffle(candidates).slice(0, count).sort((a, b) => a - b);
      const extra = options.mode === 'append' ? count : 0;
      const x = new Float32Array((data.size + extra) * f);
      const y = new Int32Array(data.size + extra);
      x.set(data.x);
      y.set(data.y);
      chosen.forEach((i, k) => {
        const at = options.mode === 'append' ? data.size + k : i;
        x.set(applyTrigger(data.x.subarray(i * f, (i + 1) * f), data.featureShape, options.trigger), at * f);
        y[at] = options.targetLabel;
      });
      return { ...data, name: `${data.name}+backdoor`, x, y, size: data.size + extra };
    },
    successSet: (test: Dataset): Dataset => backdoorTestSet(test, options.targetLabel, options.trigger),
    transformUpdate(update: Vector, ctx: DataAttackContext): Vector {
      const gamma = options.boost === 'model-replacement' ? modelReplacementFactor(ctx, options.serverLearningRate) : options.boost;
      return gamma === 1 ? update.slice() : scale(update, gamma);
    },
  };
}
