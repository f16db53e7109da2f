/**
 * `npm run bench [name …] [-- options]`: runs the named benchmark suites (all by default).
 * Each suite is bench/<name>.bench.ts exporting `run(args)`; it measures its own baseline in the
 * same run and prints ratios, so numbers are comparable across machines.
 */
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

interface BenchModule {
  run(args: string[]): Promise<void>;
}

const here = dirname(fileURLToPath(import.meta.url));
const available = readdirSync(here)
  .filter((f) => f.endsWith('.bench.ts'))
  .map((f) => f.replace(/\.bench\.ts$/, ''))
  .sort();

const args = process.argv.slice(2);
const names = args.filter((a) => !a.startsWith('-') && available.includes(a));
const unknown = args.filter((a) => !a.startsWith('-') && !available.includes(a) && !a.includes('='));
if (unknown.length > 0) {
  console.error(`unknown benchmark(s): ${unknown.join(', ')}; available: ${available.join(', ')}`);
  process.exit(2);
}
const options = args.filter((a) => a.startsWith('-') || a.includes('='));

for (const name of names.length > 0 ? names : available) {
  console.log(`\n## ${name}\n`);
  const mod = (await import(pathToFileURL(join(here, `${name}.bench.ts`)).href)) as BenchModule;
  await mod.run(options);
}
