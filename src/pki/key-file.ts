/**
 * Private key files: written 0600 atomically, and refused on read when group or others can read
 * them (like ssh), because a leaked participant key is a participant impersonated.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { fail } from '../core/errors.js';
import { writeFileAtomic } from '../store/atomic-file.js';

export function writePrivateKeyFile(path: string, pem: string): void {
  writeFileAtomic(path, pem, { mode: 0o600 });
}

export function readPrivateKeyFile(path: string): string {
  if (!existsSync(path)) fail('io', `private key ${path} does not exist`, 'check the path, or issue it with `fedsec pki issue`');
  const mode = statSync(path).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    fail('auth', `private key ${path} is readable by group or others (mode ${mode.toString(8)})`, `run \`chmod 600 ${path}\``);
  }
  return readFileSync(path, 'utf8');
}
