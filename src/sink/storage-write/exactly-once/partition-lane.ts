import { errorText } from '../../../errors.js';
import { AssignmentEnded, type PartitionStart } from '../../sink.contract.js';
import { WriteFault, type AppendResult, type WriterAssignment } from '../../writer.contract.js';
import type { Segment } from '../../rows.js';
import { AppendConnection, type AppendRowsResponse } from '../append-connection.js';
import { PLAY_ROW_DESCRIPTOR } from '../play-row-descriptor.js';
import { AlreadyHandledPlays } from './already-handled-plays.js';
import { appendVerdict } from './append-verdict.js';
import { LaneBackoff } from './lane-backoff.js';
import type { LaneContext } from './lane-context.js';
import { finishPiece, laneItemOf, refusedRowsOf, writtenChunksOf, type LaneItem } from './lane-item.js';
import { StreamCheckpoints } from './stream-checkpoints.js';
import { encodeStreamRecord, type StreamRecord } from './stream-record.js';
import { shortName, StreamTakeover, type TakenOver } from './stream-takeover.js';

/** An append BigQuery does not answer within this is failed, and written again on a new connection. */
const APPEND_TIMEOUT_MS = 60_000;

type LaneState = 'opening' | 'open' | 'fenced' | 'closed';

/**
 * One partition's stream in one assignment: reconciles on opening, then appends the sink's requests in
 * order, several in flight. When an append fails, the ones after it fail too (OUT_OF_RANGE, or the
 * same broken connection); once all have answered, the lane sends them again from the first one
 * not written, at offsets counted from the stream's end.
 *
 * The plays from a commit point on that are handled (a row in the stream, or refused by BigQuery and
 * dead-lettered) always form an unbroken run, so a count says which they are. Rows BigQuery refuses
 * are not rows of the stream: before anything after them is appended, the sink has their letters produced
 * and the count of them is recorded in the group's metadata, so a crash cannot shift the count.
 */
export class PartitionLane {
  private state: LaneState = 'opening';
  private readonly takeover: StreamTakeover;
  private stream = '';
  private connection: AppendConnection | null = null;
  /** What earlier owners handled, passed over: known once the partition is taken over. */
  private handled: AlreadyHandledPlays | null = null;
  /** Rows of the stream known to be written. */
  private end = 0;
  private nextOffset = 0;
  private items: LaneItem[] = [];
  /** items[0, sent) are sent; `unanswered` of them still await their answer. */
  private sent = 0;
  private unanswered = 0;
  private recovering: { delayMs: number; lost: boolean } | null = null;
  /**
   * The lane is committing a record of its own (a refusal's count, a replacement stream): until it
   * lands no commit may carry a record, which could count what the lane's record changes.
   */
  private recording = false;
  /** Stream offsets up to which an append went unanswered (a broken connection): written or not, unknown. */
  private uncertainUntil = 0;
  private attempt = 0;
  private readonly backoff: LaneBackoff;
  private readonly checkpoints = new StreamCheckpoints();

  constructor(
    private readonly context: LaneContext,
    readonly partition: number,
    private readonly assignment: WriterAssignment,
    starts: () => Promise<ReadonlyMap<number, PartitionStart>>,
  ) {
    this.backoff = new LaneBackoff(context);
    this.takeover = new StreamTakeover(context, assignment, starts, this.backoff, {
      partition,
      opening: () => this.state === 'opening',
      close: (reason) => this.close(reason),
      begin: (taken) => this.begin(taken),
    });
    void this.takeover.run();
  }

  append(rows: readonly Segment[]): Promise<AppendResult> {
    if (this.state === 'closed' || this.state === 'fenced') {
      return Promise.reject(new WriteFault(`partition ${this.partition} moved on`, 'abandon'));
    }
    return new Promise((resolve, reject) => {
      this.items.push(laneItemOf({ rows, unwritten: [], pieces: 1, resolve, reject }));
      this.pump();
    });
  }

  /** The record for a commit at `offset`, or undefined while there is none to make (the stream is not yet recorded). */
  recordAt(offset: bigint): string | undefined {
    if (this.state !== 'open' || this.recording) return undefined;
    return this.checkpoints.recordAt(offset);
  }

  close(reason: string, state: LaneState = 'closed'): void {
    if (this.state === 'closed') return;
    this.state = state;
    this.backoff.cancel();
    this.connection?.close();
    this.connection = null;
    const requests = new Set(this.items.map((item) => item.request));
    this.items = [];
    this.sent = 0;
    for (const request of requests) request.reject(new WriteFault(reason, 'abandon'));
  }

  /** The partition is taken over: appends go to this owner's stream, past what earlier owners handled. */
  private begin({ stream, start, skip }: TakenOver): void {
    this.useStream(stream);
    this.handled = new AlreadyHandledPlays(start, skip, this.partition, this.context.logger);
    this.checkpoints.startAt(stream, start, skip);
    this.state = 'open';
    this.context.logger.log(
      `partition ${this.partition}: writing from offset ${start} to stream ${shortName(this.stream)}` +
        (skip > 0 ? `, skipping the next ${skip} plays (already written)` : ''),
    );
    this.pump();
  }

  /** Sends what can be sent, in order; a run of refused rows waits until everything before it is written. */
  private pump(): void {
    if (this.state !== 'open' || this.recovering !== null || this.recording || this.connection === null) return;
    while (this.sent < this.items.length) {
      const item = this.items[this.sent]!;
      if (item.refused !== undefined) {
        if (this.sent === 0) void this.deadLetterRefused(item);
        return;
      }
      if (
        this.handled?.passOver(item, (next, carried) => this.checkpoints.take(this.stream, next, this.end, carried))
      ) {
        this.items.splice(this.sent, 1);
        finishPiece(item);
        continue;
      }
      item.offset = this.nextOffset;
      this.nextOffset += item.serialized.length;
      this.sent++;
      this.unanswered++;
      this.connection.append(item.serialized, item.offset).then(
        (response) => this.answered(item, response, undefined),
        (error: unknown) => this.answered(item, undefined, error),
      );
    }
  }

  private answered(item: LaneItem, response: AppendRowsResponse | undefined, error: unknown): void {
    if (this.state !== 'open') return;
    this.unanswered--;
    // No answer (a broken connection, a timeout): the rows may be in the stream or not.
    if (error !== undefined) {
      this.uncertainUntil = Math.max(this.uncertainUntil, item.offset + item.serialized.length);
    }
    if (this.recovering !== null || item !== this.items[0]) {
      // A later append of a failed run (refused, or on the same broken connection): sent again after.
      return this.recovered();
    }
    const verdict = appendVerdict(item, response, error);
    switch (verdict.kind) {
      case 'written':
        return this.confirm(item);
      case 'fenced':
        this.context.logger.warn(
          `partition ${this.partition}: stream ${shortName(this.stream)} was finalized by the partition's next owner; this member stops writing it (its rows are the next owner's)`,
        );
        return this.close(`partition ${this.partition} was taken over`, 'fenced');
      case 'lost':
        // Records of the lost stream cannot be counted any more: none is committed until the new one's.
        this.recording = true;
        this.recovering = { delayMs: 0, lost: true };
        return this.recovered();
      case 'cut':
        this.items.splice(0, 1, ...verdict.runs);
        return this.recover(0);
      case 'failed': {
        this.attempt++;
        const delayMs = this.backoff.delayOf(this.attempt);
        const { message, action } = verdict;
        this.context.reporter().failed(new WriteFault(message, action), item.serialized.length, this.attempt, delayMs);
        return this.recover(delayMs);
      }
    }
  }

  /**
   * Rows BigQuery refused, with everything before them written and nothing after them sent: their
   * letters first, then a record that counts them, then the rows after them may be appended.
   */
  private async deadLetterRefused(item: LaneItem): Promise<void> {
    // Before the letters are done (they move the commit point past the refused plays).
    this.recording = true;
    const refs = refusedRowsOf(item);
    await this.context.reporter().refused(refs);
    if (this.state !== 'open') return;
    this.checkpoints.countRefused(refs.length);
    const at = this.checkpoints.oldest();
    if (!(await this.recordUntilLanded(at.next, at.record, 'recording refused rows'))) return;
    for (const index of item.index) item.request.unwritten.push({ index, outcome: 'settled' });
    for (const { next } of item.chunkEnds) this.checkpoints.take(this.stream, next, this.end, 0);
    this.items.shift();
    finishPiece(item);
    this.recording = false;
    this.pump();
  }

  /** Commits the lane's own record at `offset`, retrying while the lane is open; false once it is not. */
  private async recordUntilLanded(offset: bigint, record: StreamRecord, what: string): Promise<boolean> {
    for (let attempt = 1; this.state === 'open'; attempt++) {
      try {
        await this.context.commit(this.partition, offset, encodeStreamRecord(record));
        return this.state === 'open';
      } catch (error) {
        if (error instanceof AssignmentEnded) {
          this.close(error.message);
          return false;
        }
        await this.backoff.pause(attempt, `${what} of partition ${this.partition}: ${errorText(error)}`, error);
      }
    }
    return false;
  }

  /** The head item is written: done, and its chunks' checkpoints taken. */
  private confirm(item: LaneItem): void {
    for (const { next, rows } of writtenChunksOf(item)) this.checkpoints.take(this.stream, next, rows, 0);
    this.end = item.offset + item.serialized.length;
    this.items.shift();
    this.sent--;
    this.attempt = 0;
    this.context.reporter().succeeded();
    finishPiece(item);
    // A run of refused rows waiting for everything before it to be written may go now.
    this.pump();
  }

  private recover(delayMs: number): void {
    this.recovering = {
      delayMs: Math.max(delayMs, this.recovering?.delayMs ?? 0),
      lost: this.recovering?.lost ?? false,
    };
    this.recovered();
  }

  /** Once every append sent has answered: start again from the first one not written. */
  private recovered(): void {
    if (this.recovering === null || this.unanswered > 0) return;
    const { delayMs, lost } = this.recovering;
    this.sent = 0;
    this.nextOffset = this.end;
    if (lost) return void this.replaceStream();
    this.backoff.after(delayMs, () => {
      this.recovering = null;
      this.pump();
    });
  }

  /**
   * The stream is gone (expired, or an emulator restarted). What it held is known (`end` rows), so the
   * lane's checkpoints are counted again in a new stream: each one's rows of the old stream after it
   * become plays carried. The new stream is recorded before its first append, as an assignment's first
   * is. Only rows whose append went unanswered may be in the old stream unbeknown: they are written
   * again (counted in exactly_once_fallbacks_total).
   */
  private async replaceStream(): Promise<void> {
    if (this.uncertainUntil > this.end) {
      this.takeover.fallBack(0, `its stream ${shortName(this.stream)} no longer exists, with appends unanswered`);
    } else {
      this.context.logger.warn(
        `partition ${this.partition}: its stream ${shortName(this.stream)} no longer exists; going on in a new one`,
      );
    }
    for (let attempt = 1; this.state === 'open'; attempt++) {
      try {
        const created = await this.takeover.createStream();
        if (this.state !== 'open') return;
        this.checkpoints.moveTo(created, this.end);
        const first = this.checkpoints.oldest();
        if (!(await this.recordUntilLanded(first.next, first.record, 'recording the new stream'))) return;
        this.useStream(created);
        this.recording = false;
        this.recovering = null;
        this.pump();
        return;
      } catch (error) {
        await this.backoff.pause(
          attempt,
          `replacing the stream of partition ${this.partition}: ${errorText(error)}`,
          error,
        );
      }
    }
  }

  /** Appends go to `stream` from now on, from its start, on a connection of its own. */
  private useStream(stream: string): void {
    this.connection?.close();
    this.stream = stream;
    this.connection = new AppendConnection(this.context.client, stream, PLAY_ROW_DESCRIPTOR, APPEND_TIMEOUT_MS);
    this.end = 0;
    this.nextOffset = 0;
    this.uncertainUntil = 0;
  }
}
