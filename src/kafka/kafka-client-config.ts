import type { Logger } from '@nestjs/common';
import { logLevel, type KafkaConfig, type LogEntry, type SASLOptions } from 'kafkajs';
import type { Env } from '../config/env.schema.js';

export type KafkaSettings = Pick<
  Env,
  | 'KAFKA_BROKERS'
  | 'KAFKA_CLIENT_ID'
  | 'KAFKA_SSL'
  | 'KAFKA_SASL_MECHANISM'
  | 'KAFKA_SASL_USERNAME'
  | 'KAFKA_SASL_PASSWORD'
>;

/** kafkajs client settings shared by the consumer, the dead-letter producer and the simulator. */
export function kafkaClientConfig(settings: KafkaSettings, role: string, logger: Logger): KafkaConfig {
  const { KAFKA_SASL_MECHANISM: mechanism, KAFKA_SASL_USERNAME: username, KAFKA_SASL_PASSWORD: password } = settings;
  // The schema guarantees username and password when a mechanism is set.
  const sasl = mechanism ? ({ mechanism, username: username!, password: password! } as SASLOptions) : undefined;
  return {
    clientId: `${settings.KAFKA_CLIENT_ID}-${role}`,
    brokers: settings.KAFKA_BROKERS,
    ssl: settings.KAFKA_SSL,
    sasl,
    retry: { initialRetryTime: 300, maxRetryTime: 5_000, retries: 8 },
    logLevel: logLevel.INFO,
    logCreator: () => (entry) => logKafka(logger, entry),
  };
}

/** kafkajs' own log lines, through the service's logger at kafkajs' levels. */
function logKafka(logger: Logger, { namespace, level, log }: LogEntry): void {
  const { message, broker } = log;
  const text = `${message}${typeof broker === 'string' ? ` (broker ${broker})` : ''}`;
  // A broker's error response and a failed send are also thrown to the caller, which classifies and
  // reports them (once per outage, see OutageLog): kafkajs' own line for each would flood the log.
  const reportedByCaller = namespace === 'Producer' || message.startsWith('Response ');
  if (level === logLevel.ERROR && !reportedByCaller) logger.error(text);
  else if (level === logLevel.WARN) logger.warn(text);
  else if (level === logLevel.INFO) logger.log(text);
  else logger.debug(text);
}
