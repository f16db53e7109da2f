/**
 * Parsing the options of a registry entry (an aggregator, an attack): one place for the message a
 * user sees when an option is wrong — where, what, and which options exist.
 */
import { z } from 'zod';
import { fail } from './errors.js';

export function formatIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.length > 0 ? `${i.path.join('.')}: ` : ''}${i.message}`).join('; ');
}

/** Validate `raw` against an entry's options schema, or fail naming `path`, the entry and the valid options. */
export function parseEntryOptions<S extends z.ZodType>(options: S, raw: unknown, path: string, what: string): z.output<S> {
  const r = options.safeParse(raw);
  if (!r.success) {
    const keys = options instanceof z.ZodObject ? Object.keys(options.shape as object) : [];
    const name = what.split(' ').pop() ?? what;
    fail('config', `${path}: invalid options for ${what}: ${formatIssues(r.error)}`, keys.length > 0 ? `valid options: ${keys.join(', ')}` : `${name} takes no options`);
  }
  return r.data;
}
