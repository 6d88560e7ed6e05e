import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import pRetry from 'p-retry';
import { AppConfig } from '../../config/config.module.js';
import { DeadLetters } from '../../dead-letters/dead-letters.service.js';
import type { SourceMessage } from '../../plays/source-message.js';
import { errorText } from '../../errors.js';
import { InjectMetric, METRIC, type Counter, type Gauge, type Histogram } from '../../metrics/metrics.js';
import type { Assignment, PlaySink, RowChunk, SinkHealth } from '../sink.contract.js';
import { PlayTable } from '../play-table.js';
import { WriteFault, type PlayWriter, type WriteReporter, type WriterDefaults } from '../writer.contract.js';
import { appendRow, forEachRow, rowCount, splitRows, startOf, type Segment } from '../rows.js';
import { WRITER_DEFAULTS } from '../sink-apis.js';
import { PLAY_WRITER } from '../sink.tokens.js';

/** Some rows of a request were not written but can be (stopped by an invalid one, a backend error): write them again. */
class RowsAgain extends Error {}

/** Rows not yet sent of one lane (see PlayWriter.laneOf), oldest first; the head's `from` moves as rows are taken. */
interface Lane {
  segments: Segment[];
  rows: number;
  bytes: number;
  /** Its requests under way: the in-flight limit is per lane, as BigQuery's is per connection. */
  inFlight: number;
  inFlightRows: number;
  /** A backlog ended in it (RowChunk.endsBacklog): its rows go at once, without waiting to fill a request. */
  ending: boolean;
}

/**
 * The write path's one batcher, whichever writer (SINK_API) does the writing: batches rows by count,
 * bytes and linger time, keeps a bounded number of requests in flight, retries without limit with
 * capped exponential backoff and jitter, splits requests refused for their size, dead-letters rows
 * BigQuery rejects, and reports each row done once it is written or dead-lettered. While a lane holds
 * its share of SINK_MAX_BUFFERED_ROWS rows, its `put` waits, which pauses consumption and bounds memory.
 * What to do about each fault comes from the writer's classification into the faults table.
 * A writer with lanes (exactly-once: one per partition) gets requests of one lane each, in order.
 */
@Injectable()
export class BatchingPlaySink implements PlaySink, OnApplicationShutdown {
  private readonly logger = new Logger(BatchingPlaySink.name);
  private readonly policy: WriterDefaults;
  /** Rows not yet sent, by lane; a lane is dropped when it holds nothing and has nothing under way. */
  private readonly lanes = new Map<string, Lane>();
  private bufferedRowCount = 0;
  private bufferedBytes = 0;
  private inFlightRequests = 0;
  private inFlightRows = 0;
  /**
   * Rows one lane may hold (buffered or being written) before its `put` waits: with a lane per
   * partition, a lane that cannot write (its partition's stream stuck) must not fill the buffer and
   * hold up every other partition's `put`.
   */
  private laneShare: number;
  private lingerTimer: NodeJS.Timeout | undefined;
  private lingerExpired = false;
  private flushing = 0;
  private waiters: (() => void)[] = [];
  private failingSince: number | null = null;
  /** A configuration error (a `stop` fault) while it lasts: the sink cannot write until it is fixed. */
  private configError: string | null = null;
  private readonly stopping = new AbortController();

  constructor(
    private readonly config: AppConfig,
    private readonly table: PlayTable,
    private readonly deadLetters: DeadLetters,
    @Inject(PLAY_WRITER) private readonly writer: PlayWriter,
    @InjectMetric(METRIC.playsWritten) private readonly written: Counter,
    @InjectMetric(METRIC.writeDuration) private readonly writeDuration: Histogram<'outcome'>,
    @InjectMetric(METRIC.batchRows) private readonly batchRows: Histogram,
    @InjectMetric(METRIC.bufferedRows) private readonly bufferedRows: Gauge,
    @InjectMetric(METRIC.writeRetries) private readonly retries: Counter,
    @InjectMetric(METRIC.sinkInfo) sinkInfo: Gauge<'api' | 'delivery'>,
  ) {
    this.policy = batchPolicy(config, WRITER_DEFAULTS[writer.api]);
    this.laneShare = config.SINK_MAX_BUFFERED_ROWS;
    sinkInfo.set({ api: writer.api, delivery: writer.delivery }, 1);
    writer.attach?.(this.reporter);
    this.logger.log(
      `writing with ${writer.api} (${writer.delivery}): up to ${this.policy.batchMaxRows} rows or ` +
        `${this.policy.batchMaxBytes} bytes a request, ${this.policy.maxInFlight} in flight`,
    );
  }

  get health(): SinkHealth {
    const table = this.table.health;
    return {
      bufferedRows: this.bufferedRowCount + this.inFlightRows,
      failingSince: this.failingSince,
      writable: table.status === 'ready' && this.configError === null,
      detail: this.configError ?? table.detail,
    };
  }

  open(assignment: Assignment): void {
    const lanes = this.writer.laneOf === undefined ? 1 : Math.max(1, assignment.partitions.length);
    this.laneShare = Math.ceil(this.config.SINK_MAX_BUFFERED_ROWS / lanes);
    // A writer's streams are made in the table: not before it exists (at start the service may be creating it).
    const tableReady = () => this.table.whenReady();
    this.writer.open?.({ ...assignment, tableReady, starts: () => tableReady().then(() => assignment.starts()) });
  }

  commitMetadata(partition: number, offset: bigint): string | null | undefined {
    return this.writer.commitMetadata === undefined ? null : this.writer.commitMetadata(partition, offset);
  }

  async put(chunk: RowChunk, keepAlive?: () => Promise<void>): Promise<void> {
    const count = chunk.ends.length;
    const key = this.writer.laneOf?.(chunk) ?? '';
    let lane = this.lanes.get(key);
    if (count > 0) {
      if (lane === undefined)
        this.lanes.set(key, (lane = { segments: [], rows: 0, bytes: 0, inFlight: 0, inFlightRows: 0, ending: false }));
      // Each row with the separator that follows it.
      const bytes = chunk.ends[count - 1]! + 1;
      lane.segments.push({ chunk, from: 0, to: count });
      lane.rows += count;
      lane.bytes += bytes;
      this.bufferedRowCount += count;
      this.bufferedBytes += bytes;
    }
    // A chunk without rows (dead letters only) may still end the backlog of what its lane holds.
    if (chunk.endsBacklog && lane !== undefined) lane.ending = true;
    this.bufferedRows.set(this.bufferedRowCount + this.inFlightRows);
    this.dispatch();
    // Looked up again each time: a lane that emptied is dropped, and the next put makes a new one.
    while (this.heldBy(key) >= this.laneShare) {
      await this.changed(5_000);
      await keepAlive?.();
    }
  }

  async flush(deadline: number): Promise<boolean> {
    this.flushing++;
    try {
      this.dispatch();
      while (this.bufferedRowCount + this.inFlightRequests > 0) {
        const left = deadline - Date.now();
        if (left <= 0) return false;
        await this.changed(left);
      }
      return true;
    } finally {
      this.flushing--;
    }
  }

  async onApplicationShutdown(): Promise<void> {
    // Whatever is still unwritten stays uncommitted and is redelivered after the restart.
    this.stopping.abort();
    clearTimeout(this.lingerTimer);
    await this.writer.close();
  }

  /** Rows a lane holds, buffered or being written. */
  private heldBy(key: string): number {
    const lane = this.lanes.get(key);
    return lane === undefined ? 0 : lane.rows + lane.inFlightRows;
  }

  /** Starts as many requests as the batch policy and the in-flight limit allow. */
  private dispatch(): void {
    const { batchMaxRows: maxRows, batchMaxBytes: maxBytes, maxInFlight } = this.policy;
    // Due at once: the linger passed, a flush, or the buffer is full (with one lane per partition, no
    // lane may have a full request's rows while `put` waits for room).
    const due =
      this.lingerExpired ||
      this.flushing > 0 ||
      this.bufferedRowCount + this.inFlightRows >= this.config.SINK_MAX_BUFFERED_ROWS;
    // A lane's fair share: with one lane per partition, lanes that each wait for a full request would
    // fill the buffer together and then all send at once, every round trip, instead of in turn.
    let holding = 0;
    for (const lane of this.lanes.values()) if (lane.rows > 0) holding++;
    const enough = Math.min(maxRows, Math.ceil(this.config.SINK_MAX_BUFFERED_ROWS / (2 * holding)));
    for (const [key, lane] of this.lanes) {
      while (lane.rows > 0 && lane.inFlight < maxInFlight) {
        // A lane holding its share is due too: its put waits for room.
        const full = lane.rows + lane.inFlightRows >= this.laneShare;
        if (!due && !full && !lane.ending && lane.rows < enough && lane.bytes < maxBytes) break;
        this.send(lane, this.takeBatch(lane, maxRows, maxBytes));
      }
      if (lane.rows === 0) lane.ending = false;
      if (lane.rows === 0 && lane.inFlight === 0) this.lanes.delete(key);
    }
    if (this.bufferedRowCount === 0) {
      this.lingerExpired = false;
      clearTimeout(this.lingerTimer);
      this.lingerTimer = undefined;
    } else if (this.lingerTimer === undefined && !this.lingerExpired) {
      this.lingerTimer = setTimeout(() => {
        this.lingerTimer = undefined;
        this.lingerExpired = true;
        this.dispatch();
      }, this.config.SINK_LINGER_MS);
    }
  }

  /** A lane's oldest buffered rows, at most maxRows and (unless it is one row) maxBytes. */
  private takeBatch(lane: Lane, maxRows: number, maxBytes: number): Segment[] {
    const taken: Segment[] = [];
    let rows = 0;
    let bytes = 0;
    while (lane.segments.length > 0 && rows < maxRows) {
      const head = lane.segments[0]!;
      const { chunk, from } = head;
      const start = startOf(chunk, from);
      let to = Math.min(head.to, from + (maxRows - rows));
      if (bytes + chunk.ends[to - 1]! - start + 1 > maxBytes) {
        // Not all of it fits: take rows one by one while they do (at least one row per request).
        to = from;
        while (to < head.to && (rows + to - from === 0 || bytes + chunk.ends[to]! - start + 1 <= maxBytes)) to++;
      }
      if (to === from) break;
      taken.push({ chunk, from, to });
      rows += to - from;
      bytes += chunk.ends[to - 1]! - start + 1;
      if (to < head.to) {
        head.from = to;
        break;
      }
      lane.segments.shift();
    }
    lane.rows -= rows;
    lane.bytes -= bytes;
    this.bufferedRowCount -= rows;
    this.bufferedBytes -= bytes;
    return taken;
  }

  private send(lane: Lane, batch: Segment[]): void {
    const rows = rowCount(batch);
    lane.inFlight++;
    lane.inFlightRows += rows;
    this.inFlightRequests++;
    this.inFlightRows += rows;
    void this.write(batch).finally(() => {
      lane.inFlight--;
      lane.inFlightRows -= rows;
      this.inFlightRequests--;
      this.inFlightRows -= rows;
      this.bufferedRows.set(this.bufferedRowCount + this.inFlightRows);
      this.dispatch();
      this.wake();
    });
  }

  /** Writes rows until each is in BigQuery or dead-lettered; gives up only on shutdown. */
  private async write(rows: Segment[]): Promise<void> {
    let pending = rows;
    try {
      await this.table.whenReady();
      await pRetry(
        async () => {
          pending = await this.appendOnce(pending);
          if (pending.length > 0) throw new RowsAgain(`${rowCount(pending)} rows were not written; writing them again`);
        },
        {
          retries: Number.POSITIVE_INFINITY,
          factor: 2,
          minTimeout: 200,
          maxTimeout: this.config.SINK_RETRY_MAX_DELAY_MS,
          randomize: true,
          signal: this.stopping.signal,
          // `retry` and `stop` (a configuration error, checked again until fixed) go round again.
          shouldRetry: ({ error }) =>
            !(error instanceof WriteFault && (error.action === 'split' || error.action === 'abandon')),
          onFailedAttempt: ({ error, attemptNumber, retryDelay }) => {
            // Rows to write again, or halves to write on their own: progress, not a failure.
            if (error instanceof RowsAgain) return this.retries.inc();
            if (error instanceof WriteFault && (error.action === 'split' || error.action === 'abandon')) return;
            this.reporter.failed(
              error instanceof WriteFault ? error : new WriteFault(errorText(error), 'retry'),
              rowCount(pending),
              attemptNumber,
              retryDelay,
            );
          },
        },
      );
    } catch (error) {
      const count = rowCount(pending);
      if (error instanceof WriteFault && error.action === 'abandon') {
        // Not this member's to write any more: uncommitted, the partition's next owner writes them.
        for (const { chunk, from, to } of pending) chunk.dropped(to - from);
        return;
      }
      const tooLarge = error instanceof WriteFault && error.action === 'split';
      if (tooLarge && count > 1) {
        this.logger.warn(`${this.writer.api} request of ${count} rows was too large; splitting it in two`);
        const [first, second] = splitRows(pending, Math.ceil(count / 2));
        await Promise.all([this.write(first), this.write(second)]);
        return;
      }
      if (this.stopping.signal.aborted) return;
      // A single row too large for any request, or a fault of ours: never silently dropped.
      this.logger.error(`giving up writing ${count} rows: ${errorText(error)}; dead-lettering them`);
      this.deadLetter(pending, {
        reason: tooLarge ? 'bigquery_too_large' : 'bigquery_error',
        detail: errorText(error),
      });
    }
  }

  /**
   * One request. Returns the rows to write again; throws to retry, split or report. Rows written are
   * reported done, rows BigQuery rejected go to the dead-letter topic.
   */
  private async appendOnce(rows: Segment[]): Promise<Segment[]> {
    const count = rowCount(rows);
    if (count === 0) return [];
    this.batchRows.observe(count);
    const timer = this.writeDuration.startTimer();
    let rowFaults;
    try {
      ({ rowFaults } = await this.writer.append(rows));
    } catch (error) {
      timer({ outcome: 'error' });
      throw error instanceof WriteFault ? error : new WriteFault(errorText(error), 'retry');
    }
    timer({ outcome: 'ok' });
    this.reporter.succeeded();

    if (rowFaults.length === 0) {
      for (const { chunk, from, to } of rows) chunk.done(to - from);
      this.written.inc(count);
      return [];
    }
    const faults = new Map(rowFaults.map((fault) => [fault.index, fault]));
    const again: Segment[] = [];
    const invalid: { chunk: RowChunk; row: number; detail: string }[] = [];
    let written = 0;
    let chunkOk = 0;
    let okChunk: RowChunk | null = null;
    forEachRow(rows, (chunk, row, index) => {
      if (chunk !== okChunk) {
        if (okChunk !== null && chunkOk > 0) okChunk.done(chunkOk);
        okChunk = chunk;
        chunkOk = 0;
      }
      const fault = faults.get(index);
      if (fault === undefined) {
        chunkOk++;
        written++;
      } else if (fault.action === 'dead-letter') invalid.push({ chunk, row, detail: fault.detail });
      else if (fault.action === 'dead-lettered')
        return; // the writer had it dead-lettered: done already
      else appendRow(again, chunk, row);
    });
    if (okChunk !== null && chunkOk > 0) (okChunk as RowChunk).done(chunkOk);
    this.written.inc(written);
    // Each is done once its letter is produced; nothing here waits for that.
    void this.reporter.deadLetter(invalid);
    // With the invalid rows out of the way, the others are written again.
    return again;
  }

  /** How failures (and the end of them) show: health, metrics and logs, whichever retry loop meets them. */
  private readonly reporter: WriteReporter = {
    failed: (fault, rows, attempt, retryInMs) => {
      this.retries.inc();
      this.failingSince ??= Date.now();
      if (fault.action === 'stop') {
        const report = `${this.writer.api} cannot write to ${this.table.id}: ${fault.message}. Fix it; checking again, nothing is lost meanwhile`;
        if (this.configError !== report) this.logger.error(report);
        this.configError = report;
        return;
      }
      if (attempt === 1 || attempt % 10 === 0) {
        this.logger.warn(
          `${this.writer.api} write of ${rows} rows failed (attempt ${attempt}): ${fault.message}; retrying in ${Math.round(retryInMs)} ms`,
        );
      }
    },
    deadLetter: (rows) =>
      new Promise<void>((resolve) => {
        let left = rows.length;
        if (left === 0) return resolve();
        this.deadLetters.put(
          rows.map(({ chunk, row, detail }) => ({
            source: letterSource(chunk, row),
            reason: 'bigquery_invalid',
            detail,
            done: () => {
              chunk.done(1);
              if (--left === 0) resolve();
            },
          })),
        );
      }),
    succeeded: () => {
      if (this.failingSince === null) return;
      this.logger.log(
        `${this.writer.api} works again after ${Math.round((Date.now() - this.failingSince) / 1000)} s of failures`,
      );
      this.failingSince = null;
      this.configError = null;
    },
  };

  private deadLetter(rows: Segment[], why: { reason: string; detail: string }): void {
    const letters: Parameters<DeadLetters['put']>[0][number][] = [];
    forEachRow(rows, (chunk, row) =>
      letters.push({ source: letterSource(chunk, row), ...why, done: () => chunk.done(1) }),
    );
    this.deadLetters.put(letters);
  }

  /** Resolves at the next change of the buffer, or after `timeoutMs`. */
  private changed(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}

/** The batch policy: the configuration where it is set, else what the writer's API is best served with. */
export function batchPolicy(
  config: Pick<AppConfig, 'SINK_BATCH_MAX_ROWS' | 'SINK_BATCH_MAX_BYTES' | 'SINK_MAX_IN_FLIGHT'>,
  defaults: WriterDefaults,
): WriterDefaults {
  return {
    batchMaxRows: config.SINK_BATCH_MAX_ROWS ?? defaults.batchMaxRows,
    batchMaxBytes: config.SINK_BATCH_MAX_BYTES ?? defaults.batchMaxBytes,
    maxInFlight: config.SINK_MAX_IN_FLIGHT ?? defaults.maxInFlight,
  };
}

/** The source of a row that becomes a dead letter, the chunk told that it is not written. */
function letterSource(chunk: RowChunk, row: number): SourceMessage {
  chunk.lettered(row);
  return chunk.source(row);
}
