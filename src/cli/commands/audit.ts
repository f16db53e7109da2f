/**
 * `fedsec audit verify`: checks an audit log's hash chain; exit 0 when intact, 1 when not.
 */
import type { Command } from 'commander';
import type { AuditHead } from '../../audit/audit-entry.js';
import { verifyAuditLog } from '../../audit/verify-audit-log.js';
import { fail } from '../../core/errors.js';
import { CoordinatorStore } from '../../store/coordinator-store.js';

function parseAnchor(value: string): AuditHead {
  const m = /^(\d+):([0-9a-f]{64})$/.exec(value);
  if (!m) fail('config', `--anchor must be SEQ:SHA256HEX (e.g. 42:3fa1…, 64 hex digits), got "${value}"`);
  return { seq: Number(m[1]), hash: m[2] as string };
}

export function register(program: Command): void {
  const audit = program.command('audit').description('Inspect the coordinator audit log');
  audit
    .command('verify')
    .description('Verify the hash chain of an audit log (exit 0 intact, 1 tampered or damaged)')
    .requiredOption('--log <file>', 'audit log (JSON lines)')
    .option('--anchor <seq:hash>', 'a head recorded elsewhere; detects entries cut off the end', parseAnchor)
    .option('--store <dir>', 'coordinator store directory: use the audit head recorded with the last committed round as anchor')
    .option('--json', 'machine-readable output', false)
    .action((o: { log: string; anchor?: AuditHead; store?: string; json: boolean }) => {
      let anchor = o.anchor;
      if (o.store !== undefined) {
        if (anchor !== undefined) fail('config', 'pass either --anchor or --store, not both');
        const store = CoordinatorStore.open(o.store, { readonly: true });
        try {
          anchor = store.auditAnchor();
        } finally {
          store.close();
        }
      }
      const result = verifyAuditLog(o.log, anchor === undefined ? {} : { anchor });
      if (o.json) {
        process.stdout.write(`${JSON.stringify({ log: o.log, ...(anchor === undefined ? {} : { anchor }), ...result })}\n`);
      } else if (result.ok) {
        process.stdout.write(`audit log intact: ${result.entries} entries, head seq ${result.head.seq} ${result.head.hash}${anchor ? ` (anchor seq ${anchor.seq} matches)` : ''}\n`);
      } else {
        process.stdout.write(`audit log FAILED at seq ${result.seq} (line ${result.line}): ${result.reason}: ${result.message}\n`);
        process.stdout.write(`  ${result.validEntries} entries before it verify; last good head seq ${result.head.seq} ${result.head.hash}\n`);
      }
      if (!result.ok) process.exitCode = 1;
    });
}
