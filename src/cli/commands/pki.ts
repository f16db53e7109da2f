/**
 * `fedsec pki`: run the federation CA — init, issue, revoke, list, and re-sign the CRL.
 */
import { Option, type Command } from 'commander';
import { fail } from '../../core/errors.js';
import {
  certificateStatus,
  initPki,
  issueCoordinator,
  issueParticipant,
  renewCrl,
  revokeCertificate,
} from '../../pki/certificate-authority.js';
import { KEY_ALGORITHMS, type KeyAlgorithm } from '../../pki/key-algorithm.js';
import { readManifest, revocationReasons, type RevocationReason } from '../../pki/manifest.js';

const out = (line: string): void => void process.stdout.write(`${line}\n`);

function days(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) fail('config', `--days must be a whole number of days ≥ 1, got "${value}"`);
  return n;
}

export function register(program: Command): void {
  const pki = program.command('pki').description('Run the federation certificate authority (mTLS identities for coordinator and participants)');

  pki
    .command('init')
    .description('Create the federation CA in a directory (ca.crt, ca.key 0600, crl.pem, pki.json)')
    .requiredOption('--dir <dir>', 'PKI directory (keep it offline / on the CA operator machine)')
    .option('--name <federation>', 'federation name, used in the CA subject', 'fedsec')
    .option('--days <n>', 'CA validity in days', days, 3650)
    .option('--crl-days <n>', 'validity of each signed CRL in days (re-sign with `fedsec pki crl`)', days, 30)
    .addOption(new Option('--key-algorithm <alg>', 'key algorithm').choices(KEY_ALGORITHMS).default('ecdsa-p256'))
    .option('--force', 'replace an existing CA (everything it issued stops working)', false)
    .action(async (o: { dir: string; name: string; days: number; crlDays: number; keyAlgorithm: KeyAlgorithm; force: boolean }) => {
      const m = await initPki({ dir: o.dir, federation: o.name, days: o.days, crlDays: o.crlDays, keyAlgorithm: o.keyAlgorithm, force: o.force });
      out(`created CA "${m.ca.subject}" (${m.keyAlgorithm}, valid until ${m.ca.notAfter})`);
      out(`  fingerprint sha256 ${m.ca.fingerprint}`);
      out(`  ${o.dir}/ca.crt  ${o.dir}/ca.key (0600)  ${o.dir}/crl.pem  ${o.dir}/pki.json`);
      out(`next: fedsec pki issue --dir ${o.dir} --coordinator localhost,127.0.0.1`);
    });

  pki
    .command('issue')
    .description('Issue a participant (client) or coordinator (server) certificate and key')
    .requiredOption('--dir <dir>', 'PKI directory')
    .option('--participant <name>', 'participant name (CN and SAN URI fedsec://participant/NAME)')
    .option('--org <org>', 'participant organisation (subject O)')
    .option('--coordinator <hosts>', 'coordinator host names / IPs, comma-separated (e.g. localhost,127.0.0.1)')
    .option('--days <n>', 'validity in days (default: 365, or until the CA expires if sooner)', days)
    .option('--force', 'replace an active certificate of the same name, revoking it as superseded', false)
    .action(async (o: { dir: string; participant?: string; org?: string; coordinator?: string; days?: number; force: boolean }) => {
      if ((o.participant === undefined) === (o.coordinator === undefined)) {
        fail('config', 'pass exactly one of --participant NAME or --coordinator HOST[,HOST...]');
      }
      if (o.coordinator !== undefined && o.org !== undefined) fail('config', '--org applies to participants only');
      const common = { dir: o.dir, force: o.force, ...(o.days === undefined ? {} : { days: o.days }) };
      const issued =
        o.participant !== undefined
          ? await issueParticipant({ ...common, name: o.participant, ...(o.org === undefined ? {} : { org: o.org }) })
          : await issueCoordinator({ ...common, hosts: (o.coordinator ?? '').split(',').map((h) => h.trim()).filter((h) => h !== '') });
      const r = issued.record;
      out(`issued ${r.kind} "${r.name}" serial ${r.serial}, valid until ${r.notAfter}`);
      out(`  ${issued.certPath}  ${issued.keyPath} (0600)`);
      out(`  give ${r.kind === 'participant' ? 'the participant' : 'the coordinator'} these two files and ${o.dir}/ca.crt; never ca.key`);
    });

  pki
    .command('revoke')
    .description('Revoke a certificate and re-sign the CRL')
    .argument('[name]', 'participant name, or "coordinator"')
    .requiredOption('--dir <dir>', 'PKI directory')
    .option('--serial <hex>', 'revoke by serial number instead of name')
    .addOption(new Option('--reason <reason>', 'revocation reason').choices(revocationReasons).default('unspecified'))
    .action(async (name: string | undefined, o: { dir: string; serial?: string; reason: RevocationReason }) => {
      const r = await revokeCertificate({ dir: o.dir, reason: o.reason, ...(name === undefined ? {} : { name }), ...(o.serial === undefined ? {} : { serial: o.serial }) });
      out(`revoked ${r.kind} "${r.name}" serial ${r.serial} (${o.reason})`);
      out(`  ${o.dir}/crl.pem re-signed: copy it to the coordinator, which refuses revoked peers at the handshake`);
    });

  pki
    .command('list')
    .description('List issued certificates and their status')
    .requiredOption('--dir <dir>', 'PKI directory')
    .option('--json', 'machine-readable output', false)
    .action((o: { dir: string; json: boolean }) => {
      const m = readManifest(o.dir);
      const now = new Date();
      const rows = m.certificates.map((c) => ({ ...c, status: certificateStatus(c, now) }));
      if (o.json) {
        out(JSON.stringify({ federation: m.federation, keyAlgorithm: m.keyAlgorithm, ca: m.ca, crl: m.crl, certificates: rows }, null, 2));
        return;
      }
      out(`federation "${m.federation}"  CA ${m.ca.fingerprint.slice(0, 16)}…  (${m.keyAlgorithm}, until ${m.ca.notAfter})`);
      out(`CRL #${m.crl.number}, next update due ${m.crl.nextUpdate}${new Date(m.crl.nextUpdate) < now ? '  EXPIRED: run `fedsec pki crl`' : ''}`);
      if (rows.length === 0) out('(no certificates issued)');
      for (const r of rows) {
        const who = r.kind === 'coordinator' ? `coordinator [${(r.hosts ?? []).join(', ')}]` : `${r.name}${r.org ? ` (${r.org})` : ''}`;
        const why = r.revoked ? ` ${r.revoked.reason} at ${r.revoked.at}` : '';
        out(`${r.status.padEnd(13)} ${r.serial}  ${who}  until ${r.notAfter}${why}`);
      }
    });

  pki
    .command('crl')
    .description('Re-sign the CRL with a fresh validity window (do this before its next update date)')
    .requiredOption('--dir <dir>', 'PKI directory')
    .option('--days <n>', 'new CRL validity in days (default: as configured at init)', days)
    .action(async (o: { dir: string; days?: number }) => {
      const m = await renewCrl({ dir: o.dir, ...(o.days === undefined ? {} : { days: o.days }) });
      out(`CRL #${m.crl.number} signed, valid until ${m.crl.nextUpdate}`);
    });
}
