/**
 * The TensorFlow.js runtime fedsec trains on. Backend choice, in 'auto' order:
 *  1. 'tensorflow' (native libtensorflow) when the user has @tensorflow/tfjs-node installed — an
 *     optional peer we only ever load by dynamic import;
 *  2. 'wasm' with our tuned training kernels (./wasm-kernels): the default; a small MNIST CNN
 *     trains 130–190× faster than on cpu (bench/runtime.bench.ts);
 *  3. 'cpu' (plain JS) as the last resort, with a process warning saying why.
 *
 * Every worker_thread has its own tfjs engine, so each worker calls initRuntime once; repeated
 * calls in one thread are cheap and return the same answer.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join, sep } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
// tfjs-layers registers the gradients tfjs-core's node bundle leaves out (e.g. Neg).
import * as tfl from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { fail } from '../core/errors.js';
import { installChainedOps } from './chained-ops.js';
import { registerTunedWasmKernels, tunedWasmKernels } from './wasm-kernels/index.js';

export { tf, tfl };

// tfjs-layers needs method-style ops (LSTM's orthogonal init calls `.flatten()`) that the full
// tfjs package would install; every backend needs them, so do it when the runtime is loaded.
installChainedOps();

export const BACKEND_PREFERENCES = ['auto', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendPreference = (typeof BACKEND_PREFERENCES)[number];
export type BackendName = Exclude<BackendPreference, 'auto'>;

export interface RuntimeInfo {
  backend: BackendName;
  /** Kernels fedsec registered on top of the stock backend (wasm only). */
  tunedKernels: string[];
  /** Why 'auto' skipped a faster backend, if it did. */
  notes: string[];
}

const NATIVE_PACKAGE = '@tensorflow/tfjs-node';
const WASM_PACKAGE = '@tensorflow/tfjs-backend-wasm';
const WASM_BINARIES = ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm'];

const runtimes = new Map<BackendPreference, Promise<RuntimeInfo>>();

/**
 * Selects (and on first use initialises) the backend; resolves once tfjs runs on it. Explicit
 * preferences fail with an actionable FedsecError when that backend cannot be used.
 */
export async function initRuntime(preference: BackendPreference = 'auto'): Promise<RuntimeInfo> {
  if (!(BACKEND_PREFERENCES as readonly string[]).includes(preference)) {
    fail('config', `unknown backend "${String(preference)}"`, `use one of ${BACKEND_PREFERENCES.join(', ')}`);
  }
  let pending = runtimes.get(preference);
  if (pending === undefined) {
    pending = resolveRuntime(preference);
    runtimes.set(preference, pending);
    pending.catch(() => runtimes.delete(preference));
  }
  const info = await pending;
  // Someone may have switched backends since (tests compare backends in one process).
  if (tf.getBackend() !== info.backend) await activate(info.backend);
  return { ...info, tunedKernels: [...info.tunedKernels], notes: [...info.notes] };
}

async function resolveRuntime(preference: BackendPreference): Promise<RuntimeInfo> {
  if (preference === 'tensorflow') {
    const native = await loadNative();
    if (!native.ok) {
      fail('config', `the "tensorflow" backend is unavailable: ${native.reason}`,
        `install ${NATIVE_PACKAGE} matching @tensorflow/tfjs-core ${tf.version_core}, or choose backend "wasm"`);
    }
    await activate('tensorflow');
    return { backend: 'tensorflow', tunedKernels: [], notes: [] };
  }
  if (preference === 'wasm') return { ...(await startWasm()), notes: [] };
  if (preference === 'cpu') {
    await activate('cpu');
    return { backend: 'cpu', tunedKernels: [], notes: [] };
  }

  const notes: string[] = [];
  const native = await loadNative();
  if (native.ok) {
    await activate('tensorflow');
    return { backend: 'tensorflow', tunedKernels: [], notes };
  }
  if (!native.missing) notes.push(`${NATIVE_PACKAGE} is installed but unusable: ${native.reason}`);
  try {
    return { ...(await startWasm()), notes };
  } catch (err) {
    notes.push(`wasm backend failed: ${err instanceof Error ? err.message : String(err)}`);
  }
  await activate('cpu');
  process.emitWarning(`fedsec falls back to the slow tfjs cpu backend (${notes.join('; ')})`, 'FedsecRuntimeWarning');
  return { backend: 'cpu', tunedKernels: [], notes };
}

type NativeLoad = { ok: true } | { ok: false; missing: boolean; reason: string };

async function loadNative(): Promise<NativeLoad> {
  if (tf.findBackendFactory('tensorflow') != null) return { ok: true };
  try {
    // A variable specifier: tfjs-node is optional and must never be resolved at build time.
    const specifier: string = NATIVE_PACKAGE;
    await import(specifier);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    const missing = code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND';
    return { ok: false, missing, reason: missing ? 'it is not installed' : String(err) };
  }
  if (tf.findBackendFactory('tensorflow') == null) {
    // It registered into another copy of tfjs-core (version mismatch), invisible to ours.
    return { ok: false, missing: false, reason: `it did not register with @tensorflow/tfjs-core ${tf.version_core}` };
  }
  return { ok: true };
}

let wasmPathsSet = false;

/**
 * Points the wasm backend at its .wasm files next to the package's entry point, found by Node's
 * resolver from this file: the same answer from src/ (tsx, vitest) and from compiled dist/.
 */
function configureWasmPaths(): void {
  if (wasmPathsSet) return;
  const dir = dirname(createRequire(import.meta.url).resolve(WASM_PACKAGE));
  const missing = WASM_BINARIES.filter((f) => !existsSync(join(dir, f)));
  if (missing.length > 0) {
    fail('io', `${WASM_PACKAGE} is missing ${missing.join(', ')} in ${dir}`, `reinstall ${WASM_PACKAGE}`);
  }
  setWasmPaths(dir.endsWith(sep) ? dir : dir + sep);
  wasmPathsSet = true;
}

async function startWasm(): Promise<{ backend: 'wasm'; tunedKernels: string[] }> {
  configureWasmPaths();
  // Before the backend starts, so tfjs runs the (kept) stock setup functions for our wrappers too.
  registerTunedWasmKernels();
  await activate('wasm');
  return { backend: 'wasm', tunedKernels: tunedWasmKernels() };
}

async function activate(name: BackendName): Promise<void> {
  let ok: boolean;
  try {
    ok = await tf.setBackend(name);
  } catch (err) {
    fail('internal', `could not start the tfjs "${name}" backend: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!ok || tf.getBackend() !== name) {
    fail('internal', `could not start the tfjs "${name}" backend (tfjs logged the cause above)`,
      name === 'cpu' ? undefined : 'choose another backend, e.g. "cpu"');
  }
}
