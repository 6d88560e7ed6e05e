import type { SourceMessage } from '../plays/source-message.js';

/** A valid play on its way to the sink. */
export interface SinkRecord {
  /** The play's row as `encodePlayRow` (play-row.ts) encodes it, UTF-8: encoded where it was decoded. */
  row: Buffer;
  source: SourceMessage;
  /** Called once, when the play's row is in the sink or the play is in the dead-letter topic. */
  done: () => void;
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
 * Where plays are written. Like a Kafka Connect sink task: `put` takes records, the sink batches
 * and writes them on its own schedule and calls each record's `done` once it is durably written,
 * so the caller commits only what was written.
 */
export interface PlaySink {
  /** Buffers records. Resolves once they are taken; waits (calling keepAlive now and then) while the buffer is full. */
  put(records: readonly SinkRecord[], keepAlive?: () => Promise<void>): Promise<void>;
  /** Writes everything buffered; resolves true once done, false at the deadline (epoch ms). */
  flush(deadline: number): Promise<boolean>;
  readonly health: SinkHealth;
}

/** Injection token of the plays sink, so another sink can take BigQuery's place. */
export const PLAY_SINK = Symbol('PLAY_SINK');
