import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { register } from '../../src/cli/commands/pki.js';

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'fedsec-pki-cli-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

async function run(...args: string[]): Promise<string> {
  let stdout = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout += chunk.toString();
    return true;
  });
  try {
    const program = new Command('fedsec').exitOverride().configureOutput({ writeErr: () => undefined });
    register(program);
    await program.parseAsync(['node', 'fedsec', ...args]);
  } finally {
    spy.mockRestore();
  }
  return stdout;
}

describe('fedsec pki', () => {
  it('init → issue → revoke → list', async () => {
    const dir = join(root, 'pki');
    expect(await run('pki', 'init', '--dir', dir, '--name', 'Acme', '--days', '100')).toMatch(/created CA "CN=Acme federation CA, O=Acme" \(ecdsa-p256/);
    await expect(run('pki', 'init', '--dir', dir)).rejects.toThrow(/already holds a federation CA/);
    expect(await run('pki', 'issue', '--dir', dir, '--coordinator', 'localhost, 127.0.0.1')).toMatch(/issued coordinator/);
    expect(await run('pki', 'issue', '--dir', dir, '--participant', 'alice', '--org', 'Hospital A', '--days', '30')).toMatch(/issued participant "alice"/);
    expect(statSync(join(dir, 'participants', 'alice.key')).mode & 0o777).toBe(0o600);
    await run('pki', 'issue', '--dir', dir, '--participant', 'bob');
    expect(await run('pki', 'revoke', '--dir', dir, 'bob', '--reason', 'key-compromise')).toMatch(/revoked participant "bob"/);

    const list = JSON.parse(await run('pki', 'list', '--dir', dir, '--json')) as {
      federation: string;
      crl: { number: number };
      certificates: { name: string; status: string; hosts?: string[]; revoked?: { reason: string } }[];
    };
    expect(list.federation).toBe('Acme');
    expect(list.crl.number).toBe(2);
    expect(list.certificates.map((c) => [c.name, c.status])).toEqual([['coordinator', 'active'], ['alice', 'active'], ['bob', 'revoked']]);
    expect(list.certificates[0]?.hosts).toEqual(['localhost', '127.0.0.1']);
    expect(await run('pki', 'list', '--dir', dir)).toMatch(/revoked\s+[0-9a-f]{32}\s+bob\s+until .* key-compromise/);
    expect(await run('pki', 'crl', '--dir', dir, '--days', '7')).toMatch(/CRL #3 signed/);
  });

  it('explains wrong usage', async () => {
    const dir = join(root, 'pki2');
    await run('pki', 'init', '--dir', dir);
    await expect(run('pki', 'issue', '--dir', dir)).rejects.toThrow(/exactly one of --participant NAME or --coordinator/);
    await expect(run('pki', 'issue', '--dir', dir, '--coordinator', 'localhost', '--org', 'X')).rejects.toThrow(/--org applies to participants only/);
    await expect(run('pki', 'issue', '--dir', dir, '--participant', 'a', '--days', '1.5')).rejects.toThrow(/whole number of days/);
    await expect(run('pki', 'revoke', '--dir', dir, 'ghost')).rejects.toThrow(/no active certificate for "ghost"/);
    await expect(run('pki', 'revoke', '--dir', dir, 'x', '--reason', 'bored')).rejects.toThrow(/Allowed choices/);
  });
});
