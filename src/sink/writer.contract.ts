import type { UnwritableReason } from '../dead-letters/dead-letter-reason.js';
import type { Play } from '../plays/play.js';
import type { FaultAction } from './faults.js';
import type { Assignment, OffsetCommit, RowChunk } from './sink.contract.js';
import type { Segment } from './rows.js';

/** The values of SINK_API: one folder under src/sink/ each. */
export type SinkApi = 'storage-write' | 'insert-all';
export type Delivery = 'at-least-once' | 'exactly-once';

/**
 * What became of a row of a request that was not written, by its index in the request. The writer
 * says what happened; what to do about it (write again, dead-letter) is the sink's.
 */
export type RowOutcome =
  /** Not written but writable (another row of its request was invalid, a backend error): written again. */
  | { index: number; outcome: 'retry'; detail: string }
  /** BigQuery refused it and always will: never written, the sink dead-letters it. */
  | { index: number; outcome: 'refused'; reason: UnwritableReason; detail: string }
  /** Refused, and settled already while the request was under way (see WriteReporter.refused). */
  | { index: number; outcome: 'settled' };

/** A row's outcome from its fault table's action: refused when BigQuery calls it invalid, else written again. */
export function unwrittenRow(index: number, action: FaultAction, detail: string): RowOutcome {
  return action === 'dead-letter'
    ? { index, outcome: 'refused', reason: 'bigquery_invalid', detail }
    : { index, outcome: 'retry', detail };
}

/** What one request did: every row not named in `unwritten` is written. */
export interface AppendResult {
  unwritten: RowOutcome[];
}

/** A row a writer refuses while its request is under way (see WriteReporter.refused). */
export interface RefusedRow {
  chunk: RowChunk;
  row: number;
  reason: UnwritableReason;
  detail: string;
}

/** A request that failed as a whole, classified by the writer into the faults table. */
export class WriteFault extends Error {
  constructor(
    message: string,
    readonly action: FaultAction,
  ) {
    super(message);
    this.name = 'WriteFault';
  }
}

/** Batch policy a writer's API is best served with; SINK_BATCH_MAX_ROWS etc. override it. */
export interface WriterDefaults {
  batchMaxRows: number;
  batchMaxBytes: number;
  maxInFlight: number;
}

/** What a writer that retries on its own tells the sink, for its health and logs. */
export interface WriteReporter {
  /** A write (or the stream work before it) failed and is being retried; `attempt` counts from 1. */
  failed(fault: WriteFault, rows: number, attempt: number, retryInMs: number): void;
  /** A write succeeded. */
  succeeded(): void;
  /**
   * Rows BigQuery refused, told while their request is under way by a writer that must know they are
   * settled before it goes on (an exactly-once lane counts them in a record before appending what
   * follows): the sink dead-letters them and counts them done, and resolves once every letter is in
   * the dead-letter topic. The request's result then names them `settled`.
   */
  refused(rows: readonly RefusedRow[]): Promise<void>;
}

/** An assignment as the sink hands it to its writer: its starts are read once the table exists. */
export interface WriterAssignment extends Assignment {
  /** Resolves once the table exists: a writer's streams are made in it. */
  tableReady(): Promise<void>;
}

/**
 * One way of writing rows to the plays table: its transport and its error classification. Batching,
 * flow control, retries and done-counting are the sink's (BatchingPlaySink), written once.
 *
 * At-least-once writers take requests in any order and may see one again after a failure. An
 * exactly-once writer takes each partition's rows in offset order (`inPartitionOrder`): the sink
 * hands it one partition's requests at a time, in order, and it retries them itself, in order (its stream offsets depend on
 * it), reporting through `attach`'s reporter; it rejects only with `abandon` (the partition moved
 * on) or when the sink stops.
 */
export interface PlayWriter {
  readonly api: SinkApi;
  readonly delivery: Delivery;
  /**
   * Writes the rows (as this writer's RowEncoding made them) in one request, in order. Resolves with
   * the rows that were not written; rejects with a WriteFault (anything else is retried).
   */
  append(rows: readonly Segment[]): Promise<AppendResult>;
  /**
   * Set by a writer that must see each partition's rows in offset order: the sink keeps a lane per
   * partition of each assignment, each request holding rows of one lane, sent in order; it abandons
   * a request of an assignment that is over without handing it to the writer (the partition's next
   * owner writes the rows). Unset: one lane for all.
   */
  readonly inPartitionOrder?: true;
  /** A new assignment of partitions (see PlaySink.open). */
  open?(assignment: WriterAssignment): void;
  /** The partitions of the assignment that ended (see PlaySink.close). */
  revoke?(partitions: readonly number[]): void;
  /** See PlaySink.preCommit. Unset: every offset, without metadata. */
  preCommit?(offsets: ReadonlyMap<number, bigint>): OffsetCommit[];
  /** See PlaySink.committed. */
  committed?(commits: readonly OffsetCommit[], failure?: unknown): void;
  attach?(reporter: WriteReporter): void;
  close(): Promise<void>;
}

/** Makes one partition batch's rows, on a decoder thread. */
export interface RowEncoder {
  /** The row of a play; a string is written as UTF-8. */
  row(play: Play, offset: string): string | Uint8Array;
}

/**
 * A writer's row format. Rows are stored back to back with one `separator` byte between them
 * (insertAll's comma makes a run of rows a JSON array's body as it is).
 */
export interface RowEncoding {
  separator: number;
  createEncoder(topic: string, partition: number, ingestedAt: string): RowEncoder;
}

/**
 * Where a decoder thread finds the chosen writer's RowEncoding (a function cannot cross threads):
 * the module at `url` exports `createRowEncoding(options)`; `options` is structured-cloneable.
 */
export interface RowEncodingSource {
  url: string;
  options?: unknown;
}

/** Loads a RowEncodingSource. */
export async function loadRowEncoding({ url, options }: RowEncodingSource): Promise<RowEncoding> {
  const module = (await import(url)) as { createRowEncoding(options: unknown): RowEncoding };
  return module.createRowEncoding(options);
}
