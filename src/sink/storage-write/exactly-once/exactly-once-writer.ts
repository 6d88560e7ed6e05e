import type { Client } from '@grpc/grpc-js';
import { Logger } from '@nestjs/common';
import { errorText } from '../../../errors.js';
import type { Counter } from '../../../metrics/metrics.js';
import { GRPC, grpcCodeOf, storageWriteAction, streamAnswer, type FaultAction } from '../../faults.js';
import { AssignmentEnded, type PartitionStart, type RowChunk } from '../../play-sink.js';
import {
  WriteFault,
  type AppendResult,
  type PlayWriter,
  type RowFault,
  type WriteReporter,
  type WriterAssignment,
} from '../../play-writer.js';
import { forEachRow, rowOf, type Segment } from '../../rows.js';
import { AppendConnection, type AppendRowsResponse } from '../append-connection.js';
import type { BigQueryWriteClient } from '../client-parts.js';
import { PLAY_ROW_DESCRIPTOR } from '../play-row-descriptor.js';
import { decodeStreamRecord, encodeStreamRecord, type StreamRecord } from './stream-record.js';

/** An append BigQuery does not answer within this is failed, and written again on a new connection. */
const APPEND_TIMEOUT_MS = 60_000;
const RETRY_MIN_DELAY_MS = 200;

export interface ExactlyOnceSettings {
  /** projects/P/datasets/D/tables/T */
  table: string;
  retryMaxDelayMs: number;
}

/**
 * Exactly-once writes with the Storage Write API: each owned partition gets its own COMMITTED write
 * stream, created when the partition is assigned, and its rows are appended in Kafka offset order at
 * stream offsets, so BigQuery refuses a repeat (ALREADY_EXISTS) instead of writing it twice. Every
 * offset commit records the stream and how many of its rows come before the committed offset
 * (StreamRecord), and the next owner of the partition finalizes that stream (which also refuses any
 * later append of an old owner, frozen or not) and skips the plays its final row count says are
 * written. Rows must come from messages deterministically: same messages, same rows, same order.
 *
 * The partition's lane retries on its own and in order: a later append must never land before an
 * earlier one, or the row count would no longer say which plays are written.
 */
export class ExactlyOnceWriter implements PlayWriter {
  readonly api = 'storage-write';
  readonly delivery = 'exactly-once';
  private readonly logger = new Logger('ExactlyOnceWriter');
  private assignment: WriterAssignment | null = null;
  private readonly lanes = new Map<number, PartitionLane>();
  private reporter: WriteReporter = {
    failed: () => undefined,
    succeeded: () => undefined,
    deadLetter: () => Promise.resolve(),
  };

  constructor(
    private readonly client: BigQueryWriteClient,
    private readonly settings: ExactlyOnceSettings,
    private readonly fallbacks: Counter,
  ) {
    // Connects the channel now, not when the first assignment's streams are created (in its critical path).
    void client
      .initialize()
      .then((stub) => (stub as unknown as Partial<Client>).getChannel?.().getConnectivityState(true))
      .catch(() => undefined);
  }

  attach(reporter: WriteReporter): void {
    this.reporter = reporter;
  }

  laneOf(chunk: RowChunk): string {
    return `${chunk.assignment}/${chunk.partition}`;
  }

  open(assignment: WriterAssignment): void {
    for (const lane of this.lanes.values()) lane.close(`partition ${lane.partition} was reassigned`);
    this.lanes.clear();
    this.assignment = assignment;
    let starts: Promise<ReadonlyMap<number, PartitionStart>> | null = null;
    // One read of the group's offsets for all the partitions (and again if it failed).
    const startsOnce = () =>
      (starts ??= assignment.starts().catch((error: unknown) => {
        starts = null;
        throw error;
      }));
    for (const partition of assignment.partitions) {
      this.lanes.set(partition, new PartitionLane(this.context(), partition, assignment, startsOnce));
    }
  }

  append(rows: readonly Segment[]): Promise<AppendResult> {
    const { assignment, partition } = rows[0]!.chunk;
    const lane = assignment === this.assignment?.id ? this.lanes.get(partition) : undefined;
    if (lane === undefined) {
      return Promise.reject(new WriteFault(`partition ${partition} is no longer assigned to this member`, 'abandon'));
    }
    return lane.append(rows);
  }

  commitMetadata(partition: number, offset: bigint): string | undefined {
    return this.lanes.get(partition)?.recordAt(offset);
  }

  async close(): Promise<void> {
    for (const lane of this.lanes.values()) lane.close('the service is stopping');
    this.lanes.clear();
    await this.client.close();
  }

  private context(): LaneContext {
    return {
      client: this.client,
      settings: this.settings,
      logger: this.logger,
      fallbacks: this.fallbacks,
      reporter: () => this.reporter,
    };
  }
}

interface LaneContext {
  client: BigQueryWriteClient;
  settings: ExactlyOnceSettings;
  logger: Logger;
  fallbacks: Counter;
  reporter(): WriteReporter;
}

/** One request of the sink: resolved once every piece of it is written or dead-lettered. */
interface Request {
  rows: readonly Segment[];
  /** Its rows BigQuery refused, dead-lettered by the lane, by index in the request. */
  faults: RowFault[];
  /** Pieces (items) not yet done: a request is split where BigQuery refused rows, or for its size. */
  pieces: number;
  resolve(result: AppendResult): void;
  reject(error: unknown): void;
}

/** A run of a request's rows, as the lane holds it until BigQuery has them (or they are dead letters). */
interface Item {
  request: Request;
  /** Rows BigQuery refused: dead-lettered, then recorded, never appended. */
  refused?: string[];
  /** The rows (serialized protobuf), and each one's index in the request. */
  serialized: Buffer[];
  index: number[];
  /** Where chunks end in the run: the index of a chunk's last row, and the offset after its batch. */
  chunkEnds: { index: number; next: bigint }[];
  /** The stream offset it was last sent at. */
  offset: number;
}

/** The stream's state after all rows of the messages before `next`: what a commit at `next` records. */
interface Checkpoint extends StreamRecord {
  next: bigint;
  /** Plays refused (and dead-lettered) by the lane when the checkpoint was taken. */
  refusedAt: number;
}

type LaneState = 'opening' | 'open' | 'fenced' | 'closed';

/**
 * One partition's stream in one assignment: reconciles on opening, then appends the sink's requests in
 * order, several in flight. When an append fails, the ones after it fail too (OUT_OF_RANGE, or the
 * same broken connection); once all have answered, the lane sends them again from the first one
 * not written, at offsets counted from the stream's end.
 *
 * The plays from a commit point on that are handled (a row in the stream, or refused by BigQuery and
 * dead-lettered) always form an unbroken run, so a count says which they are. Rows BigQuery refuses
 * are not rows of the stream: before anything after them is appended, their letters are produced
 * and the count of them is recorded in the group's metadata, so a crash cannot shift the count.
 */
class PartitionLane {
  private state: LaneState = 'opening';
  private stream = '';
  private connection: AppendConnection | null = null;
  /** Valid plays still to skip: already handled by earlier streams. */
  private skip = 0;
  /** Rows of the stream known to be written. */
  private end = 0;
  private nextOffset = 0;
  /** Plays refused by BigQuery and dead-lettered, in this lane. */
  private refused = 0;
  private items: Item[] = [];
  /** items[0, sent) are sent; `unanswered` of them still await their answer. */
  private sent = 0;
  private unanswered = 0;
  private recovering: { delayMs: number; lost: boolean } | null = null;
  /**
   * The lane is committing a record of its own (a refusal's count, a replacement stream): until it
   * lands no commit may carry a record, which could count what the lane's record changes.
   */
  private recording = false;
  /** The assignment's start: messages before it were handled by earlier owners. */
  private start = 0n;
  /** Rows from messages before `start` may still come (kafkajs fetched from an older committed offset). */
  private beforeStart = true;
  /** Stream offsets up to which an append went unanswered (a broken connection): written or not, unknown. */
  private uncertainUntil = 0;
  private attempt = 0;
  private timer: NodeJS.Timeout | undefined;
  private wake: (() => void) | null = null;
  private checkpoints: Checkpoint[] = [];

  constructor(
    private readonly context: LaneContext,
    readonly partition: number,
    private readonly assignment: WriterAssignment,
    private readonly starts: () => Promise<ReadonlyMap<number, PartitionStart>>,
  ) {
    void this.openStream();
  }

  append(rows: readonly Segment[]): Promise<AppendResult> {
    if (this.state === 'closed' || this.state === 'fenced') {
      return Promise.reject(new WriteFault(`partition ${this.partition} moved on`, 'abandon'));
    }
    return new Promise((resolve, reject) => {
      const request: Request = { rows, faults: [], pieces: 1, resolve, reject };
      const item: Item = { request, serialized: [], index: [], chunkEnds: [], offset: 0 };
      forEachRow(rows, (chunk, row, index) => {
        item.serialized.push(rowOf(chunk, row));
        item.index.push(index);
        if (row === chunk.ends.length - 1) item.chunkEnds.push({ index, next: chunk.lastOffset + 1n });
      });
      this.items.push(item);
      this.pump();
    });
  }

  /** The record for a commit at `offset`, or undefined while there is none to make (the stream is not yet recorded). */
  recordAt(offset: bigint): string | undefined {
    if (this.state !== 'open' || this.recording) return undefined;
    let at = -1;
    for (let i = 0; i < this.checkpoints.length && this.checkpoints[i]!.next <= offset; i++) at = i;
    if (at < 0) return undefined;
    // Commits only move forward: older checkpoints are not needed again.
    if (at > 0) this.checkpoints.splice(0, at);
    return encodeStreamRecord(this.recordOf(this.checkpoints[0]!));
  }

  close(reason: string, state: LaneState = 'closed'): void {
    if (this.state === 'closed') return;
    this.state = state;
    clearTimeout(this.timer);
    this.wake?.();
    this.connection?.close();
    this.connection = null;
    const requests = new Set(this.items.map((item) => item.request));
    this.items = [];
    this.sent = 0;
    for (const request of requests) request.reject(new WriteFault(reason, 'abandon'));
  }

  /** A checkpoint's record, counting the plays refused and dead-lettered since it was taken. */
  private recordOf({ stream, rows, carried, refusedAt }: Checkpoint): StreamRecord {
    return { stream, rows, carried: carried + this.refused - refusedAt };
  }

  private checkpoint(next: bigint, rows: number, carried: number): void {
    this.checkpoints.push({ stream: this.stream, rows, carried, next, refusedAt: this.refused });
  }

  /**
   * Reconciles with what earlier owners wrote: finalize the recorded stream, count what it holds past
   * the committed offset, create this owner's stream and record it (at the committed offset) before
   * its first append, so that whoever comes next finds it even if this owner never commits.
   */
  private async openStream(): Promise<void> {
    const { logger } = this.context;
    // This owner's stream does not depend on what the recorded one holds: it is made while the start
    // is read and the recorded stream finalized (an assignment's first append waits for all three).
    // Once made, it is kept for the next attempt; a failed creation is tried again.
    let creating: Promise<string> | null = null;
    const created = () =>
      (creating ??= this.assignment
        .tableReady()
        .then(() => this.createStream())
        .catch((error: unknown) => {
          creating = null;
          throw error;
        }));
    for (let attempt = 1; this.state === 'opening'; attempt++) {
      try {
        created().catch(() => undefined);
        const start = (await this.starts()).get(this.partition);
        if (start === undefined) throw new Error(`no committed offset was read for partition ${this.partition}`);
        const skip = await this.writtenAfter(start);
        if (this.state !== 'opening') return;
        const stream = await created();
        if (this.state !== 'opening') return;
        // BigQuery answers again: a failure reported while opening (e.g. the table missing) is over.
        // (The record below waits for the consumer's first batch, which an idle topic may not bring.)
        this.context.reporter().succeeded();
        const record = { stream, rows: 0, carried: skip };
        await this.assignment.record(this.partition, start.offset, encodeStreamRecord(record));
        if (this.state !== 'opening') return;
        this.useStream(stream);
        this.start = start.offset;
        this.skip = skip;
        this.checkpoints = [];
        this.checkpoint(start.offset, 0, skip);
        this.state = 'open';
        logger.log(
          `partition ${this.partition}: writing from offset ${start.offset} to stream ${shortName(this.stream)}` +
            (skip > 0 ? `, skipping the next ${skip} plays (already written)` : ''),
        );
        this.pump();
        return;
      } catch (error) {
        if (this.state !== 'opening') return;
        if (error instanceof AssignmentEnded) return this.close(error.message);
        await this.backoff(attempt, `opening the stream of partition ${this.partition}: ${errorText(error)}`, error);
      }
    }
  }

  /** How many valid plays from the committed offset on are already handled (in BigQuery, or dead letters). */
  private async writtenAfter(start: PartitionStart): Promise<number> {
    const record = decodeStreamRecord(start.metadata);
    if (record === null || !record.stream.startsWith(`${this.context.settings.table}/`)) return 0;
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

  private fallBack(skip: number, why: string): number {
    this.context.fallbacks.inc();
    this.context.logger.warn(
      `partition ${this.partition}: ${why}; the plays since its last commit are written again (at-least-once for that stretch: some may be in BigQuery twice)`,
    );
    return skip;
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
      if (this.beforeStart && this.passBeforeStart(item)) continue;
      if (this.skip > 0 && this.skipRows(item)) continue;
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

  /** Marks the plays to skip handled. True if the whole item was skipped (and is done). */
  private skipRows(item: Item): boolean {
    const count = Math.min(this.skip, item.serialized.length);
    const lastSkipped = item.index[count - 1]!;
    for (const { index, next } of item.chunkEnds) {
      if (index > lastSkipped) break;
      this.checkpoint(next, this.end, this.skip - (item.index.indexOf(index) + 1));
    }
    item.serialized.splice(0, count);
    item.index.splice(0, count);
    item.chunkEnds = item.chunkEnds.filter(({ index }) => index > lastSkipped);
    this.skip -= count;
    if (item.serialized.length > 0) return false;
    this.items.splice(this.sent, 1);
    this.finish(item);
    return true;
  }

  /**
   * Drops, as done, the rows of messages before the assignment's start. kafkajs fetches from the
   * committed offset it read when the group formed; if a commit landed after that read (one sent
   * before the rebalance), the start read later is past it, and the record counts from there: those
   * messages are handled already, and appending them would write them twice. True if the whole item was.
   */
  private passBeforeStart(item: Item): boolean {
    const before = new Set<number>();
    let index = 0;
    for (const { chunk, from, to } of item.request.rows) {
      if (!this.beforeStart) break;
      if (chunk.lastOffset < this.start) {
        for (let row = from; row < to; row++) before.add(index++);
        continue;
      }
      for (let row = from; row < to; row++, index++) {
        if (BigInt(chunk.source(row).offset) >= this.start) {
          this.beforeStart = false;
          break;
        }
        before.add(index);
      }
    }
    if (before.size === 0) return false;
    const kept = item.index.map((index) => !before.has(index));
    item.serialized = item.serialized.filter((_, i) => kept[i]);
    item.index = item.index.filter((_, i) => kept[i]);
    item.chunkEnds = item.chunkEnds.filter(({ index }) => !before.has(index));
    this.context.logger.warn(
      `partition ${this.partition}: ${before.size} plays before the start offset ${this.start} were fetched again; passed over (already handled)`,
    );
    if (item.serialized.length > 0) return false;
    this.items.splice(this.sent, 1);
    this.finish(item);
    return true;
  }

  private answered(item: Item, response: AppendRowsResponse | undefined, error: unknown): void {
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
    const code = error !== undefined ? grpcCodeOf(error) : (response?.error?.code ?? GRPC.OK);
    const message = error !== undefined ? errorText(error) : (response?.error?.message ?? '');
    const rowErrors = response?.rowErrors ?? [];
    if (rowErrors.length > 0) {
      // Nothing of the append was written: it goes again in runs, the refused rows' runs as dead letters.
      const refused = new Map(
        rowErrors.map((e) => [Number(e.index), `row error ${e.code ?? ''}: ${e.message ?? ''}`] as const),
      );
      this.items.splice(0, 1, ...this.runs(item, refused));
      return this.recover(0);
    }
    const numericCode = typeof code === 'number' ? code : undefined;
    if (numericCode === GRPC.OK) return this.confirm(item);
    switch (streamAnswer(numericCode, message, storageErrorOf(response))) {
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
      case 'resend':
        // OUT_OF_RANGE for the first append not written: its end is not where it was counted. Sent again.
        break;
      case undefined:
        break;
    }
    const action: FaultAction =
      streamAnswer(numericCode, message) === 'resend' ? 'retry' : storageWriteAction(numericCode, message);
    if (action === 'split' && item.serialized.length > 1) {
      // Too large: the halves go in its place, in order.
      const half = Math.ceil(item.serialized.length / 2);
      this.items.splice(0, 1, ...this.runs(item, new Map(), half));
      return this.recover(0);
    }
    if (action === 'split' || action === 'dead-letter') {
      // A row too large even alone: a dead letter, in its place.
      this.items.splice(0, 1, ...this.runs(item, new Map(item.serialized.map((_, i) => [i, message] as const))));
      return this.recover(0);
    }
    this.attempt++;
    const delayMs = retryDelay(this.attempt, this.context.settings.retryMaxDelayMs);
    this.context.reporter().failed(new WriteFault(message, action), item.serialized.length, this.attempt, delayMs);
    return this.recover(delayMs);
  }

  /**
   * An item cut where rows are refused (and, for a request too large, at `cutAt`), in order: runs to
   * append, and runs of refused rows (with why) to dead-letter.
   */
  private runs(item: Item, refused: ReadonlyMap<number, string>, cutAt = -1): Item[] {
    const runs: Item[] = [];
    let run: Item | null = null;
    item.serialized.forEach((row, i) => {
      const why = refused.get(i);
      if (run === null || (why !== undefined) !== (run.refused !== undefined) || i === cutAt) {
        run = { request: item.request, serialized: [], index: [], chunkEnds: [], offset: 0 };
        if (why !== undefined) run.refused = [];
        runs.push(run);
      }
      run.serialized.push(row);
      run.index.push(item.index[i]!);
      if (why !== undefined) run.refused!.push(why);
      const end = item.chunkEnds.find(({ index }) => index === item.index[i]);
      if (end !== undefined) run.chunkEnds.push(end);
    });
    item.request.pieces += runs.length - 1;
    return runs;
  }

  /**
   * Rows BigQuery refused, with everything before them written and nothing after them sent: their
   * letters first, then a record that counts them, then the rows after them may be appended.
   */
  private async deadLetterRefused(item: Item): Promise<void> {
    // Before the letters are done (they move the commit point past the refused plays).
    this.recording = true;
    const refs: { chunk: RowChunk; row: number; detail: string }[] = [];
    const wanted = new Map(item.index.map((index, i) => [index, item.refused![i]!]));
    forEachRow(item.request.rows, (chunk, row, index) => {
      const detail = wanted.get(index);
      if (detail !== undefined) refs.push({ chunk, row, detail });
    });
    await this.context.reporter().deadLetter(refs);
    if (this.state !== 'open') return;
    this.refused += refs.length;
    const at = this.checkpoints[0]!;
    if (!(await this.recordUntilLanded(at.next, this.recordOf(at), 'recording refused rows'))) return;
    for (const [i, index] of item.index.entries()) {
      item.request.faults.push({ index, action: 'dead-lettered', detail: item.refused![i]! });
    }
    for (const { next } of item.chunkEnds) this.checkpoint(next, this.end, 0);
    this.items.shift();
    this.finish(item);
    this.recording = false;
    this.pump();
  }

  /** Commits the lane's own record at `offset`, retrying while the lane is open; false once it is not. */
  private async recordUntilLanded(offset: bigint, record: StreamRecord, what: string): Promise<boolean> {
    for (let attempt = 1; this.state === 'open'; attempt++) {
      try {
        await this.assignment.record(this.partition, offset, encodeStreamRecord(record));
        return this.state === 'open';
      } catch (error) {
        if (error instanceof AssignmentEnded) {
          this.close(error.message);
          return false;
        }
        await this.backoff(attempt, `${what} of partition ${this.partition}: ${errorText(error)}`, error);
      }
    }
    return false;
  }

  /** The head item is written: done, and its chunks' checkpoints taken. */
  private confirm(item: Item): void {
    let kept = 0;
    let i = 0;
    for (const { index, next } of item.chunkEnds) {
      while (i < item.index.length && item.index[i]! <= index) {
        i++;
        kept++;
      }
      this.checkpoint(next, item.offset + kept, 0);
    }
    this.end = item.offset + item.serialized.length;
    this.items.shift();
    this.sent--;
    this.attempt = 0;
    this.context.reporter().succeeded();
    this.finish(item);
    // A run of refused rows waiting for everything before it to be written may go now.
    this.pump();
  }

  private finish(item: Item): void {
    const { request } = item;
    if (--request.pieces === 0) request.resolve({ rowFaults: request.faults });
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
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.recovering = null;
      this.pump();
    }, delayMs);
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
      this.fallBack(0, `its stream ${shortName(this.stream)} no longer exists, with appends unanswered`);
    } else {
      this.context.logger.warn(
        `partition ${this.partition}: its stream ${shortName(this.stream)} no longer exists; going on in a new one`,
      );
    }
    for (let attempt = 1; this.state === 'open'; attempt++) {
      try {
        const created = await this.createStream();
        if (this.state !== 'open') return;
        const held = this.end;
        this.checkpoints = this.checkpoints.map((at) => {
          const { rows, carried } = this.recordOf(at);
          return { stream: created, rows: 0, carried: carried + held - rows, next: at.next, refusedAt: this.refused };
        });
        const first = this.checkpoints[0]!;
        if (!(await this.recordUntilLanded(first.next, this.recordOf(first), 'recording the new stream'))) return;
        this.useStream(created);
        this.recording = false;
        this.recovering = null;
        this.pump();
        return;
      } catch (error) {
        await this.backoff(attempt, `replacing the stream of partition ${this.partition}: ${errorText(error)}`, error);
      }
    }
  }

  /** A new COMMITTED stream of the table; its name. */
  private async createStream(): Promise<string> {
    const { client, settings } = this.context;
    const [created] = await client.createWriteStream({ parent: settings.table, writeStream: { type: 'COMMITTED' } });
    if (!created.name) throw new Error('BigQuery created a write stream without a name');
    return created.name;
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

  private async backoff(attempt: number, message: string, error: unknown): Promise<void> {
    const delayMs = retryDelay(attempt, this.context.settings.retryMaxDelayMs);
    const action = storageWriteAction(grpcCodeOf(error), errorText(error));
    this.context.reporter().failed(new WriteFault(message, action === 'stop' ? 'stop' : 'retry'), 0, attempt, delayMs);
    await new Promise<void>((resolve) => {
      this.wake = resolve;
      this.timer = setTimeout(resolve, delayMs);
    });
    this.wake = null;
  }
}

/** Capped exponential backoff with jitter. */
function retryDelay(attempt: number, maxMs: number): number {
  return Math.min(maxMs, RETRY_MIN_DELAY_MS * 2 ** Math.min(attempt - 1, 20)) * (0.5 + Math.random() / 2);
}

/** The StorageError code BigQuery puts in an in-band error's details, if any. */
function storageErrorOf(response: AppendRowsResponse | undefined): number | undefined {
  for (const detail of response?.error?.details ?? []) {
    const code = (detail as { code?: unknown }).code;
    if (typeof code === 'number') return code;
  }
  return undefined;
}

const shortName = (stream: string) => stream.slice(stream.lastIndexOf('/') + 1);
