/**
 * Runs the configured privacy-attack experiments one after another (each is single-threaded tfjs;
 * the machine is shared) and writes results.json + report.html.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadMnist } from '../../data/mnist.js';
import { initRuntime, type RuntimeInfo } from '../../model/backend.js';
import { runGradientLeakage, type GradientLeakageResult, type ProgressFn } from './gradient-leakage-experiment.js';
import { runModelInversion, type ModelInversionResult } from './inversion-experiment.js';
import type { LeakageConfig } from './leakage-config.js';
import { leakageReportHtml } from './leakage-report.js';
import { runMembershipInference, type MembershipInferenceResult } from './membership-experiment.js';

export interface LeakageResults {
  readonly name: string;
  readonly seed: number | string;
  readonly config: LeakageConfig;
  readonly runtime: RuntimeInfo;
  readonly startedAt: string;
  readonly totalSeconds: number;
  readonly gradientLeakage?: GradientLeakageResult;
  readonly membershipInference?: MembershipInferenceResult;
  readonly modelInversion?: ModelInversionResult;
}

export async function runLeakageExperiments(config: LeakageConfig, progress: ProgressFn = () => {}): Promise<LeakageResults> {
  const runtime = await initRuntime(config.backend);
  const startedAt = new Date().toISOString();
  const started = performance.now();
  const data = loadMnist();
  const gradientLeakage = config.gradientLeakage ? await runGradientLeakage(config.gradientLeakage, data, config.seed, progress) : undefined;
  const membershipInference = config.membershipInference ? await runMembershipInference(config.membershipInference, data, config.seed, progress) : undefined;
  const modelInversion = config.modelInversion ? await runModelInversion(config.modelInversion, data, config.seed, progress) : undefined;
  return {
    name: config.name,
    seed: config.seed,
    config,
    runtime,
    startedAt,
    totalSeconds: (performance.now() - started) / 1000,
    ...(gradientLeakage ? { gradientLeakage } : {}),
    ...(membershipInference ? { membershipInference } : {}),
    ...(modelInversion ? { modelInversion } : {}),
  };
}

/** results.json without pixel data (images are in the HTML report only). */
export function resultsJson(results: LeakageResults): string {
  const { gradientLeakage, modelInversion, ...rest } = results;
  const slim = {
    ...rest,
    ...(gradientLeakage ? { gradientLeakage: { ...gradientLeakage, images: undefined } } : {}),
    ...(modelInversion
      ? { modelInversion: { ...modelInversion, classMeans: undefined, rows: modelInversion.rows.map((r) => ({ ...r, images: undefined })) } }
      : {}),
  };
  // JSON has no ±Infinity: exact reconstructions (PSNR = ∞) and open thresholds become null.
  return `${JSON.stringify(slim, null, 2)}\n`;
}

export function writeLeakageOutputs(results: LeakageResults, outDir: string): { results: string; report: string } {
  mkdirSync(outDir, { recursive: true });
  const resultsPath = join(outDir, 'results.json');
  const reportPath = join(outDir, 'report.html');
  writeFileSync(resultsPath, resultsJson(results));
  writeFileSync(reportPath, leakageReportHtml(results));
  return { results: resultsPath, report: reportPath };
}
