/**
 * What the sink does about each fault a writer can meet: the classes every writer's fault table
 * (insert-all/insert-all-faults.ts, storage-write/storage-write-faults.ts) sorts its errors into,
 * so the policy reads in one place.
 *
 * - `retry`: write the same rows again, with capped exponential backoff and jitter, without limit
 *   (an outage, a quota, a closed connection: it passes).
 * - `split`: the request was refused for its size: write each half on its own (a single row that is
 *   still too large is dead-lettered as `bigquery_too_large`).
 * - `dead-letter`: this row can never be written: it goes to the dead-letter topic as `bigquery_invalid`.
 * - `stop`: a configuration error (permissions, a missing or changed table, a bad endpoint): the rows
 *   are held, uncommitted; the sink reports it (one error log line, readiness) and keeps checking with
 *   the capped backoff, so fixing it needs no restart and loses nothing.
 * - `abandon`: an exactly-once writer's partition moved to another owner (its stream was finalized
 *   by the next owner, or a newer assignment began): the rows are dropped uncommitted; the next
 *   owner writes them.
 */
export type FaultAction = 'retry' | 'split' | 'dead-letter' | 'stop' | 'abandon';
