import { errorText } from '../../../errors.js';
import { grpcCodeOf, streamAnswer } from '../storage-write-faults.js';
import { AssignmentEnded, type PartitionStart } from '../../sink.contract.js';
import type { WriterAssignment } from '../../writer.contract.js';
import type { LaneBackoff } from './lane-backoff.js';
import type { LaneContext } from './lane-context.js';
import { decodeStreamRecord, encodeStreamRecord } from './stream-record.js';

/** A partition taken over: this owner's stream, recorded at `start`, and the plays from there to skip. */
export interface TakenOver {
  stream: string;
  /** The assignment's start: messages before it were handled by earlier owners. */
  start: bigint;
  /** Valid plays from `start` on already handled by earlier streams. */
  skip: number;
}

/** What a takeover needs of its partition's lane. */
export interface TakeoverLane {
  readonly partition: number;
  /** False once the lane stopped opening (closed): the takeover stops there. */
  opening(): boolean;
  close(reason: string): void;
  /** Taken over: the lane starts appending. */
  begin(taken: TakenOver): void;
}

/**
 * Taking over a partition: reconciles with what earlier owners wrote. Finalizes the stream the
 * group's commit records, counts what it holds past the committed offset, creates this owner's
 * stream and records it (at the committed offset) before its first append, so that whoever comes
 * next finds it even if this owner never commits.
 */
export class StreamTakeover {
  /** This owner's stream, being made (kept once made; a failed creation is tried again). */
  private creating: Promise<string> | null = null;

  constructor(
    private readonly context: LaneContext,
    private readonly assignment: WriterAssignment,
    private readonly starts: () => Promise<ReadonlyMap<number, PartitionStart>>,
    private readonly backoff: LaneBackoff,
    private readonly lane: TakeoverLane,
  ) {}

  /** Takes the partition over, tried again until it is (then the lane begins) or the lane closes. */
  async run(): Promise<void> {
    const { partition } = this.lane;
    for (let attempt = 1; this.lane.opening(); attempt++) {
      try {
        // This owner's stream does not depend on what the recorded one holds: it is made while the start
        // is read and the recorded stream finalized (an assignment's first append waits for all three).
        this.created().catch(() => undefined);
        const start = (await this.starts()).get(partition);
        if (start === undefined) throw new Error(`no committed offset was read for partition ${partition}`);
        const skip = await this.writtenAfter(start);
        if (!this.lane.opening()) return;
        const stream = await this.created();
        if (!this.lane.opening()) return;
        // BigQuery answers again: a failure reported while opening (e.g. the table missing) is over.
        // (The record below waits for the consumer's first batch, which an idle topic may not bring.)
        this.context.reporter().succeeded();
        const record = { stream, rows: 0, carried: skip };
        await this.context.commit(partition, start.offset, encodeStreamRecord(record));
        if (!this.lane.opening()) return;
        this.lane.begin({ stream, start: start.offset, skip });
        return;
      } catch (error) {
        if (!this.lane.opening()) return;
        if (error instanceof AssignmentEnded) return this.lane.close(error.message);
        await this.backoff.pause(attempt, `opening the stream of partition ${partition}: ${errorText(error)}`, error);
      }
    }
  }

  /** A new COMMITTED stream of the table; its name. */
  async createStream(): Promise<string> {
    const { client, table } = this.context;
    const [created] = await client.createWriteStream({ parent: table, writeStream: { type: 'COMMITTED' } });
    if (!created.name) throw new Error('BigQuery created a write stream without a name');
    return created.name;
  }

  /** What was written since the last commit cannot be told: counted, and `skip` plays are skipped. */
  fallBack(skip: number, why: string): number {
    this.context.fallbacks.inc();
    this.context.logger.warn(
      `partition ${this.lane.partition}: ${why}; the plays since its last commit are written again (at-least-once for that stretch: some may be in BigQuery twice)`,
    );
    return skip;
  }

  private created(): Promise<string> {
    return (this.creating ??= this.assignment
      .tableReady()
      .then(() => this.createStream())
      .catch((error: unknown) => {
        this.creating = null;
        throw error;
      }));
  }

  /** How many valid plays from the committed offset on are already handled (in BigQuery, or dead letters). */
  private async writtenAfter(start: PartitionStart): Promise<number> {
    const record = decodeStreamRecord(start.metadata);
    if (record === null || !record.stream.startsWith(`${this.context.table}/`)) return 0;
    let rowCount: number;
    try {
      const [finalized] = await this.context.client.finalizeWriteStream({ name: record.stream });
      rowCount = Number(String(finalized.rowCount ?? 0));
    } catch (error) {
      if (streamAnswer(grpcCodeOf(error), errorText(error)) !== 'lost') throw error;
      return this.fallBack(record.carried, `its recorded stream ${shortName(record.stream)} no longer exists`);
    }
    if (rowCount < record.rows) {
      return this.fallBack(
        record.carried,
        `its recorded stream ${shortName(record.stream)} holds ${rowCount} rows, fewer than the ${record.rows} recorded`,
      );
    }
    return record.carried + rowCount - record.rows;
  }
}

/** A stream's name without its table's path, for logs. */
export const shortName = (stream: string) => stream.slice(stream.lastIndexOf('/') + 1);
