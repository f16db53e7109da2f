/**
 * `fedsec join`: a participant that dials out to the coordinator, trains on its local data when
 * asked, and reconnects on transient failures (coordinator restart, network loss) with exponential
 * backoff and jitter. It stops for good when the coordinator says training is finished, or refuses
 * the participant's identity or admission (those do not heal by retrying).
 */
import { createPrivateKey, createPublicKey, randomInt, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fail, FedsecError } from '../core/errors.js';
import { clientChainFor, clientDataFor, clientTrainerFor } from '../federation/client-pipeline.js';
import { Participant } from '../federation/participant.js';
import { initRuntime } from '../model/backend.js';
import { LocalModel } from '../model/local-model.js';
import { modelSpecSchema, type ModelSpec } from '../model/zoo.js';
import { PARTICIPANT_URI_PREFIX } from '../pki/certificate-authority.js';
import { readPrivateKeyFile } from '../pki/key-file.js';
import { runParticipantSession, type LocalTrainer, type ParticipantCredentials, type Welcome } from '../transport/network/participant-agent.js';
import type { Logger } from './json-log.js';
import type { ParticipantConfig } from './participant-config.js';
import { conformToFederation, loadParticipantData } from './participant-data.js';

export interface ParticipantSummary {
  readonly name: string;
  readonly tasks: number;
  /** Sessions in which the coordinator admitted this participant. */
  readonly sessions: number;
  readonly message: string;
}

export interface LoadedCredentials extends ParticipantCredentials {
  readonly caPem: string;
  readonly certPem: string;
  readonly keyPem: string;
}

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    fail('config', `cannot read the ${what} ${path}: ${(err as Error).message}`, 'check tls in participant.yaml');
  }
}

/** Reads the participant's CA, certificate and key, and checks that key and certificate belong together. */
export function loadCredentials(tls: ParticipantConfig['tls']): LoadedCredentials {
  const caPem = readText(tls.ca, 'CA certificate');
  const certPem = readText(tls.cert, 'participant certificate');
  const keyPem = readPrivateKeyFile(tls.key);
  let cert: X509Certificate;
  let privateKey: KeyObject;
  try {
    cert = new X509Certificate(certPem);
    privateKey = createPrivateKey(keyPem);
  } catch (err) {
    fail('config', `cannot parse the participant certificate or key: ${(err as Error).message}`, 'use the files from `fedsec pki issue --participant NAME`');
  }
  const spki = (k: KeyObject): Buffer => k.export({ type: 'spki', format: 'der' });
  if (!spki(createPublicKey(privateKey)).equals(spki(cert.publicKey))) fail('config', `${tls.key} does not belong to ${tls.cert}`, 'use the key issued together with the certificate');
  const uri = (cert.subjectAltName ?? '').split(', ').find((n) => n.startsWith(`URI:${PARTICIPANT_URI_PREFIX}`));
  const name = uri?.slice(`URI:${PARTICIPANT_URI_PREFIX}`.length);
  if (!name) fail('config', `${tls.cert} is not a participant certificate (no ${PARTICIPANT_URI_PREFIX}NAME SAN)`, 'issue one with `fedsec pki issue --participant NAME --org ORG`');
  return { name, fingerprint: cert.fingerprint256.replace(/:/g, '').toLowerCase(), privateKey, caPem, certPem, keyPem };
}

export async function runParticipant(config: ParticipantConfig, log: Logger): Promise<ParticipantSummary> {
  const creds = loadCredentials(config.tls);
  const data = loadParticipantData(config.data);
  const runtime = await initRuntime(config.runtime.backend);
  log.info('participant.starting', { participant: creds.name, examples: data.size, dataset: data.name, backend: runtime.backend, coordinator: config.coordinator.address });

  let cached: { key: string; model: LocalModel } | undefined;
  const prepare = async (welcome: Welcome): Promise<LocalTrainer> => {
    let spec: ModelSpec;
    if (config.model) spec = config.model;
    else {
      const parsed = modelSpecSchema.safeParse(JSON.parse(welcome.modelSpecJson));
      if (!parsed.success) fail('config', `the coordinator announced a model this participant cannot build: ${parsed.error.issues[0]?.message ?? 'invalid'}`, 'set model: in participant.yaml');
      spec = parsed.data;
      if (spec.kind === 'file') fail('config', 'the coordinator trains a model from a file, which it cannot send', 'set model: {kind: file, path: ...} in participant.yaml to the same model.json');
    }
    const local = conformToFederation(data, welcome.featureShape, welcome.numClasses);
    const key = JSON.stringify([spec, welcome.featureShape, welcome.numClasses]);
    if (cached?.key !== key) {
      cached?.model.dispose();
      cached = { key, model: await LocalModel.create(spec, welcome.featureShape, welcome.numClasses, 0) };
    }
    const clientChain = clientChainFor(config.pipeline, creds.name);
    const trainer = clientTrainerFor(config.pipeline, creds.name);
    const participant = new Participant({
      id: creds.name, model: cached.model, data: clientDataFor(config.pipeline, creds.name, local),
      ...(clientChain ? { clientChain } : {}), ...(trainer ? { trainer } : {}),
    });
    return { handler: participant, layout: cached.model.layout };
  };

  const { reconnect } = config;
  let failures = 0;
  let sessions = 0;
  let tasks = 0;
  for (;;) {
    log.info('session.connecting', { attempt: failures + 1 });
    const outcome = await runParticipantSession({
      connection: {
        address: config.coordinator.address,
        ...(config.coordinator.serverName ? { serverName: config.coordinator.serverName } : {}),
        caPem: creds.caPem,
        certPem: creds.certPem,
        keyPem: creds.keyPem,
        deadlineMs: config.session.deadlineMs,
        // The coordinator's chunks are at most 16 MiB (deploy.limits.chunkBytes), plus envelope.
        maxMessageBytes: 16 * 1024 * 1024 + 64 * 1024,
      },
      credentials: creds,
      ...(config.federation ? { federation: config.federation } : {}),
      ...(config.enrollmentToken ? { enrollmentToken: config.enrollmentToken } : {}),
      software: 'fedsec/0.1.0',
      prepare,
      policy: { maxModelBytes: config.policy.maxModelBytes, ...(config.policy.maxEpochs === undefined ? {} : { maxEpochs: config.policy.maxEpochs }) },
      firstMessageTimeoutMs: config.session.firstMessageTimeoutMs,
      onEvent: (event, fields) => log.info(event, fields),
    });
    tasks += outcome.tasks;
    if (outcome.kind === 'finished' || (outcome.kind === 'ended' && outcome.admitted)) sessions++;
    if (outcome.kind === 'finished') {
      log.info('participant.finished', { message: outcome.message, tasks });
      cached?.model.dispose();
      return { name: creds.name, tasks, sessions, message: outcome.message };
    }
    if (outcome.kind === 'failed') {
      cached?.model.dispose();
      throw new FedsecError('config', `cannot take part: ${outcome.message}`);
    }
    if (outcome.permanent) {
      log.error('participant.refused', { code: outcome.code, details: outcome.details });
      cached?.model.dispose();
      throw new FedsecError('auth', `the coordinator refused this participant: ${outcome.details}`, 'check the certificate (`fedsec pki list`), the coordinator allow-list and the organisation quota');
    }
    failures = outcome.admitted ? 1 : failures + 1;
    if (reconnect.maxAttempts > 0 && failures > reconnect.maxAttempts) {
      cached?.model.dispose();
      throw new FedsecError('io', `gave up after ${reconnect.maxAttempts} failed connection attempts in a row: ${outcome.details}`, 'check that the coordinator is running and reachable (coordinator.address)');
    }
    // Exponential backoff with jitter, so a restarted coordinator is not hit by everyone at once.
    const base = Math.min(reconnect.maxDelayMs, reconnect.initialDelayMs * 2 ** Math.min(failures - 1, 20));
    const delay = Math.round(base / 2 + randomInt(Math.max(1, Math.round(base / 2))));
    log.warn('session.lost', { code: outcome.code, details: outcome.details, admitted: outcome.admitted, retryInMs: delay });
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
}
