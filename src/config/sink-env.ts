import { z } from 'zod';
import { int, optional } from './env-fields.js';

/** How plays are written to BigQuery: the API, the guarantee, batches, retries and when failing writes count as down. */
export const sinkEnv = {
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
};
