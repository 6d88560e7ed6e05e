import { bool, int } from './env-fields.js';

/** The ingest: consuming the topic, decoding plays, and the bounds on what it holds. */
export const ingestEnv = {
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
};
