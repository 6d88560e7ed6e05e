import { Logger } from '@nestjs/common';
import { errorText } from '../../errors.js';
import type { Counter } from '../../metrics/metrics.js';
import { GRPC, storageWriteAction, streamAnswer, type FaultAction } from '../faults.js';
import { AssignmentEnded, type Assignment, type PartitionStart, type RowChunk } from '../play-sink.js';
import { WriteFault, type AppendResult, type PlayWriter, type RowFault, type WriteReporter } from '../play-writer.js';
import { forEachRow, rowOf, type Segment } from '../rows.js';
import { AppendConnection, type AppendRowsResponse } from './append-connection.js';
import type { BigQueryWriteClient } from './client-parts.js';
import { PLAY_ROW_DESCRIPTOR } from './play-row-descriptor.js';
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
  private assignment: Assignment | null = null;
  private readonly lanes = new Map<number, PartitionLane>();
  private reporter: WriteReporter = { failed: () => undefined, succeeded: () => undefined };

  constructor(
    private readonly client: BigQueryWriteClient,
    private readonly settings: ExactlyOnceSettings,
    private readonly fallbacks: Counter,
  ) {}

  attach(reporter: WriteReporter): void {
    this.reporter = reporter;
  }

  laneOf(chunk: RowChunk): string {
    return `${chunk.assignment}/${chunk.partition}`;
  }

  open(assignment: Assignment): void {
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

/** One request of the sink, as the lane holds it until BigQuery has its rows. */
interface Item {
  /** The rows still to append (serialized protobuf), and each one's index in the request. */
  serialized: Buffer[];
  index: number[];
  /** Rows of the request BigQuery refused (dead-lettered by the sink), by index in the request. */
  faults: RowFault[];
  /** Where chunks end in the request: the index of a chunk's last row, and the offset after its batch. */
  chunkEnds: { index: number; next: bigint }[];
  /** The stream offset it was last sent at. */
  offset: number;
  resolve(result: AppendResult): void;
  reject(error: unknown): void;
}

/** The stream's state after all rows of the messages before `next`: what a commit at `next` records. */
interface Checkpoint extends StreamRecord {
  next: bigint;
}

type LaneState = 'opening' | 'open' | 'fenced' | 'closed';

/**
 * One partition's stream in one assignment: reconciles on opening, then appends the sink's requests in
 * order, several in flight. When an append fails, the ones after it fail too (OUT_OF_RANGE, or the
 * same broken connection); once all have answered, the lane sends them again from the first one
 * not written, at offsets counted from the stream's end.
 */
class PartitionLane {
  private state: LaneState = 'opening';
  private stream = '';
  private connection: AppendConnection | null = null;
  /** Valid plays still to skip: already in BigQuery through earlier streams. */
  private skip = 0;
  /** Rows of the stream known to be written. */
  private end = 0;
  private nextOffset = 0;
  private readonly items: Item[] = [];
  /** items[0, sent) are sent; `unanswered` of them still await their answer. */
  private sent = 0;
  private unanswered = 0;
  private recovering: { delayMs: number; lost: boolean } | null = null;
  private attempt = 0;
  private timer: NodeJS.Timeout | undefined;
  private wake: (() => void) | null = null;
  private checkpoints: Checkpoint[] = [];

  constructor(
    private readonly context: LaneContext,
    readonly partition: number,
    private readonly assignment: Assignment,
    private readonly starts: () => Promise<ReadonlyMap<number, PartitionStart>>,
  ) {
    void this.openStream();
  }

  append(rows: readonly Segment[]): Promise<AppendResult> {
    if (this.state === 'closed' || this.state === 'fenced') {
      return Promise.reject(new WriteFault(`partition ${this.partition} moved on`, 'abandon'));
    }
    return new Promise((resolve, reject) => {
      const item: Item = { serialized: [], index: [], faults: [], chunkEnds: [], offset: 0, resolve, reject };
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
    if (this.state !== 'open') return undefined;
    let at = -1;
    for (let i = 0; i < this.checkpoints.length && this.checkpoints[i]!.next <= offset; i++) at = i;
    if (at < 0) return undefined;
    // Commits only move forward: older checkpoints are not needed again.
    if (at > 0) this.checkpoints.splice(0, at);
    return encodeStreamRecord(this.checkpoints[0]!);
  }

  close(reason: string, state: LaneState = 'closed'): void {
    if (this.state === 'closed') return;
    this.state = state;
    clearTimeout(this.timer);
    this.wake?.();
    this.connection?.close();
    this.connection = null;
    const items = this.items.splice(0);
    this.sent = 0;
    for (const item of items) item.reject(new WriteFault(reason, 'abandon'));
  }

  /**
   * Reconciles with what earlier owners wrote: finalize the recorded stream, count what it holds past
   * the committed offset, create this owner's stream and record it (at the committed offset) before
   * its first append, so that whoever comes next finds it even if this owner never commits.
   */
  private async openStream(): Promise<void> {
    const { client, settings, logger } = this.context;
    for (let attempt = 1; this.state === 'opening'; attempt++) {
      try {
        const start = (await this.starts()).get(this.partition);
        if (start === undefined) throw new Error(`no committed offset was read for partition ${this.partition}`);
        const skip = await this.writtenAfter(start);
        if (this.state !== 'opening') return;
        const [created] = await client.createWriteStream({
          parent: settings.table,
          writeStream: { type: 'COMMITTED' },
        });
        if (!created.name) throw new Error('BigQuery created a write stream without a name');
        if (this.state !== 'opening') return;
        const record = { stream: created.name, rows: 0, carried: skip };
        await this.assignment.record(this.partition, start.offset, encodeStreamRecord(record));
        if (this.state !== 'opening') return;
        this.stream = created.name;
        this.skip = skip;
        this.checkpoints = [{ ...record, next: start.offset }];
        this.connection = new AppendConnection(client, this.stream, PLAY_ROW_DESCRIPTOR, APPEND_TIMEOUT_MS);
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

  /** How many valid plays from the committed offset on are already in BigQuery. */
  private async writtenAfter(start: PartitionStart): Promise<number> {
    const record = decodeStreamRecord(start.metadata);
    if (record === null || !record.stream.startsWith(`${this.context.settings.table}/`)) return 0;
    let rowCount: number;
    try {
      const [finalized] = await this.context.client.finalizeWriteStream({ name: record.stream });
      rowCount = Number(String(finalized.rowCount ?? 0));
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (streamAnswer(typeof code === 'number' ? code : undefined, errorText(error)) !== 'lost') throw error;
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

  /** Sends what can be sent, in order. */
  private pump(): void {
    if (this.state !== 'open' || this.recovering !== null || this.connection === null) return;
    while (this.sent < this.items.length) {
      const item = this.items[this.sent]!;
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

  /** Marks the plays to skip written. True if the whole item was skipped (and is done). */
  private skipRows(item: Item): boolean {
    const count = Math.min(this.skip, item.serialized.length);
    const lastSkipped = item.index[count - 1]!;
    for (const { index, next } of item.chunkEnds) {
      if (index > lastSkipped) break;
      const skippedThrough = item.index.findIndex((i) => i === index) + 1;
      this.checkpoints.push({ stream: this.stream, rows: this.end, carried: this.skip - skippedThrough, next });
    }
    item.serialized.splice(0, count);
    item.index.splice(0, count);
    item.chunkEnds = item.chunkEnds.filter(({ index }) => index > lastSkipped);
    this.skip -= count;
    if (item.serialized.length > 0) return false;
    this.items.splice(this.sent, 1);
    item.resolve({ rowFaults: item.faults });
    return true;
  }

  private answered(item: Item, response: AppendRowsResponse | undefined, error: unknown): void {
    if (this.state !== 'open') return;
    this.unanswered--;
    if (this.recovering !== null || item !== this.items[0]) {
      // A later append of a failed run (refused, or on the same broken connection): sent again after.
      return this.recovered();
    }
    const code = error !== undefined ? (error as { code?: unknown }).code : (response?.error?.code ?? GRPC.OK);
    const message = error !== undefined ? errorText(error) : (response?.error?.message ?? '');
    const rowErrors = response?.rowErrors ?? [];
    if (rowErrors.length > 0) {
      // Nothing of the append was written: the rows named are dead-lettered, the rest sent again in place.
      const bad = new Map(rowErrors.map((e) => [Number(e.index), e]));
      const keep = (_: unknown, i: number) => !bad.has(i);
      for (const [i, e] of bad) {
        const index = item.index[i];
        if (index !== undefined) {
          item.faults.push({ index, action: 'dead-letter', detail: `row error ${e.code ?? ''}: ${e.message ?? ''}` });
        }
      }
      item.serialized = item.serialized.filter(keep);
      item.index = item.index.filter(keep);
      if (item.serialized.length === 0) return this.confirm(item, true);
      return this.recover(0);
    }
    const numericCode = typeof code === 'number' ? code : undefined;
    if (numericCode === GRPC.OK) return this.confirm(item, false);
    switch (streamAnswer(numericCode, message, storageErrorOf(response))) {
      case 'written':
        return this.confirm(item, false);
      case 'fenced':
        this.context.logger.warn(
          `partition ${this.partition}: stream ${shortName(this.stream)} was finalized by the partition's next owner; this member stops writing it (its rows are the next owner's)`,
        );
        return this.close(`partition ${this.partition} was taken over`, 'fenced');
      case 'lost':
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
      const second: Item = {
        ...item,
        serialized: item.serialized.splice(half),
        index: item.index.splice(half),
        chunkEnds: item.chunkEnds.filter(({ index }) => index > item.index[half - 1]!),
      };
      const first: Item = {
        ...item,
        chunkEnds: item.chunkEnds.filter(({ index }) => index <= item.index[half - 1]!),
        resolve: () => undefined,
        reject: (e) => second.reject(e),
      };
      this.items.splice(0, 1, first, second);
      return this.recover(0);
    }
    if (action === 'split' || action === 'dead-letter') {
      for (const index of item.index) item.faults.push({ index, action: 'dead-letter', detail: message });
      item.serialized = [];
      item.index = [];
      return this.confirm(item, true);
    }
    this.attempt++;
    const delayMs = retryDelay(this.attempt, this.context.settings.retryMaxDelayMs);
    this.context.reporter().failed(new WriteFault(message, action), item.serialized.length, this.attempt, delayMs);
    return this.recover(delayMs);
  }

  /** The head item is written (or nothing of it is left to write): done, and its chunks' checkpoints taken. */
  private confirm(item: Item, nothingAppended: boolean): void {
    const base = nothingAppended ? this.end : item.offset;
    let kept = 0;
    let i = 0;
    for (const { index, next } of item.chunkEnds) {
      while (i < item.index.length && item.index[i]! <= index) {
        i++;
        kept++;
      }
      this.checkpoints.push({ stream: this.stream, rows: base + kept, carried: 0, next });
    }
    if (!nothingAppended) this.end = item.offset + item.serialized.length;
    this.items.shift();
    this.sent--;
    this.attempt = 0;
    this.context.reporter().succeeded();
    item.resolve({ rowFaults: item.faults });
    if (nothingAppended && this.sent > 0) {
      // The appends sent after it counted on its rows: they are refused and sent again.
      this.recover(0);
    }
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
    this.timer = setTimeout(() => {
      this.recovering = null;
      this.pump();
    }, delayMs);
  }

  /**
   * The stream is gone (expired, or an emulator restarted): what it held since the last commit cannot
   * be counted any more. The rest goes to a new stream; a restart before the next commit writes that
   * stretch again (counted in exactly_once_fallbacks_total).
   */
  private async replaceStream(): Promise<void> {
    const { client, settings } = this.context;
    this.fallBack(0, `its stream ${shortName(this.stream)} no longer exists`);
    for (let attempt = 1; this.state === 'open'; attempt++) {
      try {
        const [created] = await client.createWriteStream({
          parent: settings.table,
          writeStream: { type: 'COMMITTED' },
        });
        if (!created.name) throw new Error('BigQuery created a write stream without a name');
        if (this.state !== 'open') return;
        this.connection?.close();
        this.stream = created.name;
        this.connection = new AppendConnection(client, this.stream, PLAY_ROW_DESCRIPTOR, APPEND_TIMEOUT_MS);
        this.end = 0;
        this.nextOffset = 0;
        this.recovering = null;
        this.pump();
        return;
      } catch (error) {
        await this.backoff(attempt, `replacing the stream of partition ${this.partition}: ${errorText(error)}`, error);
      }
    }
  }

  private async backoff(attempt: number, message: string, error: unknown): Promise<void> {
    const delayMs = retryDelay(attempt, this.context.settings.retryMaxDelayMs);
    const code = (error as { code?: unknown }).code;
    const action = storageWriteAction(typeof code === 'number' ? code : undefined, errorText(error));
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
