import type { KafkaConfig, SASLOptions } from 'kafkajs';
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
export function kafkaClientConfig(settings: KafkaSettings, role: string): KafkaConfig {
  const { KAFKA_SASL_MECHANISM: mechanism, KAFKA_SASL_USERNAME: username, KAFKA_SASL_PASSWORD: password } = settings;
  // The schema guarantees username and password when a mechanism is set.
  const sasl = mechanism ? ({ mechanism, username: username!, password: password! } as SASLOptions) : undefined;
  return {
    clientId: `${settings.KAFKA_CLIENT_ID}-${role}`,
    brokers: settings.KAFKA_BROKERS,
    ssl: settings.KAFKA_SSL,
    sasl,
    retry: { initialRetryTime: 300, maxRetryTime: 5_000, retries: 8 },
  };
}
