#!/usr/bin/env node
// Thin launcher: the CLI lives in the compiled package (npm install runs `prepare`, which builds dist/).
import { main } from '../dist/cli/main.js';

main(process.argv).catch((err) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exitCode = 1;
});
