/**
 * One registry mechanism for everything a config names by `{ name, ...options }` (aggregators,
 * attacks): name → description, options schema (zod, with defaults), factory and traits. Nested
 * specs (a wrapper's `inner`, a Sybil's `base`) are resolved through the same registry. Unknown names
 * and invalid options fail with a message that lists what is valid.
 *
 * A newcomer adds an entry with one call — `registry.define(name, { … })` in its own file, or
 * `registry.register(…)` from outside the package (the public API uses the same registries as the CLI).
 */
import { z } from 'zod';
import { fail } from './errors.js';
import { parseEntryOptions } from './options.js';

/** A config's reference to a registry entry: its name plus its options. */
export const registrySpecSchema = z.looseObject({ name: z.string().min(1) });
export type RegistrySpec = z.infer<typeof registrySpecSchema>;

export interface EntryDefinition<T, Traits, S extends z.ZodType<Record<string, unknown>>> {
  readonly description: string;
  readonly options: S;
  /** Build the thing; `nested(spec, key)` builds a nested spec (e.g. an `inner` aggregator) from this registry. */
  build(options: z.output<S>, at: BuildContext<T, Traits>): T;
  /** What may be assumed of the thing configured this way (a value, or a function of the options). */
  readonly traits: Traits | ((options: z.output<S>, at: BuildContext<T, Traits>) => Traits);
  /** Option keys whose values are specs of this same registry (resolved and validated recursively). */
  readonly nested?: readonly string[];
}

export interface BuildContext<T, Traits> {
  /** Where in the config this spec sits, for messages (e.g. `aggregation.inner`). */
  readonly path: string;
  create(spec: unknown, key: string): T;
  traits(spec: unknown, key: string): Traits;
}

interface Entry<T, Traits> {
  readonly description: string;
  readonly options: z.ZodType;
  readonly nested: readonly string[];
  /** The traits, when they do not depend on the options. */
  readonly fixedTraits: Traits | undefined;
  create(options: unknown, at: BuildContext<T, Traits>): T;
  traits(options: unknown, at: BuildContext<T, Traits>): Traits;
  parse(options: unknown, path: string): Record<string, unknown>;
}

export class Registry<T, Traits> {
  private readonly entries = new Map<string, Entry<T, Traits>>();

  /** `what` names an entry in messages ("aggregator", "attack"); `example` is a valid spec. */
  constructor(
    readonly what: string,
    private readonly example: string,
  ) {}

  define<S extends z.ZodType<Record<string, unknown>>>(name: string, def: EntryDefinition<T, Traits, S>): this {
    if (this.entries.has(name)) fail('config', `${this.what} "${name}" is already registered`, 'pick another name');
    const parse = (raw: unknown, path: string): z.output<S> => parseEntryOptions(def.options, raw, path, `${this.what} "${name}"`);
    this.entries.set(name, {
      description: def.description,
      options: def.options,
      nested: def.nested ?? [],
      fixedTraits: typeof def.traits === 'function' ? undefined : def.traits,
      create: (raw, at) => def.build(parse(raw, at.path), at),
      traits: (raw, at) => (typeof def.traits === 'function' ? (def.traits as (o: z.output<S>, a: BuildContext<T, Traits>) => Traits)(parse(raw, at.path), at) : def.traits),
      parse: (raw, path) => parse(raw, path) as Record<string, unknown>,
    });
    return this;
  }

  /** Entry names; `filter` sees the traits of entries whose traits do not depend on options. */
  names(filter?: (traits: Traits | undefined, name: string) => boolean): string[] {
    return [...this.entries].filter(([name, e]) => !filter || filter(e.fixedTraits, name)).map(([name]) => name);
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  private lookup(spec: unknown, path: string): { entry: Entry<T, Traits>; name: string; options: Record<string, unknown> } {
    const parsed = registrySpecSchema.safeParse(spec);
    if (!parsed.success) {
      fail('config', `${path}: ${/^[aeiou]/.test(this.what) ? 'an' : 'a'} ${this.what} spec is an object with a "name", got ${JSON.stringify(spec)}`, `e.g. ${this.example}; valid names: ${this.names().join(', ')}`);
    }
    const { name, ...options } = parsed.data;
    const entry = this.entries.get(name);
    if (entry === undefined) fail('config', `${path}: unknown ${this.what} "${name}"`, `use one of: ${this.names().join(', ')}`);
    return { entry, name, options };
  }

  private context(path: string): BuildContext<T, Traits> {
    return {
      path,
      create: (spec, key) => this.create(spec, `${path}.${key}`),
      traits: (spec, key) => this.traits(spec, `${path}.${key}`),
    };
  }

  /** Validate a spec and build it (stateful things: one per training run). */
  create(spec: unknown, path: string = this.what): T {
    const { entry, options } = this.lookup(spec, path);
    return entry.create(options, this.context(path));
  }

  traits(spec: unknown, path: string = this.what): Traits {
    const { entry, options } = this.lookup(spec, path);
    return entry.traits(options, this.context(path));
  }

  /** The spec with every default filled in (nested specs too): what a run record should store. */
  resolve(spec: unknown, path: string = this.what): RegistrySpec {
    const { entry, name, options } = this.lookup(spec, path);
    const resolved = entry.parse(options, path);
    for (const key of entry.nested) {
      if (resolved[key] !== undefined) resolved[key] = this.resolve(resolved[key], `${path}.${key}`);
    }
    return { name, ...resolved };
  }

  /** For listings and docs: each entry with its description and options as JSON Schema. */
  describe(): { name: string; description: string; options: unknown; traits?: Traits }[] {
    return [...this.entries].map(([name, e]) => ({
      name,
      description: e.description,
      options: z.toJSONSchema(e.options, { io: 'input', unrepresentable: 'any' }),
      ...(e.fixedTraits !== undefined ? { traits: e.fixedTraits } : {}),
    }));
  }
}
