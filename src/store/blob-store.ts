/**
 * Content-addressed blobs (model parameters) on disk: <dir>/<sha[0:2]>/<sha>. Written atomically
 * (temp + fsync + rename + dir fsync); every read re-hashes, so a flipped bit is an error, not a model.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fail } from '../core/errors.js';
import { fsyncDir, writeFileAtomic } from './atomic-file.js';

const SHA256_HEX = /^[0-9a-f]{64}$/;

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export class BlobStore {
  constructor(readonly dir: string) {}

  pathOf(sha256: string): string {
    if (!SHA256_HEX.test(sha256)) fail('data', `"${sha256}" is not a SHA-256 hex digest`);
    return join(this.dir, sha256.slice(0, 2), sha256);
  }

  /** Stores bytes and returns their SHA-256; a no-op when an intact copy already exists. */
  put(bytes: Uint8Array): string {
    const sha = sha256Hex(bytes);
    const path = this.pathOf(sha);
    if (existsSync(path) && sha256Hex(readFileSync(path)) === sha) return sha;
    const sub = join(this.dir, sha.slice(0, 2));
    if (!existsSync(sub)) {
      mkdirSync(sub, { recursive: true });
      fsyncDir(this.dir);
    }
    writeFileAtomic(path, bytes, { mode: 0o640 });
    return sha;
  }

  /** Reads a blob and checks it still hashes to its name. */
  get(sha256: string): Uint8Array {
    const path = this.pathOf(sha256);
    if (!existsSync(path)) fail('io', `blob ${sha256} is missing (${path})`, 'restore the store directory from backup');
    const bytes = readFileSync(path);
    const actual = sha256Hex(bytes);
    if (actual !== sha256) {
      fail('io', `blob ${sha256} is corrupted: its content hashes to ${actual}`, `restore ${path} from backup; do not load this model`);
    }
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
}
