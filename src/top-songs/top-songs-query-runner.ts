import { randomUUID } from 'node:crypto';
import type { Logger } from '@nestjs/common';
import type { BigQuery } from '@google-cloud/bigquery';
import type { AppConfig } from '../config/config.module.js';
import { createBigQuery } from '../bigquery/create-bigquery.js';
import { errorText } from '../errors.js';
import type { Histogram } from '../metrics/metrics.js';
import { queryFailure, QueryTimedOut, type QueriedTable } from './query-failure.js';

/** BigQuery could not answer (the table does not exist yet, an outage, a timeout); the message is a category anyone may read. */
export class TopSongsUnavailable extends Error {}

const QUERY_TIMEOUT_MS = 10_000;
/** A failed query is asked again only with this much of its time left. */
const RETRY_TIME_LEFT_MS = 2_000;

/**
 * Runs the top-songs API's parameterised queries on the plays table: each timed, capped at
 * DASHBOARD_MAX_BYTES_BILLED and given QUERY_TIMEOUT_MS, after which it is cancelled. A failure is
 * logged when failures start (not on every poll) and becomes TopSongsUnavailable.
 */
export class TopSongsQueryRunner {
  private readonly bigquery: BigQuery;
  private readonly table: QueriedTable;
  private failing = false;

  constructor(
    config: AppConfig,
    /** `project.dataset.table`, for messages. */
    tableId: string,
    private readonly queryDuration: Histogram<'outcome'>,
    private readonly logger: Logger,
  ) {
    // A dashboard asks again in seconds; a quick, clear failure beats the client's own retries.
    this.bigquery = createBigQuery(config, { autoRetry: false });
    this.table = { tableId, maxBytesBilled: config.DASHBOARD_MAX_BYTES_BILLED.toString() };
  }

  /**
   * One parameterised query, timed and within QUERY_TIMEOUT_MS; failures become TopSongsUnavailable,
   * whose message anyone may read: a category, BigQuery's own text only in the log. A fault the next
   * request may not meet (no answer, BigQuery's 5xx) is asked once more within the same time: a reset
   * keep-alive connection would otherwise show a viewer an error a poll later gone.
   */
  async query<T>(query: string, params: Record<string, unknown>): Promise<T[]> {
    const timer = this.queryDuration.startTimer();
    // An absent artist is no parameter at all: the query then has no @artist.
    const defined = Object.fromEntries(Object.entries(params).filter(([, value]) => value !== undefined));
    const deadline = Date.now() + QUERY_TIMEOUT_MS;
    for (let attempt = 1; ; attempt++) {
      // Our own job id, so a query that times out can be cancelled whether or not its insert answered.
      const jobId = `top_songs_${randomUUID()}`;
      try {
        const timeoutMs = attempt === 1 ? QUERY_TIMEOUT_MS : deadline - Date.now();
        const rows = await this.run<T>(query, defined, jobId, timeoutMs);
        timer({ outcome: 'ok' });
        if (this.failing) this.logger.log('top-songs queries work again');
        this.failing = false;
        return rows;
      } catch (error) {
        // Abandoned, it would run on in BigQuery, and bill, with nobody waiting for its answer.
        if (error instanceof QueryTimedOut) this.cancel(jobId);
        const failure = queryFailure(error, this.table);
        if (failure.retry && attempt === 1 && deadline - Date.now() >= RETRY_TIME_LEFT_MS) {
          this.logger.debug(`top-songs query ${jobId} failed (${errorText(error)}); asking again`);
          continue;
        }
        timer({ outcome: 'error' });
        // Viewers poll every few seconds: say it when it starts, not on every poll.
        if (!this.failing) this.logger.warn(`top-songs query ${jobId} failed: ${failure.says}: ${errorText(error)}`);
        this.failing = true;
        throw new TopSongsUnavailable(failure.says);
      }
    }
  }

  private async run<T>(query: string, params: Record<string, unknown>, jobId: string, timeoutMs: number): Promise<T[]> {
    const [rows] = await withTimeout(
      this.bigquery.query({
        query,
        params,
        maximumBytesBilled: this.table.maxBytesBilled,
        jobId,
        // BigQuery's own stop, should the cancel below not reach it.
        jobTimeoutMs: timeoutMs,
      }),
      timeoutMs,
    );
    return rows as T[];
  }

  private cancel(jobId: string): void {
    this.bigquery
      .job(jobId)
      .cancel()
      .then(
        () => this.logger.log(`top-songs query ${jobId} cancelled after ${QUERY_TIMEOUT_MS / 1000}s`),
        (error: unknown) =>
          this.logger.warn(`cannot cancel top-songs query ${jobId} (its job timeout stops it): ${errorText(error)}`),
      );
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new QueryTimedOut(QUERY_TIMEOUT_MS)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
