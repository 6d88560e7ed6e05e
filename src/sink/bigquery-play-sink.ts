import { Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import pRetry from 'p-retry';
import { AppConfig } from '../config/config.module.js';
import { DeadLetters } from '../dead-letters/dead-letters.service.js';
import { InjectMetric, METRIC, type Counter, type Gauge, type Histogram } from '../metrics/metrics.js';
import type { PlaySink, RowChunk, SinkHealth } from './play-sink.js';
import { errorText } from '../errors.js';
import { InsertAllClient, InsertAllError, type InsertAllResponse } from './insert-all-client.js';
import { PlayTable } from './play-table.js';

/** A run of consecutive rows of one chunk, rows [from, to): what the buffer and each request hold. */
interface Segment {
  chunk: RowChunk;
  from: number;
  to: number;
}

/** A request BigQuery refused as a whole because of its size: split it. */
class RequestTooLarge extends Error {}
/** Some rows were `stopped` (valid, not written because another row was invalid): write them again. */
class RowsStopped extends Error {}

/**
 * Writes plays to BigQuery with insertAll: batched by rows, bytes and linger time, a bounded number
 * of requests in flight, an insertId per row so a retried or redelivered row is not written twice.
 * Rows BigQuery finds invalid go to the dead-letter topic; `stopped` rows and failed requests are
 * retried with capped exponential backoff, without limit. While the buffer is full, `put` waits,
 * which pauses consumption and bounds memory.
 */
@Injectable()
export class BigQueryPlaySink implements PlaySink, OnApplicationShutdown {
  private readonly logger = new Logger(BigQueryPlaySink.name);
  /** Rows not yet sent, oldest first; the head's `from` moves as rows are taken from it. */
  private buffer: Segment[] = [];
  private bufferedRowCount = 0;
  private bufferedBytes = 0;
  private inFlightRequests = 0;
  private inFlightRows = 0;
  private lingerTimer: NodeJS.Timeout | undefined;
  private lingerExpired = false;
  private flushing = 0;
  private waiters: (() => void)[] = [];
  private failingSince: number | null = null;
  private lastError: string | null = null;
  private readonly stopping = new AbortController();
  private readonly client: InsertAllClient;

  constructor(
    private readonly config: AppConfig,
    private readonly table: PlayTable,
    private readonly deadLetters: DeadLetters,
    @InjectMetric(METRIC.playsWritten) private readonly written: Counter,
    @InjectMetric(METRIC.writeDuration) private readonly writeDuration: Histogram<'outcome'>,
    @InjectMetric(METRIC.batchRows) private readonly batchRows: Histogram,
    @InjectMetric(METRIC.bufferedRows) private readonly bufferedRows: Gauge,
    @InjectMetric(METRIC.writeRetries) private readonly retries: Counter,
  ) {
    this.client = new InsertAllClient(table.bigquery, config.BIGQUERY_DATASET, config.BIGQUERY_TABLE);
  }

  get health(): SinkHealth {
    const table = this.table.health;
    return {
      bufferedRows: this.bufferedRowCount + this.inFlightRows,
      failingSince: this.failingSince,
      lastError: this.lastError,
      writable: table.status === 'ready',
      detail: table.detail,
    };
  }

  async put(chunk: RowChunk, keepAlive?: () => Promise<void>): Promise<void> {
    const count = chunk.ends.length;
    if (count > 0) {
      this.buffer.push({ chunk, from: 0, to: count });
      this.bufferedRowCount += count;
      // Each row with the comma that joins it to the next.
      this.bufferedBytes += chunk.ends[count - 1]! + 1;
    }
    this.bufferedRows.set(this.bufferedRowCount + this.inFlightRows);
    this.dispatch();
    while (this.bufferedRowCount + this.inFlightRows >= this.config.SINK_MAX_BUFFERED_ROWS) {
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

  onApplicationShutdown(): void {
    // Whatever is still unwritten stays uncommitted and is redelivered after the restart.
    this.stopping.abort();
    clearTimeout(this.lingerTimer);
    this.client.close();
  }

  /** Starts as many requests as the batch policy and the in-flight limit allow. */
  private dispatch(): void {
    const {
      SINK_BATCH_MAX_ROWS: maxRows,
      SINK_BATCH_MAX_BYTES: maxBytes,
      SINK_MAX_IN_FLIGHT: maxInFlight,
    } = this.config;
    while (this.bufferedRowCount > 0 && this.inFlightRequests < maxInFlight) {
      const full = this.bufferedRowCount >= maxRows || this.bufferedBytes >= maxBytes;
      if (!full && !this.lingerExpired && this.flushing === 0) break;
      this.send(this.takeBatch(maxRows, maxBytes));
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

  /** The oldest buffered rows, at most maxRows and (unless it is one row) maxBytes. */
  private takeBatch(maxRows: number, maxBytes: number): Segment[] {
    const taken: Segment[] = [];
    let rows = 0;
    let bytes = 0;
    while (this.buffer.length > 0 && rows < maxRows) {
      const head = this.buffer[0]!;
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
      this.buffer.shift();
    }
    this.bufferedRowCount -= rows;
    this.bufferedBytes -= bytes;
    return taken;
  }

  private send(batch: Segment[]): void {
    const rows = rowCount(batch);
    this.inFlightRequests++;
    this.inFlightRows += rows;
    void this.write(batch).finally(() => {
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
          pending = await this.insertOnce(pending);
          if (pending.length > 0) throw new RowsStopped(`${rowCount(pending)} valid rows were stopped by invalid ones`);
        },
        {
          retries: Number.POSITIVE_INFINITY,
          factor: 2,
          minTimeout: 200,
          maxTimeout: this.config.SINK_RETRY_MAX_DELAY_MS,
          randomize: true,
          signal: this.stopping.signal,
          shouldRetry: ({ error }) => !(error instanceof RequestTooLarge),
          onFailedAttempt: ({ error, attemptNumber, retryDelay }) => {
            this.retries.inc();
            if (error instanceof RowsStopped) return;
            this.failingSince ??= Date.now();
            this.lastError = errorText(error);
            if (attemptNumber === 1 || attemptNumber % 10 === 0) {
              this.logger.warn(
                `insertAll of ${rowCount(pending)} rows failed (attempt ${attemptNumber}): ${this.lastError}; retrying in ${retryDelay} ms`,
              );
            }
          },
        },
      );
    } catch (error) {
      const count = rowCount(pending);
      if (error instanceof RequestTooLarge && count > 1) {
        this.logger.warn(`insertAll of ${count} rows was too large; splitting it in two`);
        const [first, second] = splitRows(pending, Math.ceil(count / 2));
        await Promise.all([this.write(first), this.write(second)]);
        return;
      }
      if (this.stopping.signal.aborted) return;
      // A single row too large for any request, or a fault of ours: never silently dropped.
      this.logger.error(`giving up writing ${count} rows: ${errorText(error)}; dead-lettering them`);
      const reason = error instanceof RequestTooLarge ? 'bigquery_too_large' : 'bigquery_error';
      this.deadLetter(pending, { reason, detail: errorText(error) });
    }
  }

  /**
   * One insertAll request. Returns the rows still to write (the `stopped` ones); throws to retry.
   * Rows written are reported done, rows BigQuery rejected go to the dead-letter topic.
   */
  private async insertOnce(rows: Segment[]): Promise<Segment[]> {
    const count = rowCount(rows);
    if (count === 0) return [];
    this.batchRows.observe(count);
    const timer = this.writeDuration.startTimer();
    let response: InsertAllResponse;
    try {
      // The body is the rows' JSON as encoded on the decoder thread, never copied or re-encoded.
      response = await this.client.insert(insertAllBody(rows));
    } catch (error) {
      timer({ outcome: 'error' });
      if (error instanceof InsertAllError && error.tooLarge) throw new RequestTooLarge(errorText(error));
      throw error;
    }
    timer({ outcome: 'ok' });
    if (this.failingSince !== null) {
      this.logger.log(
        `insertAll works again after ${Math.round((Date.now() - this.failingSince) / 1000)} s of failures`,
      );
      this.failingSince = null;
    }

    const insertErrors = response.insertErrors ?? [];
    if (insertErrors.length === 0) {
      for (const { chunk, from, to } of rows) chunk.done(to - from);
      this.written.inc(count);
      return [];
    }
    const errors = new Map(insertErrors.map((entry) => [entry.index, entry.errors ?? []]));
    const stopped: Segment[] = [];
    const invalid: { chunk: RowChunk; row: number; detail: string }[] = [];
    let index = 0;
    let written = 0;
    for (const { chunk, from, to } of rows) {
      let ok = 0;
      for (let row = from; row < to; row++, index++) {
        const rowErrors = errors.get(index);
        if (rowErrors === undefined || rowErrors.length === 0) ok++;
        else if (rowErrors.every((e) => e.reason === 'stopped')) appendRow(stopped, chunk, row);
        else {
          const detail = rowErrors.map((e) => `${e.reason}${e.location ? ` at ${e.location}` : ''}: ${e.message}`);
          invalid.push({ chunk, row, detail: detail.join('; ') });
        }
      }
      if (ok > 0) chunk.done(ok);
      written += ok;
    }
    this.written.inc(written);
    this.deadLetters.put(
      invalid.map(({ chunk, row, detail }) => ({
        source: chunk.source(row),
        reason: 'bigquery_invalid',
        detail,
        done: () => chunk.done(1),
      })),
    );
    // With the invalid rows out of the way, the stopped ones are written again.
    return stopped;
  }

  private deadLetter(rows: Segment[], why: { reason: string; detail: string }): void {
    const letters = [];
    for (const { chunk, from, to } of rows) {
      for (let row = from; row < to; row++)
        letters.push({ source: chunk.source(row), ...why, done: () => chunk.done(1) });
    }
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

const BODY_HEAD = Buffer.from('{"skipInvalidRows":false,"ignoreUnknownValues":false,"rows":[');
const BODY_TAIL = Buffer.from(']}');
const COMMA = Buffer.from(',');

/** Where row `row` of a chunk starts in its rows buffer. */
const startOf = (chunk: RowChunk, row: number): number => (row === 0 ? 0 : chunk.ends[row - 1]! + 1);

function rowCount(rows: readonly Segment[]): number {
  let count = 0;
  for (const { from, to } of rows) count += to - from;
  return count;
}

/** Adds one row to a list of segments, extending the last one when the row follows it. */
function appendRow(rows: Segment[], chunk: RowChunk, row: number): void {
  const last = rows.at(-1);
  if (last !== undefined && last.chunk === chunk && last.to === row) last.to++;
  else rows.push({ chunk, from: row, to: row + 1 });
}

/** The first `count` rows, and the rest. */
function splitRows(rows: readonly Segment[], count: number): [Segment[], Segment[]] {
  const first: Segment[] = [];
  const rest: Segment[] = [];
  let left = count;
  for (const segment of rows) {
    const take = Math.min(left, segment.to - segment.from);
    if (take > 0) first.push({ ...segment, to: segment.from + take });
    if (take < segment.to - segment.from) rest.push({ ...segment, from: segment.from + take });
    left -= take;
  }
  return [first, rest];
}

/** The request body, in parts: runs of rows as the decoder encoded them (already comma-joined), not copied. */
function insertAllBody(rows: readonly Segment[]): Buffer[] {
  const parts: Buffer[] = [BODY_HEAD];
  rows.forEach(({ chunk, from, to }, i) => {
    if (i > 0) parts.push(COMMA);
    parts.push(chunk.rows.subarray(startOf(chunk, from), chunk.ends[to - 1]));
  });
  parts.push(BODY_TAIL);
  return parts;
}
