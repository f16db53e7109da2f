/**
 * The client side of the data path, derived from the config alone (so worker threads can rebuild
 * it): data transformations (e.g. a label-flipping or backdoor attacker's poisoned data) and the
 * chain on the outgoing delta (train → clip → noise → quantize …). Features add themselves to
 * `clientFeatures`; each looks at its own config section and returns nothing when it is off.
 */
import type { SimulationConfig } from '../config/simulation.js';
import type { Dataset } from '../data/dataset.js';
import { fail } from '../core/errors.js';
import { privacyClientFeature } from '../privacy/client-feature.js';
import { attackClientFeature } from '../attacks/client-feature.js';
import type { LocalTrainer } from './participant.js';
import type { UpdateStage } from './stages.js';
import { chain } from './stages.js';

export interface ClientFeature {
  readonly name: string;
  /** Transform the participant's local data (attackers only, in simulation). */
  data?(config: SimulationConfig, id: string, data: Dataset): Dataset;
  /** Stages to append to the participant's client chain, in pipeline order. */
  stages?(config: SimulationConfig, id: string): UpdateStage[];
  /** Local training other than plain SGD (e.g. DP-SGD); at most one feature may provide it. */
  trainer?(config: SimulationConfig, id: string): LocalTrainer | undefined;
}

/** In pipeline order: what runs first on the delta comes first. */
export const clientFeatures: ClientFeature[] = [privacyClientFeature, attackClientFeature];

export function clientDataFor(config: SimulationConfig, id: string, data: Dataset): Dataset {
  return clientFeatures.reduce((d, f) => (f.data ? f.data(config, id, d) : d), data);
}

export function clientChainFor(config: SimulationConfig, id: string): UpdateStage | undefined {
  const stages = clientFeatures.flatMap((f) => f.stages?.(config, id) ?? []);
  return stages.length > 0 ? chain(...stages) : undefined;
}

export function clientTrainerFor(config: SimulationConfig, id: string): LocalTrainer | undefined {
  const trainers = clientFeatures.flatMap((f) => {
    const t = f.trainer?.(config, id);
    return t ? [{ name: f.name, trainer: t }] : [];
  });
  if (trainers.length > 1) fail('config', `${trainers.map((t) => t.name).join(' and ')} both replace local training; enable only one of them`);
  return trainers[0]?.trainer;
}
