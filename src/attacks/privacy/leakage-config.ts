/**
 * The `fedsec attack leakage --config file` configuration: a name, a seed, the tfjs backend and
 * up to three experiment sections (each optional, at least one present). Every section's schema
 * lives next to its experiment; validation errors list every problem with its path.
 */
import { z } from 'zod';
import { fail } from '../../core/errors.js';
import { describeIssues } from '../../config/simulation.js';
import { BACKEND_PREFERENCES } from '../../model/backend.js';
import { gradientLeakageSchema } from './gradient-leakage-experiment.js';
import { modelInversionSchema } from './inversion-experiment.js';
import { membershipInferenceSchema } from './membership-experiment.js';

export const leakageConfigSchema = z.object({
  name: z.string().min(1).default('leakage'),
  seed: z.union([z.number().int(), z.string().min(1)]).default(1),
  backend: z.enum(BACKEND_PREFERENCES, { error: `backend must be one of ${BACKEND_PREFERENCES.join(', ')}` }).default('auto'),
  gradientLeakage: gradientLeakageSchema.optional(),
  membershipInference: membershipInferenceSchema.optional(),
  modelInversion: modelInversionSchema.optional(),
}).strict().superRefine((c, ctx) => {
  if (!c.gradientLeakage && !c.membershipInference && !c.modelInversion) {
    ctx.addIssue({ code: 'custom', message: 'nothing to run: add a gradientLeakage, membershipInference and/or modelInversion section (see examples/leakage/)' });
  }
});
export type LeakageConfig = z.infer<typeof leakageConfigSchema>;
export type LeakageConfigInput = z.input<typeof leakageConfigSchema>;

export function parseLeakageConfig(input: unknown, source = 'leakage config'): LeakageConfig {
  const parsed = leakageConfigSchema.safeParse(input ?? {});
  if (!parsed.success) fail('config', `invalid ${source}:\n${describeIssues(parsed.error)}`);
  return parsed.data;
}
