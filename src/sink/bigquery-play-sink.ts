import { Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import pRetry from 'p-retry';
import { AppConfig } from '../config/config.module.js';
import { DeadLetters } from '../dead-letters/dead-letters.service.js';
import { InjectMetric, METRIC, type Counter, type Gauge, type Histogram } from '../metrics/metrics.js';
import type { PlaySink, SinkHealth, SinkRecord } from './play-sink.js';
import { errorText } from '../errors.js';
import { InsertAllClient, InsertAllError, type InsertAllResponse } from './insert-all-client.js';
import { PlayTable } from './play-table.js';

/** A record waiting in the buffer, with its row's size. */
interface PendingRow {
  record: SinkRecord;
  bytes: number;
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
  private buffer: PendingRow[] = [];
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
      bufferedRows: this.buffer.length + this.inFlightRows,
      failingSince: this.failingSince,
      lastError: this.lastError,
      writable: table.status === 'ready',
      detail: table.detail,
    };
  }

  async put(records: readonly SinkRecord[], keepAlive?: () => Promise<void>): Promise<void> {
    for (const record of records) {
      // The comma that joins it to the next row counts too.
      const bytes = record.row.length + 1;
      this.buffer.push({ record, bytes });
      this.bufferedBytes += bytes;
    }
    this.bufferedRows.set(this.buffer.length + this.inFlightRows);
    this.dispatch();
    while (this.buffer.length + this.inFlightRows >= this.config.SINK_MAX_BUFFERED_ROWS) {
      await this.changed(5_000);
      await keepAlive?.();
    }
  }

  async flush(deadline: number): Promise<boolean> {
    this.flushing++;
    try {
      this.dispatch();
      while (this.buffer.length + this.inFlightRequests > 0) {
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
    while (this.buffer.length > 0 && this.inFlightRequests < maxInFlight) {
      const full = this.buffer.length >= maxRows || this.bufferedBytes >= maxBytes;
      if (!full && !this.lingerExpired && this.flushing === 0) break;
      this.send(this.takeBatch(maxRows, maxBytes));
    }
    if (this.buffer.length === 0) {
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

  private takeBatch(maxRows: number, maxBytes: number): PendingRow[] {
    let count = 0;
    let bytes = 0;
    while (count < this.buffer.length && count < maxRows) {
      const next = this.buffer[count]!.bytes;
      if (count > 0 && bytes + next > maxBytes) break;
      bytes += next;
      count++;
    }
    this.bufferedBytes -= bytes;
    return this.buffer.splice(0, count);
  }

  private send(batch: PendingRow[]): void {
    this.inFlightRequests++;
    this.inFlightRows += batch.length;
    void this.write(batch).finally(() => {
      this.inFlightRequests--;
      this.inFlightRows -= batch.length;
      this.bufferedRows.set(this.buffer.length + this.inFlightRows);
      this.dispatch();
      this.wake();
    });
  }

  /** Writes rows until each is in BigQuery or dead-lettered; gives up only on shutdown. */
  private async write(rows: PendingRow[]): Promise<void> {
    let pending = rows;
    try {
      await this.table.whenReady();
      await pRetry(
        async () => {
          pending = await this.insertOnce(pending);
          if (pending.length > 0) throw new RowsStopped(`${pending.length} valid rows were stopped by invalid ones`);
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
                `insertAll of ${pending.length} rows failed (attempt ${attemptNumber}): ${this.lastError}; retrying in ${retryDelay} ms`,
              );
            }
          },
        },
      );
    } catch (error) {
      if (error instanceof RequestTooLarge && pending.length > 1) {
        const half = Math.ceil(pending.length / 2);
        this.logger.warn(`insertAll of ${pending.length} rows was too large; splitting it in two`);
        await Promise.all([this.write(pending.slice(0, half)), this.write(pending.slice(half))]);
        return;
      }
      if (this.stopping.signal.aborted) return;
      // A single row too large for any request, or a fault of ours: never silently dropped.
      this.logger.error(`giving up writing ${pending.length} rows: ${errorText(error)}; dead-lettering them`);
      const reason = error instanceof RequestTooLarge ? 'bigquery_too_large' : 'bigquery_error';
      this.deadLetter(pending, () => ({ reason, detail: errorText(error) }));
    }
  }

  /**
   * One insertAll request. Returns the rows still to write (the `stopped` ones); throws to retry.
   * Rows written are marked done, rows BigQuery rejected go to the dead-letter topic.
   */
  private async insertOnce(rows: PendingRow[]): Promise<PendingRow[]> {
    if (rows.length === 0) return rows;
    this.batchRows.observe(rows.length);
    const timer = this.writeDuration.startTimer();
    let response: InsertAllResponse;
    try {
      // The body is the rows' JSON as encoded on the decoder thread, copied once, never re-encoded.
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

    const errors = new Map((response.insertErrors ?? []).map((entry) => [entry.index, entry.errors ?? []]));
    const stopped: PendingRow[] = [];
    const invalid: { pending: PendingRow; detail: string }[] = [];
    let written = 0;
    rows.forEach((pending, index) => {
      const rowErrors = errors.get(index);
      if (rowErrors === undefined || rowErrors.length === 0) {
        written++;
        return pending.record.done();
      }
      if (rowErrors.every((e) => e.reason === 'stopped')) return void stopped.push(pending);
      invalid.push({
        pending,
        detail: rowErrors.map((e) => `${e.reason}${e.location ? ` at ${e.location}` : ''}: ${e.message}`).join('; '),
      });
    });
    this.written.inc(written);
    if (invalid.length > 0) {
      const details = new Map(invalid.map(({ pending, detail }) => [pending, detail]));
      this.deadLetter(
        invalid.map(({ pending }) => pending),
        (pending) => ({ reason: 'bigquery_invalid', detail: details.get(pending)! }),
      );
    }
    // With the invalid rows out of the way, the stopped ones are written again.
    return stopped;
  }

  private deadLetter(rows: PendingRow[], why: (pending: PendingRow) => { reason: string; detail: string }): void {
    this.deadLetters.put(
      rows.map((pending) => ({ source: pending.record.source, ...why(pending), done: pending.record.done })),
    );
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
const COMMA = 0x2c;

/** The request body: the rows' JSON copied once into one buffer, never parsed or re-encoded. */
function insertAllBody(rows: readonly PendingRow[]): Buffer {
  let size = BODY_HEAD.length + BODY_TAIL.length;
  for (const pending of rows) size += pending.bytes;
  const body = Buffer.allocUnsafe(size);
  let at = BODY_HEAD.copy(body, 0);
  rows.forEach((pending, i) => {
    if (i > 0) body[at++] = COMMA;
    at += pending.record.row.copy(body, at);
  });
  return body.subarray(0, at + BODY_TAIL.copy(body, at));
}
