import fs from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import type { Logger } from '@nestjs/common';
import { logLevel, type KafkaConfig, type LogEntry, type SASLOptions } from 'kafkajs';
import type { Env } from '../config/env.schema.js';

export type KafkaSettings = Pick<
  Env,
  | 'KAFKA_BROKERS'
  | 'KAFKA_CLIENT_ID'
  | 'KAFKA_SSL'
  | 'KAFKA_SSL_CA_FILE'
  | 'KAFKA_SSL_CERT_FILE'
  | 'KAFKA_SSL_KEY_FILE'
  | 'KAFKA_SASL_MECHANISM'
  | 'KAFKA_SASL_USERNAME'
  | 'KAFKA_SASL_PASSWORD'
>;

/** The same kafkajs log line is written at most this often; repeats go to debug. */
export const KAFKA_LOG_REPEAT_MS = 60_000;

/** kafkajs client settings shared by the consumer, the dead-letter producer and the simulator. */
export function kafkaClientConfig(settings: KafkaSettings, role: string, logger: Logger): KafkaConfig {
  const { KAFKA_SASL_MECHANISM: mechanism, KAFKA_SASL_USERNAME: username, KAFKA_SASL_PASSWORD: password } = settings;
  // The schema guarantees username and password when a mechanism is set.
  const sasl = mechanism ? ({ mechanism, username: username!, password: password! } as SASLOptions) : undefined;
  const log = kafkaLog(logger);
  return {
    clientId: `${settings.KAFKA_CLIENT_ID}-${role}`,
    brokers: settings.KAFKA_BROKERS,
    ssl: settings.KAFKA_SSL ? tlsOptions(settings) : false,
    sasl,
    retry: { initialRetryTime: 300, maxRetryTime: 5_000, retries: 8 },
    logLevel: logLevel.INFO,
    logCreator: () => log,
  };
}

/**
 * TLS as Node's tls.connect takes it. A CA file replaces the system's trusted roots (a private CA,
 * as a local or self-managed broker has); without one, public CAs are trusted (Confluent Cloud, MSK).
 * The schema checked that the files exist and hold PEM.
 */
function tlsOptions(settings: KafkaSettings): ConnectionOptions | true {
  const { KAFKA_SSL_CA_FILE: ca, KAFKA_SSL_CERT_FILE: cert, KAFKA_SSL_KEY_FILE: key } = settings;
  if (!ca && !cert && !key) return true;
  const read = (file: string | undefined) => (file ? fs.readFileSync(file, 'utf8') : undefined);
  return { ca: read(ca), cert: read(cert), key: read(key) };
}

// When each distinct kafkajs warning or error was last written, shared by every client of the process.
const lastWritten = new Map<string, number>();

/**
 * kafkajs' own log lines, through the service's logger at kafkajs' levels. A broker that refuses us
 * (wrong password, untrusted certificate, outage) makes every client repeat the same lines on every
 * retry: each distinct warning or error is written once a minute at most, the repeats at debug.
 * The service's own line says what went wrong (describeKafkaError).
 */
function kafkaLog(logger: Logger): (entry: LogEntry) => void {
  return ({ namespace, level, log }) => {
    const { message, broker } = log;
    const text = `${message}${typeof broker === 'string' ? ` (broker ${broker})` : ''}`;
    // A broker's error response and a failed send are also thrown to the caller, which classifies and
    // reports them (once per outage, see OutageLog): kafkajs' own line for each is only for debugging.
    if (level === logLevel.ERROR && (namespace === 'Producer' || message.startsWith('Response '))) {
      return void logger.debug(text);
    }
    if (level <= logLevel.WARN) {
      const now = Date.now();
      const last = lastWritten.get(text);
      if (last !== undefined && now - last < KAFKA_LOG_REPEAT_MS) return void logger.debug(text);
      if (lastWritten.size >= 1_000) lastWritten.clear();
      lastWritten.set(text, now);
    }
    if (level === logLevel.ERROR) logger.error(text);
    else if (level === logLevel.WARN) logger.warn(text);
    else if (level === logLevel.INFO) logger.log(text);
    else logger.debug(text);
  };
}
