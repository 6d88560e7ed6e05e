import { generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { rootCertificates } from 'node:tls';
import { Logger } from '@nestjs/common';
import { logLevel } from 'kafkajs';
import { ConfigValidationError, parseEnv } from '../config/parse-env.js';
import { kafkaClientConfig } from './kafka-client-config.js';

// Real PEM material: a public root CA's certificate (its key is not ours) and a fresh key pair.
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kafka-tls-'));
const file = (name: string, text: string) => {
  const target = path.join(dir, name);
  fs.writeFileSync(target, text);
  return target;
};
const caFile = file('ca.pem', rootCertificates[0]!);
const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const keyFile = file('key.pem', privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
const encryptedKeyFile = file(
  'encrypted.pem',
  privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'x' }) as string,
);
const notPem = file('not.pem', 'hello\n');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const minimal = { BIGQUERY_PROJECT_ID: 'plays-local', KAFKA_SSL: 'true' };
function problemsOf(env: Record<string, string>): readonly string[] {
  try {
    parseEnv(env);
  } catch (error) {
    if (error instanceof ConfigValidationError) return error.problems;
    throw error;
  }
  throw new Error('expected a ConfigValidationError');
}

describe('Kafka TLS settings', () => {
  it('reads the CA bundle into the client, replacing the system CAs; no file means the system CAs', () => {
    const logger = new Logger('test');
    const withCa = kafkaClientConfig(parseEnv({ ...minimal, KAFKA_SSL_CA_FILE: caFile }), 'ingest', logger);
    expect(withCa.ssl).toEqual({ ca: rootCertificates[0], cert: undefined, key: undefined });
    expect(kafkaClientConfig(parseEnv(minimal), 'ingest', logger).ssl).toBe(true);
    expect(kafkaClientConfig(parseEnv({ BIGQUERY_PROJECT_ID: 'plays-local' }), 'ingest', logger).ssl).toBe(false);
  });

  it('passes SASL credentials as kafkajs takes them', () => {
    const env = parseEnv({
      ...minimal,
      KAFKA_SASL_MECHANISM: 'plain',
      KAFKA_SASL_USERNAME: 'u',
      KAFKA_SASL_PASSWORD: 'p',
    });
    expect(kafkaClientConfig(env, 'ingest', new Logger('test')).sasl).toEqual({
      mechanism: 'plain',
      username: 'u',
      password: 'p',
    });
  });

  it('names each unusable file and the rule it broke', () => {
    const problems = problemsOf({
      ...minimal,
      KAFKA_SSL_CA_FILE: path.join(dir, 'missing.pem'),
      KAFKA_SSL_CERT_FILE: notPem,
      KAFKA_SSL_KEY_FILE: encryptedKeyFile,
    });
    expect(problems).toEqual([
      `KAFKA_SSL_CA_FILE must name a readable file (ENOENT) (got ${JSON.stringify(path.join(dir, 'missing.pem'))})`,
      `KAFKA_SSL_CERT_FILE must be a PEM file holding a certificate (got ${JSON.stringify(notPem)})`,
      'KAFKA_SSL_KEY_FILE must hold an unencrypted private key (no passphrase) (value hidden)',
    ]);
  });

  it('wants TLS on for its files, and a client certificate with its own key', () => {
    expect(problemsOf({ BIGQUERY_PROJECT_ID: 'plays-local', KAFKA_SSL_CA_FILE: caFile })).toEqual([
      'KAFKA_SSL_CA_FILE needs KAFKA_SSL=true (it is a TLS setting) (got ' + JSON.stringify(caFile) + ')',
    ]);
    expect(problemsOf({ ...minimal, KAFKA_SSL_KEY_FILE: keyFile })).toEqual([
      'KAFKA_SSL_CERT_FILE is required for mutual TLS: set both, or neither',
    ]);
    // The root CA's certificate was not issued for our fresh key.
    expect(problemsOf({ ...minimal, KAFKA_SSL_CERT_FILE: caFile, KAFKA_SSL_KEY_FILE: keyFile })).toEqual([
      'KAFKA_SSL_KEY_FILE is not the key of KAFKA_SSL_CERT_FILE (value hidden)',
    ]);
  });
});

describe("kafkajs' log lines", () => {
  it('writes each distinct warning or error once a minute at most, the repeats at debug', () => {
    vi.useFakeTimers();
    try {
      const logger = new Logger('test');
      const error = vi.spyOn(logger, 'error').mockImplementation(() => undefined);
      const debug = vi.spyOn(logger, 'debug').mockImplementation(() => undefined);
      const info = vi.spyOn(logger, 'log').mockImplementation(() => undefined);
      const settings = parseEnv({ BIGQUERY_PROJECT_ID: 'plays-local' });
      const entry = (level: logLevel, message: string) => ({
        namespace: 'x',
        level,
        label: 'ERROR',
        log: { timestamp: '', message, broker: 'b:1' },
      });
      // Two clients (e.g. the consumer and the dead-letter producer) repeating one failure.
      const clients = ['ingest', 'dead-letters'].map((role) =>
        kafkaClientConfig(settings, role, logger).logCreator!(0),
      );
      for (let i = 0; i < 10; i++) for (const log of clients) log(entry(logLevel.ERROR, 'SASL failed (spec)'));
      clients[0]!(entry(logLevel.INFO, 'Starting'));
      clients[0]!(entry(logLevel.INFO, 'Starting'));
      expect(error).toHaveBeenCalledTimes(1);
      expect(error).toHaveBeenCalledWith('SASL failed (spec) (broker b:1)');
      expect(debug).toHaveBeenCalledTimes(19);
      expect(info).toHaveBeenCalledTimes(2);
      vi.advanceTimersByTime(60_000);
      clients[1]!(entry(logLevel.ERROR, 'SASL failed (spec)'));
      expect(error).toHaveBeenCalledTimes(2);
    } finally {
      vi.useRealTimers();
    }
  });
});
