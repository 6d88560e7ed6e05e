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
  /** The partition the rows came from, and the last offset of the batch they were decoded from. */
  partition: number;
  lastOffset: bigint;
  /**
   * The batch took its partition to the end of the log after batches that did not (a backlog, a
   * burst, a catch-up after an outage ends): no more rows are coming soon to fill a request, so the
   * sink writes what it holds at once instead of lingering.
   */
  endsBacklog?: boolean;
  /**
   * Called with a count each time that many more of the chunk's rows are in BigQuery or in the
   * dead-letter topic; each row is counted once.
   */
  done(rows: number): void;
  /**
   * Called for a row the sink dead-letters instead of writing it (BigQuery refused it, or it can never
   * be written), before its `done`: the row is not a play in the table, so the live view must not count it.
   */
  lettered(row: number): void;
  /**
   * Called with a count when that many of the chunk's rows will not be written by this member because
   * its partition moved on (an exactly-once sink was fenced, or a newer assignment began): they are
   * neither written nor committed, and the partition's next owner gets them again. Frees their memory.
   */
  dropped(rows: number): void;
}

/** Where a partition's consumption starts in an assignment: the group's committed offset and its metadata. */
export interface PartitionStart {
  /** The committed offset, or the partition's earliest offset when the group has none. */
  offset: bigint;
  metadata: string | null;
}

/** Thrown by an Assignment's calls once it is over: the partitions may be another member's now. */
export class AssignmentEnded extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AssignmentEnded';
  }
}

/**
 * The partitions a member owns in one generation of the group, as the sink is told of them (like the
 * partitions of Kafka Connect's open, with its SinkTaskContext's requestCommit).
 */
export interface Assignment {
  partitions: readonly number[];
  /** The committed offsets and metadata of this assignment's partitions; rejects with AssignmentEnded once it is over. */
  starts(): Promise<ReadonlyMap<number, PartitionStart>>;
  /** Asks the consumer to commit soon (it asks preCommit what): the sink has a commit of its own waiting. */
  requestCommit(): void;
}

/** One partition's offset to commit, and the metadata to commit with it (an exactly-once sink's stream record). */
export interface OffsetCommit {
  partition: number;
  offset: bigint;
  metadata: string | null;
}

/** What the sink is doing, for readiness and metrics. */
export interface SinkHealth {
  /** Rows held in memory: buffered or being written. */
  bufferedRows: number;
  /** Since when writes have been failing (epoch ms), or null. */
  failingSince: number | null;
  /** Whether the sink can write at all (e.g. its table exists and fits). */
  writable: boolean;
  detail: string;
}

/**
 * Where plays are written, shaped like a Kafka Connect sink task: `open` the partitions of an
 * assignment (and `close` them when it ends); `put` rows, which the sink batches and writes on its
 * own schedule, reporting each row done once it is durably written or dead-lettered; `flush` at a
 * stop; and before each offset commit, `preCommit` says what may be committed and with which
 * metadata. The consumer commits only that, in its one commit path, as the member of the current
 * generation, and tells the sink with `committed` how each commit went.
 */
export interface PlaySink {
  /** Buffers a chunk of rows. Resolves once taken; waits (calling keepAlive now and then) while the buffer is full. */
  put(chunk: RowChunk, keepAlive?: () => Promise<void>): Promise<void>;
  /** Writes everything buffered; resolves true once done, false at the deadline (epoch ms). */
  flush(deadline: number): Promise<boolean>;
  readonly health: SinkHealth;
  /**
   * A new assignment (after every join of the group), like Kafka Connect's open(partitions); it ends
   * the one before: rows put from now on are of this one (the consumer puts none of an older one).
   */
  open(assignment: Assignment): void;
  /**
   * The partitions of the assignment before, at the join that ends it (right before the next open),
   * like Kafka Connect's close(partitions) on revocation: nothing of theirs is committed by this
   * member any more, and a sink that writes in partition order stops writing them (their rows not yet
   * written stay uncommitted; the partitions' next owners get them again).
   */
  close(partitions: readonly number[]): void;
  /**
   * What to commit now, given the offsets the consumer would commit (every message before each is
   * written or dead-lettered): those the sink agrees to, with their metadata (a partition left out
   * may not be committed yet), and commits of the sink's own it asked for with requestCommit.
   */
  preCommit(offsets: ReadonlyMap<number, bigint>): OffsetCommit[];
  /**
   * How commits preCommit returned went: landed as this member of the assignment's generation, or
   * not (`failure`; an AssignmentEnded when the assignment is over and they never will).
   */
  committed(commits: readonly OffsetCommit[], failure?: unknown): void;
}
