import { createPrivateKey, X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import { z } from 'zod';
import { ORIGINAL_SONGS } from '../plays/play.js';

// The single description of every environment variable the service reads.
// README's configuration table is generated from it (npm run docs:config) and a test keeps them in sync.

const bool = (fallback: boolean) => z.stringbool({ error: 'must be true or false' }).default(fallback);

const int = (min: number, max: number, fallback: number) =>
  z.coerce
    .number({ error: 'must be a whole number' })
    .int({ error: 'must be a whole number' })
    .min(min, { error: `must be at least ${min}` })
    .max(max, { error: `must be at most ${max}` })
    .default(fallback);

const name = (fallback: string, pattern: RegExp, rule: string) =>
  z.string().trim().regex(pattern, { error: rule }).default(fallback);

// Kafka topic names: 1..249 chars of [a-zA-Z0-9._-].
const topic = (fallback: string) =>
  name(fallback, /^[a-zA-Z0-9._-]{1,249}$/, 'must be 1-249 characters of letters, digits, ".", "_" or "-"');

// BigQuery dataset and table ids: letters, digits and underscores.
const bigQueryId = (fallback: string) => name(fallback, /^[A-Za-z0-9_]{1,1024}$/, 'must be letters, digits or "_"');

/** A comma-separated list: items trimmed, empty ones dropped, then each checked by `item`. */
const commaList = (item: z.ZodString, empty: string) =>
  z
    .string()
    .transform((value) =>
      value
        .split(',')
        .map((entry) => entry.trim())
        .filter((entry) => entry.length > 0),
    )
    .pipe(z.array(item).min(1, { error: empty }));

const brokerList = commaList(
  z.string().regex(/^[^\s:/]+:\d{1,5}$/, { error: 'each broker must be host:port' }),
  'must list at least one host:port',
);

/**
 * A PEM file the service reads at start-up: readable now and parsable as `what` (the first
 * certificate of a bundle, or an unencrypted private key). Errors name the file, never its content.
 */
const pemFile = (what: 'certificate' | 'private key') =>
  z
    .string()
    .trim()
    .superRefine((file, ctx) => {
      let text: string;
      try {
        text = fs.readFileSync(file, 'utf8');
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
        return void ctx.addIssue({ code: 'custom', message: `must name a readable file (${code})` });
      }
      if (what === 'private key' && /ENCRYPTED/.test(text)) {
        return void ctx.addIssue({ code: 'custom', message: 'must hold an unencrypted private key (no passphrase)' });
      }
      try {
        if (what === 'certificate') new X509Certificate(text);
        else createPrivateKey(text);
      } catch {
        ctx.addIssue({ code: 'custom', message: `must be a PEM file holding a ${what}` });
      }
    });

// Simulator. `optional` drops a helper's default (its fallback argument is unused), so an
// unset variable stays undefined and the code resolves it (e.g. SIMULATOR_TOPIC falls back to KAFKA_TOPIC).
const optional = <T extends z.ZodType>(withDefault: z.ZodDefault<T>) => withDefault.unwrap().optional();
const playName = (fallback: string) =>
  name(fallback, /^.{1,1024}$/, 'must be 1-1024 characters on one line (the ingest keeps no longer names)');
const songList = commaList(
  z.string().regex(/^.{1,1024}$/, { error: 'each song name must be at most 1024 characters' }),
  'must list at least one song name',
);

/** One simulated artist and its songs; a song's song_id is its index. */
export interface SimulatedArtist {
  artist: string;
  songs: string[];
}

// SIMULATOR_CATALOG: a JSON object, artist name → its song names, in order of popularity.
const MAX_CATALOG_ARTISTS = 1_000;
const catalogName = z.string().regex(/^.{1,1024}$/, { error: 'names must be 1-1024 characters on one line' });
const simulatorCatalog = z
  .string()
  .transform((text, ctx) => {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be JSON: {"artist": ["song", ...], ...}' });
      return z.NEVER;
    }
  })
  .pipe(
    z
      .record(
        catalogName,
        z
          .array(catalogName, { error: 'must map each artist to an array of song names' })
          .min(1, { error: 'must give each artist at least one song' }),
        { error: 'must be a JSON object: {"artist": ["song", ...], ...}' },
      )
      .refine((catalog) => Object.keys(catalog).length >= 1, { error: 'must name at least one artist' })
      .refine((catalog) => Object.keys(catalog).length <= MAX_CATALOG_ARTISTS, {
        error: `must name at most ${MAX_CATALOG_ARTISTS} artists`,
      }),
  )
  .transform((catalog): SimulatedArtist[] => Object.entries(catalog).map(([artist, songs]) => ({ artist, songs })));

export const envSchema = z
  .object({
    PORT: int(1, 65535, 3000).describe('HTTP port for health, metrics and the dashboard.'),
    LOG_LEVEL: z
      .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace'], {
        error: 'must be one of fatal, error, warn, info, debug, trace',
      })
      .default('info')
      .describe('Lowest log level written.'),
    LOG_FORMAT: z
      .enum(['json', 'pretty'], { error: 'must be json or pretty' })
      .default('json')
      .describe('json: one JSON object a line (for log collectors); pretty: readable lines for a terminal.'),

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
    KAFKA_DLQ_TOPIC: topic('tony-allen-plays.dlq').describe(
      'Dead-letter topic: messages that are not valid plays, or that BigQuery rejected, byte for byte with reason headers.',
    ),
    INGEST_ENABLED: bool(true).describe(
      'Consume the topic and write plays to BigQuery (false: e.g. a simulator-only deployment).',
    ),
    INGEST_DECODE_THREADS: int(0, 32, 1).describe(
      'Worker threads that decode plays and encode their rows beside the consumer (0: on the main thread).',
    ),
    INGEST_MEMORY_BUDGET_MB: int(4, 4_096, 16).describe(
      'Memory for messages taken and not yet committed (rows buffered or being written, dead letters queued, batches being decoded); when it is full, consumption pauses until writes catch up.',
    ),
    INGEST_PARTITION_MAX_UNCOMMITTED: int(100, 10_000_000, 100_000).describe(
      'Messages one partition may have taken past its commit point (e.g. behind a dead letter the topic refuses); at this many, no more are taken from it until its commit point moves, while the other partitions go on. Readiness names it.',
    ),
    INGEST_STALL_TIMEOUT_MS: int(5_000, 3_600_000, 60_000).describe(
      'A partition with lag whose commit point has not moved for this long is reported as stalled (metric and readiness).',
    ),
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

    BIGQUERY_PROJECT_ID: z
      .string({ error: 'is required: the Google Cloud project that holds the dataset' })
      .trim()
      .regex(/^([a-z0-9.-]+:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$/, {
        error: 'must be a Google Cloud project id: 6-30 lower-case letters, digits or "-", starting with a letter',
      })
      .describe('Google Cloud project id. Required.'),
    BIGQUERY_API_ENDPOINT: z
      .url({ protocol: /^https?$/, error: 'must be an http(s) URL, e.g. http://127.0.0.1:9050' })
      .optional()
      .describe(
        'BigQuery REST endpoint of an emulator; unset means real BigQuery with Application Default Credentials.',
      ),
    BIGQUERY_LOCATION: z
      .string()
      .trim()
      .min(1)
      .optional()
      .describe('Dataset location used when the dataset is created (e.g. EU).'),
    BIGQUERY_DATASET: bigQueryId('music').describe('Dataset that holds the plays table.'),
    BIGQUERY_TABLE: bigQueryId('tony_allen_plays').describe('Table the plays are written to.'),
    BIGQUERY_CREATE_TABLE: bool(true).describe(
      'Create the dataset, the table and its <table>_top_songs view at start-up when they do not exist.',
    ),
    SINK_API: z
      .enum(['storage-write', 'insert-all'], { error: 'must be storage-write or insert-all' })
      .default('storage-write')
      .describe(
        "How plays are written: storage-write (the Storage Write API over gRPC, the table's default stream) or insert-all (the legacy streaming insert over HTTP).",
      ),
    SINK_DELIVERY: z
      .enum(['exactly-once', 'at-least-once'], { error: 'must be exactly-once or at-least-once' })
      .optional()
      .describe(
        "Delivery guarantee: exactly-once (storage-write only: one COMMITTED write stream per partition, appends at stream offsets, reconciled on every assignment) or at-least-once (the table's default stream, or insertAll; a crash or rebalance may write a play twice). Unset: exactly-once with storage-write, at-least-once with insert-all.",
      ),
    BIGQUERY_STORAGE_API_ENDPOINT: z
      .string()
      .trim()
      .regex(/^[^\s:/]+:\d{1,5}$/, { error: 'must be host:port, e.g. 127.0.0.1:9060' })
      .optional()
      .describe(
        "host:port of an emulator's Storage Write API (plain gRPC); unset means real BigQuery with Application Default Credentials over TLS.",
      ),
    SINK_BATCH_MAX_ROWS: optional(int(1, 50_000, 0)).describe(
      'Rows per request at most; unset: 500 for insert-all (BigQuery recommends it), 4000 for storage-write.',
    ),
    SINK_BATCH_MAX_BYTES: optional(int(1_000, 10_000_000, 0)).describe(
      'Bytes of rows per request at most (BigQuery refuses requests over 10 MB); unset: 9000000 for insert-all, 1000000 for storage-write (requests of about 1 MB, as the Write API advises under load).',
    ),
    SINK_LINGER_MS: int(0, 60_000, 200).describe(
      'Longest a row waits for its batch to fill before it is written anyway. Rows that end a backlog (their partition is caught up after being behind) do not wait.',
    ),
    SINK_MAX_IN_FLIGHT: optional(int(1, 64, 0)).describe(
      'Requests under way at once on each connection (storage-write: appends per write stream; exactly-once has one per partition, at-least-once one in all); unset: 16 for insert-all, 8 for storage-write, enough to keep up across a ~75 ms round trip.',
    ),
    SINK_MAX_BUFFERED_ROWS: int(1, 1_000_000, 20_000).describe(
      "Rows held in memory (buffered or being written) before consumption pauses; with exactly-once, each partition's rows wait once they hold their share (this over the partitions assigned).",
    ),
    SINK_RETRY_MAX_DELAY_MS: int(100, 600_000, 30_000).describe(
      'Longest wait between retries of a failed write (exponential backoff with jitter, retried without limit).',
    ),
    READINESS_WRITE_FAILURE_MS: int(1_000, 3_600_000, 30_000).describe(
      'BigQuery writes failing for longer than this make /health/ready answer 503 (shorter blips are retried quietly).',
    ),
    SHUTDOWN_TIMEOUT_MS: int(1_000, 600_000, 20_000).describe(
      'On SIGTERM/SIGINT: time to flush, commit and leave the group before exiting anyway.',
    ),
    DASHBOARD_ENABLED: bool(true).describe(
      'Serve the top-songs API (GET /api/top-songs, /api/artists, /api/plays-over-time) and the live dashboard (GET /dashboard), read from the plays table.',
    ),
    DASHBOARD_CACHE_MS: int(0, 60_000, 1_000).describe(
      'How long an answer of the top-songs API is reused, so any number of viewers of the same question costs one BigQuery query.',
    ),
    DASHBOARD_MAX_QUERIES_PER_SECOND: int(1, 1_000, 4).describe(
      'Ceiling on BigQuery queries a second for the whole top-songs API, whatever is asked; a burst of as many may run at once.',
    ),
    DASHBOARD_MAX_QUERY_WAIT_MS: int(0, 60_000, 2_000).describe(
      'Longest a question waits for its turn under DASHBOARD_MAX_QUERIES_PER_SECOND; beyond, the API answers 429 with Retry-After.',
    ),
    DASHBOARD_MAX_BYTES_BILLED: int(10_485_760, Number.MAX_SAFE_INTEGER, 1_073_741_824).describe(
      "BigQuery's maximumBytesBilled for each top-songs query: a query that would bill more fails (503) instead. The default, 1 GiB, holds a 15-minute window of a table of a million plays a day (100-200 MB: about 100 bytes a play, its day partitions) five times over, and a 30-day window of about 300,000 plays a day; it stops a runaway (an unpartitioned table, a far larger one) at about $0.006 a query (on-demand, $6.25 a TiB). Raise it for a bigger table (at most 9007199254740991, in effect no cap).",
    ),
    LIVE_ENABLED: bool(false).describe(
      'The live view: the ingest publishes what each written batch adds (plays per minute, artist and song) to LIVE_TOPIC, and the dashboard reads that topic back and answers windows within LIVE_HORIZON from memory, pushing changes over /api/live, instead of querying BigQuery. Turn it on for every replica of a group at once: rows written without it have no delta. Off by default for now: on, it costs about 13% of the drain rate and 5-15 MB of peak memory (docs/BENCHMARKS.md).',
    ),
    LIVE_TOPIC: optional(topic('unused')).describe(
      "Topic of the live view's deltas (one per written batch); unset means KAFKA_TOPIC with .live appended.",
    ),
    LIVE_HORIZON: z
      .string()
      .trim()
      .default('24h')
      .transform((value, ctx) => {
        const match = /^(\d{1,4})([mh])$/.exec(value);
        const ms = match === null ? NaN : Number(match[1]) * (match[2] === 'h' ? 3_600_000 : 60_000);
        if (!(ms >= 3_600_000 && ms <= 7 * 86_400_000)) {
          ctx.addIssue({
            code: 'custom',
            message: `must be minutes or hours from 1h to 168h (e.g. 24h, 90m); got "${value}"`,
          });
          return z.NEVER;
        }
        return ms;
      })
      .describe('How far back the live view counts (minutes or hours, e.g. 24h); in milliseconds once parsed.'),
    LIVE_MAX_ENTRIES: int(1_000, 100_000_000, 500_000).describe(
      "Most (minute, artist, song) counts the live view holds, about 110 bytes of heap each (the default: about 55 MB, within the image's --max-old-space-size=192 beside the ingest); past it the oldest minutes go, and windows reaching into them are answered by BigQuery. A catalogue of 1,000 songs played every minute fills it in about 8 hours; 10,000 songs every minute of 24 h would need 14.4 million (about 1.6 GB): raise --max-old-space-size (NODE_OPTIONS) with it.",
    ),
    GOOGLE_APPLICATION_CREDENTIALS: z
      .string()
      .trim()
      .min(1)
      .optional()
      .describe(
        'Path to a service-account key file; unset means Application Default Credentials. Secret: never logged.',
      ),
    // Simulator: fake plays for demos and load tests, off by default.
    SIMULATOR_ENABLED: bool(false).describe(
      'Run the built-in simulator: it produces fake plays to SIMULATOR_TOPIC every SIMULATOR_INTERVAL_MS.',
    ),
    SIMULATOR_INTERVAL_MS: int(10, 3_600_000, 3_000).describe('Time between two simulator ticks.'),
    SIMULATOR_EVENTS_PER_TICK: int(1, 1_000, 1).describe(
      "Plays produced per tick, in one Kafka send (at most 1000, to stay under the broker's 1 MB batch limit).",
    ),
    SIMULATOR_TOPIC: optional(topic('unused')).describe('Topic the simulator produces to; unset means KAFKA_TOPIC.'),
    SIMULATOR_MAX_EVENTS: optional(int(1, Number.MAX_SAFE_INTEGER, 0)).describe(
      'Stop the simulator after this many plays; unset means no limit.',
    ),
    SIMULATOR_ARTIST: playName('tony-allen').describe(
      'The artist of every simulated play (without SIMULATOR_CATALOG).',
    ),
    SIMULATOR_SONGS: songList
      .default([...ORIGINAL_SONGS])
      .describe('Comma-separated song names; song_id is the index. Earlier songs are played more (skewed).'),
    SIMULATOR_CATALOG: simulatorCatalog
      .optional()
      .describe(
        'Several artists, each with its songs, as JSON: {"tony-allen":["zombie","lady"],"fela-kuti":["zombie"]}; earlier artists and songs are played more (skewed). Replaces SIMULATOR_ARTIST and SIMULATOR_SONGS.',
      ),
    SIMULATOR_TIMESTAMPS: z
      .enum(['now', 'this-month'], { error: 'must be now or this-month' })
      .default('now')
      .describe('Play timestamps: the current time, or a random time in the current month up to now (the original).'),
    SIMULATOR_DISTRIBUTION: z
      .enum(['skewed', 'uniform'], { error: 'must be skewed or uniform' })
      .default('skewed')
      .describe('Song popularity: skewed (Zipf-like, a few hits dominate) or uniform.'),
    SIMULATOR_SEED: optional(int(0, 4_294_967_295, 0)).describe(
      'Seed for the simulated plays, for reproducible runs; unset means a random seed.',
    ),
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

/** The client certificate was issued for this key; a file that cannot be parsed is reported on its own. */
function keyMatches(certFile: string, keyFile: string): boolean {
  try {
    const certificate = new X509Certificate(fs.readFileSync(certFile, 'utf8'));
    return certificate.checkPrivateKey(createPrivateKey(fs.readFileSync(keyFile, 'utf8')));
  } catch {
    return true;
  }
}

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
