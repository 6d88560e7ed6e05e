import type { Logger } from '@nestjs/common';
import type { AppConfig } from '../../config/config.module.js';
import type { DeadLetter, DeadLetters } from '../../dead-letters/dead-letters.service.js';
import type { UnwritableReason } from '../../dead-letters/dead-letter-reason.js';
import { errorText } from '../../errors.js';
import type { Counter, Histogram } from '../../metrics/metrics.js';
import { retry } from '../../retry/backoff.js';
import type { PlayTable } from '../play-table.js';
import { splitPoint } from '../../halves.js';
import { appendRow, forEachRow, rowCount, splitRows, type Segment } from '../rows.js';
import type { RowChunk } from '../sink.contract.js';
import { WriteFault, type PlayWriter, type RefusedRow, type WriteReporter } from '../writer.contract.js';
import { rowLetter } from './row-letter.js';

/** The first wait after a failed request; it doubles per failure up to SINK_RETRY_MAX_DELAY_MS. */
const RETRY_MIN_MS = 200;

/** Some rows of a request were not written but can be (stopped by an invalid one, a backend error): write them again. */
class RowsAgain extends Error {}

/** What the write requests count and time. */
export interface RequestMetrics {
  written: Counter;
  writeDuration: Histogram<'outcome'>;
  batchRows: Histogram;
  retries: Counter;
}

/**
 * Writes a batch of rows until each is in BigQuery or dead-lettered: retries without limit with
 * capped exponential backoff and jitter, splits a request refused for its size in halves,
 * dead-letters rows BigQuery rejects, and reports each row done once it is written or dead-lettered.
 * What to do about each fault comes from the writer's classification into the fault classes (faults.ts).
 */
export class RequestLoop {
  private readonly stopping = new AbortController();

  constructor(
    private readonly config: Pick<AppConfig, 'SINK_RETRY_MAX_DELAY_MS'>,
    private readonly table: Pick<PlayTable, 'whenReady'>,
    private readonly writer: PlayWriter,
    private readonly deadLetters: Pick<DeadLetters, 'put'>,
    private readonly reporter: WriteReporter,
    private readonly metrics: RequestMetrics,
    private readonly logger: Logger,
  ) {}

  /** Gives up on every write under way: what is unwritten stays uncommitted and is redelivered after the restart. */
  stop(): void {
    this.stopping.abort();
  }

  /**
   * Writes rows until each is in BigQuery or dead-lettered; gives up only on shutdown, or once
   * `current` says their assignment is over (their lane's writer would refuse them: 'abandon').
   */
  async write(rows: Segment[], current: () => boolean = () => true): Promise<void> {
    let pending = rows;
    try {
      await this.table.whenReady();
      await retry(
        async () => {
          pending = await this.appendOnce(pending, current);
          if (pending.length > 0) throw new RowsAgain(`${rowCount(pending)} rows were not written; writing them again`);
        },
        {
          policy: { minMs: RETRY_MIN_MS, maxMs: this.config.SINK_RETRY_MAX_DELAY_MS },
          signal: this.stopping.signal,
          // `retry` and `stop` (a configuration error, checked again until fixed) go round again. A
          // TypeError is a fault of ours (the writer's errors come as WriteFaults): no retry mends it.
          retryable: (error) =>
            !(error instanceof TypeError) &&
            !(error instanceof WriteFault && (error.action === 'split' || error.action === 'abandon')),
          failed: (error, attempt, delayMs) => {
            // Rows to write again: progress, not a failure.
            if (error instanceof RowsAgain) return this.metrics.retries.inc();
            this.reporter.failed(
              error instanceof WriteFault ? error : new WriteFault(errorText(error), 'retry'),
              rowCount(pending),
              attempt,
              delayMs,
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
      const half = splitPoint(count);
      if (tooLarge && half !== null) {
        this.logger.warn(`${this.writer.api} request of ${count} rows was too large; splitting it in two`);
        const [first, second] = splitRows(pending, half);
        await Promise.all([this.write(first, current), this.write(second, current)]);
        return;
      }
      if (this.stopping.signal.aborted) return;
      // A single row too large for any request, or a fault of ours: never silently dropped.
      this.logger.error(`giving up writing ${count} rows: ${errorText(error)}; dead-lettering them`);
      this.deadLetter(pending, tooLarge ? 'bigquery_too_large' : 'bigquery_error', errorText(error));
    }
  }

  /**
   * One request. Returns the rows to write again; throws to retry, split or report. Rows written are
   * reported done, rows BigQuery rejected go to the dead-letter topic.
   */
  private async appendOnce(rows: Segment[], current: () => boolean): Promise<Segment[]> {
    const count = rowCount(rows);
    if (count === 0) return [];
    this.metrics.batchRows.observe(count);
    const timer = this.metrics.writeDuration.startTimer();
    let unwritten;
    try {
      if (!current()) {
        const { partition } = rows[0]!.chunk;
        throw new WriteFault(`partition ${partition} is no longer assigned to this member`, 'abandon');
      }
      ({ unwritten } = await this.writer.append(rows));
    } catch (error) {
      timer({ outcome: 'error' });
      throw error instanceof WriteFault ? error : new WriteFault(errorText(error), 'retry');
    }
    timer({ outcome: 'ok' });
    this.reporter.succeeded();

    if (unwritten.length === 0) {
      for (const { chunk, from, to } of rows) chunk.done(to - from);
      this.metrics.written.inc(count);
      return [];
    }
    const outcomes = new Map(unwritten.map((outcome) => [outcome.index, outcome]));
    const again: Segment[] = [];
    const refused: RefusedRow[] = [];
    let written = 0;
    let chunkOk = 0;
    let okChunk: RowChunk | null = null;
    forEachRow(rows, (chunk, row, index) => {
      if (chunk !== okChunk) {
        if (okChunk !== null && chunkOk > 0) okChunk.done(chunkOk);
        okChunk = chunk;
        chunkOk = 0;
      }
      const outcome = outcomes.get(index);
      if (outcome === undefined) {
        chunkOk++;
        written++;
      } else if (outcome.outcome === 'refused')
        refused.push({ chunk, row, reason: outcome.reason, detail: outcome.detail });
      else if (outcome.outcome === 'settled')
        return; // settled (dead-lettered) while the writer's request was under way: done already
      else appendRow(again, chunk, row);
    });
    if (okChunk !== null && chunkOk > 0) (okChunk as RowChunk).done(chunkOk);
    this.metrics.written.inc(written);
    // Each is done once its letter is produced; nothing here waits for that.
    void this.reporter.refused(refused);
    // With the invalid rows out of the way, the others are written again.
    return again;
  }

  private deadLetter(rows: Segment[], reason: UnwritableReason, detail: string): void {
    const letters: DeadLetter[] = [];
    forEachRow(rows, (chunk, row) => letters.push(rowLetter(chunk, row, reason, detail, () => chunk.done(1))));
    this.deadLetters.put(letters);
  }
}
