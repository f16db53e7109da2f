/**
 * Model parameters cross every module boundary as one flat Float32Array plus a layout that says
 * which slice is which tensor. This is the currency of aggregation, DP, secure aggregation and
 * attacks; only src/model knows about tfjs tensors.
 */
import { z } from 'zod';
import { fail } from './errors.js';
import type { Vector } from './vector.js';

export interface LayoutEntry {
  readonly name: string;
  readonly shape: readonly number[];
  readonly offset: number;
  readonly size: number;
}

export interface ParamLayout {
  readonly entries: readonly LayoutEntry[];
  /** Total number of parameters (length of the flat vector). */
  readonly size: number;
}

export interface FlatParams {
  readonly layout: ParamLayout;
  readonly values: Vector;
}

export function makeLayout(tensors: readonly { name: string; shape: readonly number[] }[]): ParamLayout {
  let offset = 0;
  const seen = new Set<string>();
  const entries = tensors.map(({ name, shape }) => {
    if (seen.has(name)) fail('shape', `duplicate parameter name "${name}" in layout`);
    seen.add(name);
    if (shape.some((d) => !Number.isInteger(d) || d < 0)) fail('shape', `parameter "${name}" has an invalid shape [${shape.join(', ')}]`);
    const size = shape.reduce((p, d) => p * d, 1);
    const entry: LayoutEntry = { name, shape: [...shape], offset, size };
    offset += size;
    return entry;
  });
  return { entries, size: offset };
}

export function sameLayout(a: ParamLayout, b: ParamLayout): boolean {
  if (a.size !== b.size || a.entries.length !== b.entries.length) return false;
  return a.entries.every((e, i) => {
    const o = b.entries[i]!;
    return e.name === o.name && e.offset === o.offset && e.shape.length === o.shape.length && e.shape.every((d, k) => d === o.shape[k]);
  });
}

/** Concatenate per-tensor arrays (in layout order) into one vector. */
export function flatten(layout: ParamLayout, parts: readonly ArrayLike<number>[]): Vector {
  if (parts.length !== layout.entries.length) fail('shape', `expected ${layout.entries.length} tensors, got ${parts.length}`);
  const out = new Float32Array(layout.size);
  layout.entries.forEach((e, i) => {
    const part = parts[i]!;
    if (part.length !== e.size) fail('shape', `tensor "${e.name}" has ${part.length} values, layout says ${e.size}`);
    out.set(part, e.offset);
  });
  return out;
}

/** Views (no copy) of each tensor's slice of the flat vector, in layout order. */
export function unflatten(layout: ParamLayout, values: Vector): Float32Array[] {
  if (values.length !== layout.size) fail('shape', `vector has ${values.length} values, layout expects ${layout.size}`);
  return layout.entries.map((e) => values.subarray(e.offset, e.offset + e.size));
}

// --- binary (de)serialisation -----------------------------------------------------------------
// Format: "FSP1" | u32 LE header length | JSON header {layout} | zero padding to 4 bytes | f32 LE values.

const MAGIC = 'FSP1';

const layoutSchema = z.object({
  entries: z.array(
    z.object({
      name: z.string().min(1).max(256),
      shape: z.array(z.number().int().nonnegative()).max(8),
    }),
  ).max(10_000),
});

export function serializeParams({ layout, values }: FlatParams): Buffer {
  if (values.length !== layout.size) fail('shape', `vector has ${values.length} values, layout expects ${layout.size}`);
  const header = Buffer.from(JSON.stringify({ entries: layout.entries.map(({ name, shape }) => ({ name, shape })) }), 'utf8');
  const headerEnd = 8 + header.length;
  const dataStart = Math.ceil(headerEnd / 4) * 4;
  const out = Buffer.alloc(dataStart + values.length * 4);
  out.write(MAGIC, 0, 'ascii');
  out.writeUInt32LE(header.length, 4);
  header.copy(out, 8);
  const data = new Float32Array(out.buffer, out.byteOffset + dataStart, values.length);
  data.set(values);
  return out;
}

export function deserializeParams(buf: Uint8Array, maxParams = 100_000_000): FlatParams {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.length < 8 || b.toString('ascii', 0, 4) !== MAGIC) fail('io', 'not a fedsec parameter blob (bad magic)');
  const headerLen = b.readUInt32LE(4);
  if (8 + headerLen > b.length) fail('io', `parameter blob truncated: header says ${headerLen} bytes`);
  let parsedJson: unknown;
  try {
    parsedJson = JSON.parse(b.toString('utf8', 8, 8 + headerLen));
  } catch {
    fail('io', 'parameter blob header is not valid JSON');
  }
  const parsed = layoutSchema.safeParse(parsedJson);
  if (!parsed.success) fail('io', `parameter blob header is malformed: ${parsed.error.issues[0]?.message ?? 'unknown'}`);
  const layout = makeLayout(parsed.data.entries);
  if (layout.size > maxParams) fail('io', `parameter blob declares ${layout.size} values, more than the limit ${maxParams}`);
  const dataStart = Math.ceil((8 + headerLen) / 4) * 4;
  const expected = dataStart + layout.size * 4;
  if (b.length !== expected) fail('io', `parameter blob has ${b.length} bytes, expected ${expected}`);
  // Copy so the result does not alias (and keep alive) the caller's buffer.
  const values = new Float32Array(layout.size);
  values.set(new Float32Array(b.buffer.slice(b.byteOffset + dataStart, b.byteOffset + expected)));
  return { layout, values };
}
