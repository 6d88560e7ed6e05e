import { z } from 'zod';
import { bool, commaList, name, topic } from './env-fields.js';
import { pemFile } from './pem-file.js';

const brokerList = commaList(
  z.string().regex(/^[^\s:/]+:\d{1,5}$/, { error: 'each broker must be host:port' }),
  'must list at least one host:port',
);

/** The Kafka cluster and the topic the plays are consumed from. */
export const kafkaEnv = {
  KAFKA_BROKERS: brokerList.default(['127.0.0.1:9092']).describe('Comma-separated bootstrap brokers, host:port.'),
  KAFKA_CLIENT_ID: name('plays-pipeline', /^[\w.-]{1,255}$/, 'must be letters, digits, ".", "_" or "-"').describe(
    'Kafka client id, shown in broker logs and quotas.',
  ),
  KAFKA_TOPIC: topic('tony-allen-plays').describe('Topic the plays are consumed from.'),
  KAFKA_GROUP_ID: z
    .string()
    .trim()
    .min(1, { error: 'must not be empty' })
    .default('tony-allen-consumer')
    .describe('Consumer group id, used exactly as given.'),
};

/** How the clients reach a secured cluster: TLS (mutual or not) and SASL. */
export const kafkaSecurityEnv = {
  KAFKA_SSL: bool(false).describe('Connect to the brokers over TLS.'),
  KAFKA_SSL_CA_FILE: pemFile('certificate')
    .optional()
    .describe(
      "PEM file of the CA certificates that signed the brokers' certificates (with KAFKA_SSL); it replaces the system's trusted CAs. Unset: the system's CAs (enough for Confluent Cloud and MSK).",
    ),
  KAFKA_SSL_CERT_FILE: pemFile('certificate')
    .optional()
    .describe('PEM file of the client certificate for mutual TLS (with KAFKA_SSL_KEY_FILE).'),
  KAFKA_SSL_KEY_FILE: pemFile('private key')
    .optional()
    .describe(
      'PEM file of the private key of KAFKA_SSL_CERT_FILE, unencrypted (mount it from a secret). Secret: never logged.',
    ),
  KAFKA_SASL_MECHANISM: z
    .enum(['plain', 'scram-sha-256', 'scram-sha-512'], {
      error: 'must be plain, scram-sha-256 or scram-sha-512',
    })
    .optional()
    .describe('SASL mechanism for managed clusters; unset means no SASL.'),
  KAFKA_SASL_USERNAME: z.string().optional().describe('SASL user name (with KAFKA_SASL_MECHANISM).'),
  KAFKA_SASL_PASSWORD: z
    .string()
    .optional()
    .describe('SASL password (with KAFKA_SASL_MECHANISM). Secret: never logged.'),
};
