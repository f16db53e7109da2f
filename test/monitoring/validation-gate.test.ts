import { describe, expect, it } from 'vitest';
import type { Evaluation, Finding } from '../../src/federation/engine.js';
import { gateSchema } from '../../src/monitoring/config.js';
import { gateDecision } from '../../src/monitoring/validation-gate.js';

const cfg = gateSchema.parse({ accuracyTolerance: 0.02, classDropLimit: 0.2 });
const ev = (accuracy: number, perClassAccuracy: number[] = [accuracy, accuracy]): Evaluation => ({ accuracy, loss: 1 - accuracy, perClassAccuracy });
const promoted = { round: 4, evaluation: ev(0.9, [0.9, 0.9]) };
const finding = (type: string, severity: Finding['severity']): Finding => ({ type, severity, round: 5, subject: 'class 7', message: 'probe says so', evidence: {} });

describe('validation gate decision', () => {
  it('promotes a candidate within the accuracy tolerance and class limit', () => {
    expect(gateDecision({ round: 5, evaluation: ev(0.885, [0.8, 0.97]), findings: [] }, promoted, cfg)).toEqual({ promote: true, reasons: [] });
  });

  it('rejects a candidate less accurate than the promoted model minus the tolerance, saying by how much', () => {
    const d = gateDecision({ round: 5, evaluation: ev(0.87), findings: [] }, promoted, cfg);
    expect(d.promote).toBe(false);
    expect(d.reasons).toEqual(["held-out accuracy 87.0% is below the promoted model's 90.0% (round 4) minus the tolerance 2.0%"]);
  });

  it('rejects a class drop beyond the limit even when overall accuracy holds', () => {
    const d = gateDecision({ round: 5, evaluation: ev(0.9, [0.65, 1]), findings: [] }, promoted, cfg);
    expect(d.promote).toBe(false);
    expect(d.reasons).toEqual(['class 0 accuracy fell from 90.0% to 65.0%, more than the class drop limit 20.0%']);
    // a class absent from the promoted model's evaluation (NaN) is not compared
    expect(gateDecision({ round: 5, evaluation: ev(0.9, [0.9, 0]), findings: [] }, { round: 4, evaluation: ev(0.9, [0.9, NaN]) }, cfg).promote).toBe(true);
  });

  it('rejects on a blocking finding at the blocking severity only', () => {
    expect(gateDecision({ round: 5, evaluation: ev(0.9), findings: [finding('backdoor-suspected', 'critical')] }, promoted, cfg).reasons)
      .toEqual(['backdoor-suspected (class 7): probe says so']);
    expect(gateDecision({ round: 5, evaluation: ev(0.9), findings: [finding('backdoor-suspected', 'warning')] }, promoted, cfg).promote).toBe(true);
    expect(gateDecision({ round: 5, evaluation: ev(0.9), findings: [finding('backdoor-suspected', 'warning')] }, promoted, { ...cfg, blockSeverity: 'warning' }).promote).toBe(false);
    expect(gateDecision({ round: 5, evaluation: ev(0.9), findings: [finding('norm-outlier', 'critical')] }, promoted, cfg).promote).toBe(true);
    expect(gateDecision({ round: 5, evaluation: ev(0.9), findings: [finding('norm-outlier', 'critical')] }, promoted, { ...cfg, blockOn: ['norm-outlier'] }).promote).toBe(false);
    // …unless the update it is about never reached the candidate
    const discarded: Finding = { ...finding('norm-outlier', 'critical'), evidence: { aggregated: false } };
    expect(gateDecision({ round: 5, evaluation: ev(0.9), findings: [discarded] }, promoted, { ...cfg, blockOn: ['norm-outlier'] }).promote).toBe(true);
  });

  it('fails closed on a non-finite evaluation, lists every reason, and promotes anything when disabled', () => {
    const bad = gateDecision({ round: 5, evaluation: { accuracy: NaN, loss: NaN, perClassAccuracy: [NaN, 0.9] }, findings: [finding('backdoor-contributor', 'critical')] }, promoted, cfg);
    expect(bad.promote).toBe(false);
    expect(bad.reasons).toHaveLength(3);
    expect(bad.reasons[0]).toMatch(/not finite/);
    expect(bad.reasons[1]).toMatch(/class 0 accuracy fell from 90.0% to NaN/);
    expect(gateDecision({ round: 5, evaluation: ev(0.1), findings: [] }, promoted, { ...cfg, enabled: false })).toEqual({ promote: true, reasons: [] });
  });
});
