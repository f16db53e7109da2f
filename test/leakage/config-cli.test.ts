import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { register } from '../../src/cli/commands/attack.js';
import { FedsecError } from '../../src/core/errors.js';
import { parseLeakageConfig } from '../../src/attacks/privacy/leakage-config.js';

function configError(input: unknown): string {
  try {
    parseLeakageConfig(input, 'test.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(FedsecError);
    return (err as Error).message;
  }
  throw new Error('expected the config to be rejected');
}

describe('leakage config validation', () => {
  it('fills defaults for a minimal section', () => {
    const c = parseLeakageConfig({ gradientLeakage: {} });
    expect(c.gradientLeakage).toMatchObject({ victim: { kind: 'lenet', channels: 12, activation: 'sigmoid' }, observation: 'fedsgd', batchSizes: [1], optimizer: { kind: 'lbfgs', iterations: 100 }, distance: 'scaled-l2', defences: [{ kind: 'none' }] });
    expect(c.seed).toBe(1);
  });

  it('says what to change, with the path of every problem', () => {
    expect(configError({})).toMatch(/nothing to run: add a gradientLeakage, membershipInference and\/or modelInversion section/);
    const many = configError({
      gradientLeakage: { batchSizes: [1, 9], defences: [{ kind: 'client-dp', epsilon: -1 }, { kind: 'secagg', participants: 1 }, { kind: 'topk', keep: 2 }] },
      membershipInference: { shadows: 1, settings: [{ name: 'x', members: 30, participants: 40 }] },
      bogus: true,
    });
    expect(many).toMatch(/invalid test\.yaml/);
    expect(many).toMatch(/gradientLeakage\.batchSizes\.1: batch sizes are 1…8/);
    expect(many).toMatch(/gradientLeakage\.defences\.0\.epsilon.*epsilon must be a positive number/);
    expect(many).toMatch(/gradientLeakage\.defences\.1\.participants: secure aggregation needs at least 2 participants/);
    expect(many).toMatch(/gradientLeakage\.defences\.2\.keep: keep is the fraction of coordinates sent, in \(0, 1\]/);
    expect(many).toMatch(/membershipInference\.shadows: LiRA needs at least 2 shadows \(or 0 to skip it\)/);
    expect(many).toMatch(/bogus/);
  });

  it('rejects unknown defences and victims with the allowed choices', () => {
    expect(configError({ gradientLeakage: { defences: [{ kind: 'homomorphic' }] } })).toMatch(/gradientLeakage\.defences\.0\.kind/);
    expect(configError({ gradientLeakage: { victim: { kind: 'lenet', activation: 'elu' } } })).toMatch(/victim\.activation/);
    expect(configError({ membershipInference: { settings: [{ name: 'x', members: 30, participants: 40 }] } })).toMatch(/40 participants cannot share 30 members/);
    expect(configError({ modelInversion: {}, backend: 'gpu' })).toMatch(/backend must be one of auto, tensorflow, wasm, cpu/);
  });
});

async function run(...args: string[]): Promise<string> {
  const program = new Command('fedsec').exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
  register(program);
  let out = '';
  vi.spyOn(console, 'log').mockImplementation((...parts: unknown[]) => {
    out += `${parts.join(' ')}\n`;
  });
  await program.parseAsync(['node', 'fedsec', ...args]);
  return out;
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('fedsec attack leakage', () => {
  it('turns a bad config file into an actionable error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedsec-leakage-'));
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'gradientLeakage:\n  trials: 0\n');
    await expect(run('attack', 'leakage', '-c', file, '-o', dir, '-q')).rejects.toThrow(/gradientLeakage\.trials/);
    await expect(run('attack', 'leakage', '-c', join(dir, 'missing.yaml'), '-q')).rejects.toThrow(/cannot read config file/);
  });

  it('runs a tiny grid end to end and writes results.json and a self-contained report', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedsec-leakage-'));
    const file = join(dir, 'tiny.json');
    writeFileSync(file, JSON.stringify({
      name: 'tiny',
      backend: 'wasm',
      gradientLeakage: {
        victim: { kind: 'mlp', hidden: [8], activation: 'sigmoid' },
        trials: 1,
        attacks: ['idlg', 'analytic'],
        optimizer: { kind: 'lbfgs', iterations: 3 },
        distractors: 20,
        defences: [{ kind: 'none' }, { kind: 'secagg', participants: 2 }],
      },
      membershipInference: { settings: [{ name: 's', members: 24, participants: 2, rounds: 1, training: { epochs: 1, batchSize: 8 } }], shadows: 2 },
      modelInversion: { members: 100, participants: 2, rounds: 1, iterations: 3 },
    }));
    const out = await run('attack', 'leakage', '-c', file, '-o', dir, '-q');
    expect(out).toMatch(/wrote .*results\.json/);
    const results = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as {
      gradientLeakage: { cells: { defence: string; attack: string; labelAccuracy: number; psnrMean: number | null }[]; images?: unknown };
      membershipInference: { rows: { auc: number; target: string }[] };
      modelInversion: { rows: { identified: number }[] };
    };
    const cells = results.gradientLeakage.cells;
    expect(cells.map((c) => `${c.defence}/${c.attack}`)).toEqual(['none/idlg', 'none/analytic', 'secagg K=2/idlg', 'secagg K=2/analytic']);
    // Batch 1 with no defence: the analytic attack is exact (capped at 100 dB) and the label is right.
    expect(cells[1]!.psnrMean).toBe(100);
    expect(cells[0]!.labelAccuracy).toBe(1);
    expect(results.gradientLeakage.images).toBeUndefined();
    expect(results.membershipInference.rows.length).toBeGreaterThanOrEqual(4);
    results.membershipInference.rows.forEach((r) => expect(r.auc).toBeGreaterThanOrEqual(0));
    expect(results.modelInversion.rows).toHaveLength(1);
    const html = readFileSync(join(dir, 'report.html'), 'utf8');
    expect(html).toMatch(/<img src="data:image\/png;base64,/);
    expect(html).toMatch(/<svg[^>]*aria-label="ROC: s — global model"/);
    expect(html).not.toMatch(/https?:\/\/(?!www\.w3\.org)/); // no network references
    expect(existsSync(join(dir, 'report.html'))).toBe(true);
  });
});
