import { z } from 'zod';
import { ORIGINAL_SONGS } from '../plays/play.js';
import { bigQueryEnv, googleCredentialsEnv } from './bigquery-env.js';
import { dashboardEnv } from './dashboard-env.js';
import { deadLetterEnv } from './dead-letter-env.js';
import { ingestEnv } from './ingest-env.js';
import { kafkaEnv, kafkaSecurityEnv } from './kafka-env.js';
import { liveEnv } from './live-env.js';
import { keyMatches } from './pem-file.js';
import { serviceEnv, shutdownEnv } from './service-env.js';
import { simulatorEnv } from './simulator-env.js';
import { sinkEnv } from './sink-env.js';

// The single description of every environment variable the service reads: each area's variables in
// its own file, put together here with the rules that span areas.
// README's configuration table is generated from it (npm run docs:config) and a test keeps them in sync;
// the table lists the variables in the order they come here.

export const envSchema = z
  .object({
    ...serviceEnv,
    ...kafkaEnv,
    ...deadLetterEnv,
    ...ingestEnv,
    ...kafkaSecurityEnv,
    ...bigQueryEnv,
    ...sinkEnv,
    ...shutdownEnv,
    ...dashboardEnv,
    ...liveEnv,
    ...googleCredentialsEnv,
    ...simulatorEnv,
  })
  .superRefine((env, ctx) => {
    for (const key of ['KAFKA_SSL_CA_FILE', 'KAFKA_SSL_CERT_FILE', 'KAFKA_SSL_KEY_FILE'] as const) {
      if (env[key] !== undefined && !env.KAFKA_SSL) {
        ctx.addIssue({ code: 'custom', path: [key], message: 'needs KAFKA_SSL=true (it is a TLS setting)' });
      }
    }
    const [cert, key] = [env.KAFKA_SSL_CERT_FILE, env.KAFKA_SSL_KEY_FILE];
    if ((cert === undefined) !== (key === undefined)) {
      const missing = cert === undefined ? 'KAFKA_SSL_CERT_FILE' : 'KAFKA_SSL_KEY_FILE';
      ctx.addIssue({ code: 'custom', path: [missing], message: 'is required for mutual TLS: set both, or neither' });
    } else if (cert !== undefined && key !== undefined && !keyMatches(cert, key)) {
      ctx.addIssue({ code: 'custom', path: ['KAFKA_SSL_KEY_FILE'], message: 'is not the key of KAFKA_SSL_CERT_FILE' });
    }
    // Two ways of naming the simulated artists: one at a time, so a forgotten one is not silently ignored.
    if (env.SIMULATOR_CATALOG !== undefined) {
      const original = env.SIMULATOR_ARTIST === 'tony-allen' && env.SIMULATOR_SONGS.join() === ORIGINAL_SONGS.join();
      if (!original) {
        ctx.addIssue({
          code: 'custom',
          path: ['SIMULATOR_CATALOG'],
          message: 'replaces SIMULATOR_ARTIST and SIMULATOR_SONGS: set either, not both',
        });
      }
    }
    if (env.SINK_API === 'storage-write' && env.BIGQUERY_API_ENDPOINT && !env.BIGQUERY_STORAGE_API_ENDPOINT) {
      // An emulator for reads and table checks but real BigQuery for writes is never what was meant.
      ctx.addIssue({
        code: 'custom',
        path: ['BIGQUERY_STORAGE_API_ENDPOINT'],
        message:
          "is required with BIGQUERY_API_ENDPOINT when SINK_API is storage-write: the emulator's Write API as host:port (its gRPC port)",
      });
    }
    if (env.SINK_API === 'insert-all' && env.SINK_DELIVERY === 'exactly-once') {
      ctx.addIssue({
        code: 'custom',
        path: ['SINK_DELIVERY'],
        message:
          'exactly-once needs SINK_API=storage-write (insertAll de-duplicates only best-effort, for about a minute): use at-least-once with insert-all',
      });
    }
    if (env.KAFKA_SASL_MECHANISM && !(env.KAFKA_SASL_USERNAME && env.KAFKA_SASL_PASSWORD)) {
      for (const key of ['KAFKA_SASL_USERNAME', 'KAFKA_SASL_PASSWORD'] as const) {
        if (!env[key]) {
          ctx.addIssue({ code: 'custom', path: [key], message: 'is required when KAFKA_SASL_MECHANISM is set' });
        }
      }
    }
  });

export type Env = z.infer<typeof envSchema>;

/** The delivery guarantee in effect: SINK_DELIVERY, or its default for SINK_API. */
export function deliveryOf(env: Pick<Env, 'SINK_API' | 'SINK_DELIVERY'>): 'exactly-once' | 'at-least-once' {
  return env.SINK_DELIVERY ?? (env.SINK_API === 'storage-write' ? 'exactly-once' : 'at-least-once');
}

/** Variables whose values must never appear in logs or error messages. */
export const SECRET_VARIABLES: ReadonlySet<keyof Env> = new Set([
  'KAFKA_SASL_PASSWORD',
  // A path, but people paste the key itself into it.
  'KAFKA_SSL_KEY_FILE',
  'GOOGLE_APPLICATION_CREDENTIALS',
]);
