import { Injectable, Logger } from '@nestjs/common';
import type { BigQuery } from '@google-cloud/bigquery';
import { AppConfig } from '../config/config.module.js';
import { createBigQuery } from '../bigquery/create-bigquery.js';
import { playTotalsSinceQuery, tableId, tableRef, topSongsSinceQuery } from '../bigquery/play-queries.js';
import { errorText } from '../errors.js';
import { InjectMetric, METRIC, type Histogram } from '../metrics/metrics.js';
import { AnswerCache } from './answer-cache.js';
import type { TopSongsRequest } from './top-songs-request.js';

export interface SongPlays {
  song_name: string;
  total_plays: number;
  /** ISO-8601, UTC. */
  last_played_at: string | null;
}

/** Plays per song over a window, as GET /api/top-songs answers. */
export interface TopSongsAnswer {
  table: string;
  window: string;
  window_seconds: number;
  /** The window's start (ISO-8601, UTC): plays whose timestamp is at or after it count. */
  since: string;
  limit: number;
  /** Every play in the window, not only the listed songs'. */
  total_plays: number;
  /** The newest play's timestamp in the window, or null when there is none. */
  newest_play_at: string | null;
  /** Most played first; ties by name. */
  songs: SongPlays[];
  /** When BigQuery was asked: answers are reused for DASHBOARD_CACHE_MS. */
  queried_at: string;
}

/** BigQuery could not answer (the table does not exist yet, an outage, a timeout). */
export class TopSongsUnavailable extends Error {}

const QUERY_TIMEOUT_MS = 10_000;

type BigQueryTimestamp = { value: string } | null;

/**
 * The most played songs over a window, read from the plays table with parameterised queries. An
 * answer (or a failure) is shared by every request for the same window and limit that arrives while
 * it is being fetched or within DASHBOARD_CACHE_MS after, so many viewers cost one query.
 */
@Injectable()
export class TopSongs {
  private readonly logger = new Logger(TopSongs.name);
  private readonly bigquery: BigQuery;
  /** `project.dataset.table`, for answers and messages. */
  private readonly tableId: string;
  private readonly table: string;
  private readonly answers: AnswerCache<TopSongsAnswer>;
  private failing = false;

  constructor(
    config: AppConfig,
    @InjectMetric(METRIC.topSongsQueryDuration) private readonly queryDuration: Histogram<'outcome'>,
  ) {
    // A dashboard asks again in seconds; a quick, clear failure beats the client's own retries.
    this.bigquery = createBigQuery(config, { autoRetry: false });
    this.tableId = tableId(config.BIGQUERY_PROJECT_ID, config.BIGQUERY_DATASET, config.BIGQUERY_TABLE);
    this.table = tableRef(this.tableId);
    this.answers = new AnswerCache(config.DASHBOARD_CACHE_MS);
  }

  get(request: TopSongsRequest): Promise<TopSongsAnswer> {
    return this.answers.get(`${request.windowSeconds}/${request.limit}`, () => this.ask(request, Date.now()));
  }

  private async ask(request: TopSongsRequest, now: number): Promise<TopSongsAnswer> {
    const since = new Date(now - request.windowSeconds * 1_000);
    const timer = this.queryDuration.startTimer();
    try {
      const [songs, totals] = await withTimeout(
        Promise.all([
          this.query<{ song_name: string; total_plays: number; last_played_at: BigQueryTimestamp }>(
            topSongsSinceQuery(this.table),
            { since, limit: request.limit },
          ),
          this.query<{ total_plays: number; newest_play_at: BigQueryTimestamp }>(playTotalsSinceQuery(this.table), {
            since,
          }),
        ]),
        QUERY_TIMEOUT_MS,
      );
      timer({ outcome: 'ok' });
      if (this.failing) this.logger.log('top-songs queries work again');
      this.failing = false;
      return {
        table: this.tableId,
        window: request.window,
        window_seconds: request.windowSeconds,
        since: since.toISOString(),
        limit: request.limit,
        total_plays: Number(totals[0]?.total_plays ?? 0),
        newest_play_at: totals[0]?.newest_play_at?.value ?? null,
        songs: songs.map((song) => ({
          song_name: song.song_name,
          total_plays: Number(song.total_plays),
          last_played_at: song.last_played_at?.value ?? null,
        })),
        queried_at: new Date(now).toISOString(),
      };
    } catch (error) {
      timer({ outcome: 'error' });
      const reason =
        (error as { code?: unknown }).code === 404
          ? `the plays table ${this.tableId} does not exist yet`
          : `cannot query BigQuery: ${errorText(error)}`;
      // Viewers poll every few seconds: say it when it starts, not on every poll.
      if (!this.failing) this.logger.warn(`top-songs query failed: ${reason}`);
      this.failing = true;
      throw new TopSongsUnavailable(reason);
    }
  }

  private async query<T>(query: string, params: Record<string, unknown>): Promise<T[]> {
    const [rows] = await this.bigquery.query({ query, params });
    return rows as T[];
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms / 1000}s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
