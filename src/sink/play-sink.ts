import type { SourceMessage } from '../plays/source-message.js';

/**
 * Valid plays on their way to the sink, as decoded from one batch of one partition: their rows
 * back to back, and where each came from. One object per batch, not one per play.
 */
export interface RowChunk {
  /** The rows as the chosen writer's RowEncoding made them, one separator byte between two rows. */
  rows: Buffer;
  /** Where each row ends in `rows` (the separator, if any, follows it): row i is rows[ends[i-1]+1, ends[i]). */
  ends: Int32Array;
  /** The Kafka message row i was made of, kept byte for byte for the dead-letter topic. */
  source(row: number): SourceMessage;
  /**
   * Called with a count each time that many more of the chunk's rows are in BigQuery or in the
   * dead-letter topic; each row is counted once.
   */
  done(rows: number): void;
}

/** What the sink is doing, for readiness and metrics. */
export interface SinkHealth {
  /** Rows held in memory: buffered or being written. */
  bufferedRows: number;
  /** Since when writes have been failing (epoch ms), or null. */
  failingSince: number | null;
  /** The last write error, or null. */
  lastError: string | null;
  /** Whether the sink can write at all (e.g. its table exists and fits). */
  writable: boolean;
  detail: string;
}

/**
 * Where plays are written. Like a Kafka Connect sink task: `put` takes rows, the sink batches and
 * writes them on its own schedule and reports each row done once it is durably written, so the
 * caller commits only what was written.
 */
export interface PlaySink {
  /** Buffers a chunk of rows. Resolves once taken; waits (calling keepAlive now and then) while the buffer is full. */
  put(chunk: RowChunk, keepAlive?: () => Promise<void>): Promise<void>;
  /** Writes everything buffered; resolves true once done, false at the deadline (epoch ms). */
  flush(deadline: number): Promise<boolean>;
  readonly health: SinkHealth;
}

/** Injection token of the plays sink, so another sink can take BigQuery's place. */
export const PLAY_SINK = Symbol('PLAY_SINK');
