import { Command, CommanderError } from 'commander';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { register } from '../../src/cli/commands/privacy.js';
import { FedsecError } from '../../src/core/errors.js';
import { RdpAccountant } from '../../src/privacy/rdp-accountant.js';

/** The privacy subcommand on a program configured like buildProgram() (exitOverride), run in-process. */
async function run(...args: string[]): Promise<string> {
  const program = new Command('fedsec').exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
  register(program);
  let out = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  });
  try {
    await program.parseAsync(['node', 'fedsec', ...args]);
  } finally {
    spy.mockRestore();
  }
  return out;
}

afterEach(() => {
  vi.restoreAllMocks();
});

const opacus = ['--sampling-rate', '0.04', '--noise-multiplier', '1.5', '--steps', '2250', '--delta', '1e-5'];

describe('fedsec privacy epsilon', () => {
  it('prints ε and the best order', async () => {
    const out = await run('privacy', 'epsilon', ...opacus);
    expect(out).toMatch(/^ε = 7\.32934 at δ = 0\.00001 \(best Rényi order 3\.9\)\n/);
  });

  it('--json gives the accountant’s exact numbers', async () => {
    const j = JSON.parse(await run('privacy', 'epsilon', ...opacus, '--json')) as Record<string, unknown>;
    const ref = new RdpAccountant().compose({ noiseMultiplier: 1.5, samplingRate: 0.04, steps: 2250 }).epsilon(1e-5);
    expect(j).toEqual({ epsilon: ref.epsilon, delta: 1e-5, order: 3.9, samplingRate: 0.04, noiseMultiplier: 1.5, steps: 2250 });
  });

  it('rejects bad arguments with messages that name the flag', async () => {
    await expect(run('privacy', 'epsilon', ...opacus.slice(0, 6), '--delta', '2')).rejects.toThrow(/--delta must be a number in \(0, 1\).*got '2'/);
    await expect(
      run('privacy', 'epsilon', '--sampling-rate', 'abc', '--noise-multiplier', '1', '--steps', '1.5', '--delta', '1e-5'),
    ).rejects.toThrow(/--sampling-rate must be a number in \[0, 1\].*got 'abc'.*--steps must be a whole number/);
    await expect(run('privacy', 'epsilon', '--sampling-rate', '0.1')).rejects.toBeInstanceOf(CommanderError);
  });
});

describe('wiring', () => {
  it('is registered in the real program (buildProgram)', async () => {
    const { buildProgram } = await import('../../src/cli/main.js');
    const program = buildProgram().configureOutput({ writeErr: () => {}, writeOut: () => {} });
    let out = '';
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      out += String(chunk);
      return true;
    });
    try {
      await program.parseAsync(['node', 'fedsec', 'privacy', 'epsilon', ...opacus, '--json']);
    } finally {
      spy.mockRestore();
    }
    expect((JSON.parse(out) as { order: number }).order).toBe(3.9);
  });
});

describe('fedsec privacy calibrate', () => {
  it('finds the noise multiplier (round trip with the Opacus setting)', async () => {
    const args = ['--epsilon', '7.3293347', '--delta', '1e-5', '--sampling-rate', '0.04', '--steps', '2250'];
    const j = JSON.parse(await run('privacy', 'calibrate', ...args, '--json')) as { noiseMultiplier: number; epsilon: number };
    expect(Math.abs(j.noiseMultiplier / 1.5 - 1)).toBeLessThan(2e-6);
    expect(j.epsilon).toBeLessThanOrEqual(7.3293347);
    expect(await run('privacy', 'calibrate', ...args)).toMatch(/^noise multiplier z = 1\.50000\d\d \(reaches ε = 7\.3293\d ≤ 7\.3293347/);
  });

  it('reports impossible targets as FedsecError', async () => {
    const err = await run('privacy', 'calibrate', '--epsilon', '0.001', '--delta', '1e-5', '--sampling-rate', '0.1', '--steps', '10').catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(FedsecError);
    expect((err as FedsecError).message).toMatch(/raise ε or δ/);
  });
});
