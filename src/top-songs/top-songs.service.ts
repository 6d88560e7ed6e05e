import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Injectable, Logger } from '@nestjs/common';
import type { BigQuery } from '@google-cloud/bigquery';
import { AppConfig } from '../config/config.module.js';
import { createBigQuery } from '../bigquery/create-bigquery.js';
import { QUOTA_REASONS } from '../bigquery/error-reasons.js';
import {
  artistsSinceQuery,
  playsOverTimeQuery,
  tableId,
  tableRef,
  topSongsSinceQuery,
} from '../bigquery/play-queries.js';
import { errorText } from '../errors.js';
import { LiveView } from '../live/live-view.js';
import { compareNames } from '../live/name-order.js';
import { InjectMetric, METRIC, type Histogram } from '../metrics/metrics.js';
import { AnswerCache } from './answer-cache.js';
import { QueryBudget } from './query-budget.js';
import { bucketName, bucketSpan, type BucketSpan } from './time-buckets.js';
import type { ArtistsRequest, PlaysOverTimeRequest, TopSongsRequest } from './top-songs-request.js';

export interface SongPlays {
  song_name: string;
  total_plays: number;
  /** ISO-8601, UTC. */
  last_played_at: string | null;
}

/** What every answer says about the question it answers. */
interface WindowAnswer {
  table: string;
  window: string;
  window_seconds: number;
  /** When BigQuery was asked (answers are reused for DASHBOARD_CACHE_MS), or when the live view answered. */
  queried_at: string;
  /** `live`: counted from the live view in memory; `bigquery`: a query of the table. */
  source: 'live' | 'bigquery';
}

/** Plays per song over a window, as GET /api/top-songs answers. */
export interface TopSongsAnswer extends WindowAnswer {
  /** The artist asked about; null: every artist. */
  artist: string | null;
  /** The window's start (ISO-8601, UTC), a whole minute: plays whose timestamp is at or after it count. */
  since: string;
  limit: number;
  /** Every play in the window (of the artist), not only the listed songs'. */
  total_plays: number;
  /** The newest play's timestamp in the window, or null when there is none. */
  newest_play_at: string | null;
  /** Most played first; ties by name. */
  songs: SongPlays[];
}

export interface ArtistPlays {
  artist: string;
  total_plays: number;
  last_played_at: string | null;
}

/** Plays per artist over a window, as GET /api/artists answers. */
export interface ArtistsAnswer extends WindowAnswer {
  since: string;
  limit: number;
  /** Every artist with plays in the window, listed or not. */
  total_artists: number;
  /** Most played first; ties by name. */
  artists: ArtistPlays[];
}

/** One song's plays per bucket. */
export interface SongSeries {
  song_name: string;
  /** The song's plays in the whole span: the sum of `plays`. */
  total_plays: number;
  /** Plays per bucket, in the order of `buckets`, zeros included. */
  plays: number[];
}

/** The top songs' plays per time bucket, as GET /api/plays-over-time answers. */
export interface PlaysOverTimeAnswer extends WindowAnswer {
  artist: string | null;
  /** How many top songs were asked for. */
  songs: number;
  /** The bucket size, e.g. `1m`, and in seconds. */
  bucket: string;
  bucket_seconds: number;
  /** Start of the first bucket (ISO-8601, UTC): the buckets are aligned on multiples of their size. */
  since: string;
  /** End of the last bucket, exclusive: the last bucket holds `queried_at`. */
  until: string;
  /** Each bucket's start, oldest first; every bucket of the span is here. */
  buckets: string[];
  /** Every play from `since` to `until` (of the artist), not only the top songs'. */
  total_plays: number;
  /** The span's most played songs, most played first; ties by name. */
  series: SongSeries[];
}

/** BigQuery could not answer (the table does not exist yet, an outage, a timeout); the message is a category anyone may read. */
export class TopSongsUnavailable extends Error {}

const QUERY_TIMEOUT_MS = 10_000;
const MINUTE_MS = 60_000;
/**
 * With the live view on, BigQuery answers only windows longer than its horizon; almost all of such a
 * window is closed minutes that do not change, so its answer is kept this long.
 */
const LONG_WINDOW_CACHE_MS = 60_000;

/** A window's start: `windowSeconds` before `now`, down to a whole minute, the same on both paths. */
export const windowStart = (now: number, windowSeconds: number): number =>
  Math.floor((now - windowSeconds * 1_000) / MINUTE_MS) * MINUTE_MS;

/** Microseconds since the epoch as ISO-8601 with six decimals, as BigQuery writes a TIMESTAMP. */
const isoMicros = (micros: number): string =>
  new Date(Math.floor(micros / 1_000)).toISOString().replace('Z', `${String(micros % 1_000).padStart(3, '0')}Z`);

type BigQueryTimestamp = { value: string } | null;
const iso = (timestamp: BigQueryTimestamp) => timestamp?.value ?? null;

/**
 * Reads the plays table back with parameterised queries, one query an answer. An answer (or a
 * failure) is shared by every request for the same question that arrives while it is being fetched or
 * within DASHBOARD_CACHE_MS after, so many viewers cost one query; and the queries of all questions
 * together stay within DASHBOARD_MAX_QUERIES_PER_SECOND (QueryBudget), so many distinct questions
 * cannot run up BigQuery's bill either.
 */
@Injectable()
export class TopSongs {
  private readonly logger = new Logger(TopSongs.name);
  private readonly bigquery: BigQuery;
  /** `project.dataset.table`, for answers and messages. */
  private readonly tableId: string;
  private readonly table: string;
  private readonly budget: QueryBudget;
  private readonly topSongsAnswers: AnswerCache<TopSongsAnswer>;
  private readonly artistsAnswers: AnswerCache<ArtistsAnswer>;
  private readonly overTimeAnswers: AnswerCache<PlaysOverTimeAnswer>;
  private readonly maxBytesBilled: string;
  private failing = false;

  constructor(
    config: AppConfig,
    @InjectMetric(METRIC.topSongsQueryDuration) private readonly queryDuration: Histogram<'outcome'>,
    private readonly live: LiveView,
  ) {
    // A dashboard asks again in seconds; a quick, clear failure beats the client's own retries.
    this.bigquery = createBigQuery(config, { autoRetry: false });
    this.tableId = tableId(config.BIGQUERY_PROJECT_ID, config.BIGQUERY_DATASET, config.BIGQUERY_TABLE);
    this.table = tableRef(this.tableId);
    this.maxBytesBilled = config.DASHBOARD_MAX_BYTES_BILLED.toString();
    this.budget = new QueryBudget(config.DASHBOARD_MAX_QUERIES_PER_SECOND, config.DASHBOARD_MAX_QUERY_WAIT_MS);
    const cacheMs = live.enabled
      ? Math.max(config.DASHBOARD_CACHE_MS, LONG_WINDOW_CACHE_MS)
      : config.DASHBOARD_CACHE_MS;
    this.topSongsAnswers = new AnswerCache(cacheMs);
    this.artistsAnswers = new AnswerCache(cacheMs);
    this.overTimeAnswers = new AnswerCache(cacheMs);
  }

  /** The most played songs of the window. Rejects with QueryBudgetExceeded or TopSongsUnavailable. */
  topSongs(request: TopSongsRequest): Promise<TopSongsAnswer> {
    const now = Date.now();
    const since = windowStart(now, request.windowSeconds);
    if (this.live.answers(since, now)) return Promise.resolve(this.liveTopSongs(request, since, now));
    const key = JSON.stringify([since, request.windowSeconds, request.limit, request.artist ?? null]);
    return this.topSongsAnswers.get(key, () =>
      // The window is taken when the query runs: a question may wait its turn in the budget.
      this.whenBudgetAllows(() => {
        const at = Date.now();
        return this.askTopSongs(request, windowStart(at, request.windowSeconds), at);
      }),
    );
  }

  /** The most played artists of the window. */
  artists(request: ArtistsRequest): Promise<ArtistsAnswer> {
    const now = Date.now();
    const since = windowStart(now, request.windowSeconds);
    if (this.live.answers(since, now)) return Promise.resolve(this.liveArtists(request, since, now));
    const key = JSON.stringify([since, request.windowSeconds, request.limit]);
    return this.artistsAnswers.get(key, () =>
      this.whenBudgetAllows(() => {
        const at = Date.now();
        return this.askArtists(request, windowStart(at, request.windowSeconds), at);
      }),
    );
  }

  /** The window's top songs' plays per time bucket. */
  playsOverTime(request: PlaysOverTimeRequest): Promise<PlaysOverTimeAnswer> {
    const now = Date.now();
    const span = bucketSpan(now, request.windowSeconds);
    if (this.live.answers(span.since, now)) return Promise.resolve(this.livePlaysOverTime(request, span, now));
    const key = JSON.stringify([span.since, request.windowSeconds, request.songs, request.artist ?? null]);
    return this.overTimeAnswers.get(key, () =>
      this.whenBudgetAllows(() => {
        const at = Date.now();
        return this.askPlaysOverTime(request, bucketSpan(at, request.windowSeconds), at);
      }),
    );
  }

  private liveTopSongs(request: TopSongsRequest, since: number, now: number): TopSongsAnswer {
    const answer = this.live.tally.topSongs({ sinceMinuteMs: since, artist: request.artist, limit: request.limit });
    return {
      table: this.tableId,
      artist: request.artist ?? null,
      window: request.window,
      window_seconds: request.windowSeconds,
      since: new Date(since).toISOString(),
      limit: request.limit,
      total_plays: answer.total_plays,
      newest_play_at: answer.newest_play_at === null ? null : isoMicros(answer.newest_play_at),
      songs: answer.songs.map((song) => ({
        song_name: song.song_name,
        total_plays: song.total_plays,
        last_played_at: isoMicros(song.last_played_at),
      })),
      queried_at: new Date(now).toISOString(),
      source: 'live',
    };
  }

  private liveArtists(request: ArtistsRequest, since: number, now: number): ArtistsAnswer {
    const answer = this.live.tally.artists({ sinceMinuteMs: since, limit: request.limit });
    return {
      table: this.tableId,
      window: request.window,
      window_seconds: request.windowSeconds,
      since: new Date(since).toISOString(),
      limit: request.limit,
      total_artists: answer.total_artists,
      artists: answer.artists.map((artist) => ({ ...artist, last_played_at: isoMicros(artist.last_played_at) })),
      queried_at: new Date(now).toISOString(),
      source: 'live',
    };
  }

  private livePlaysOverTime(request: PlaysOverTimeRequest, span: BucketSpan, now: number): PlaysOverTimeAnswer {
    const answer = this.live.tally.playsOverTime({
      sinceMs: span.since,
      untilMs: span.until,
      bucketSeconds: span.bucketSeconds,
      songs: request.songs,
      artist: request.artist,
    });
    return {
      ...this.overTimeFrame(request, span, now),
      total_plays: answer.total_plays,
      series: answer.series,
      source: 'live',
    };
  }

  /** What a plays-over-time answer says whichever path counts it. */
  private overTimeFrame(request: PlaysOverTimeRequest, span: BucketSpan, now: number) {
    return {
      table: this.tableId,
      artist: request.artist ?? null,
      window: request.window,
      window_seconds: request.windowSeconds,
      songs: request.songs,
      bucket: bucketName(span.bucketSeconds),
      bucket_seconds: span.bucketSeconds,
      since: new Date(span.since).toISOString(),
      until: new Date(span.until).toISOString(),
      buckets: Array.from({ length: span.count }, (_, i) =>
        new Date(span.since + i * span.bucketSeconds * 1_000).toISOString(),
      ),
      queried_at: new Date(now).toISOString(),
    };
  }

  /**
   * Runs `ask` in its turn of the query budget. Over budget it throws synchronously, so the answer
   * cache keeps nothing and the next request is judged afresh.
   */
  private whenBudgetAllows<T>(ask: () => Promise<T>): Promise<T> {
    const waitMs = this.budget.reserve();
    return waitMs === 0 ? ask() : sleep(waitMs).then(ask);
  }

  private async askTopSongs(request: TopSongsRequest, sinceMs: number, now: number): Promise<TopSongsAnswer> {
    const since = new Date(sinceMs);
    const artist = request.artist;
    const songs = await this.query<{
      song_name: string;
      total_plays: number;
      last_played_at: BigQueryTimestamp;
      all_plays: number;
      newest_play_at: BigQueryTimestamp;
    }>(topSongsSinceQuery(this.table, { artist: artist !== undefined }), { since, limit: request.limit, artist });
    return {
      table: this.tableId,
      artist: artist ?? null,
      window: request.window,
      window_seconds: request.windowSeconds,
      since: since.toISOString(),
      limit: request.limit,
      total_plays: Number(songs[0]?.all_plays ?? 0),
      newest_play_at: iso(songs[0]?.newest_play_at ?? null),
      songs: songs.map((song) => ({
        song_name: song.song_name,
        total_plays: Number(song.total_plays),
        last_played_at: iso(song.last_played_at),
      })),
      queried_at: new Date(now).toISOString(),
      source: 'bigquery',
    };
  }

  private async askArtists(request: ArtistsRequest, sinceMs: number, now: number): Promise<ArtistsAnswer> {
    const since = new Date(sinceMs);
    const rows = await this.query<{
      artist: string;
      total_plays: number;
      last_played_at: BigQueryTimestamp;
      artists: number;
    }>(artistsSinceQuery(this.table), { since, limit: request.limit });
    return {
      table: this.tableId,
      window: request.window,
      window_seconds: request.windowSeconds,
      since: since.toISOString(),
      limit: request.limit,
      total_artists: Number(rows[0]?.artists ?? 0),
      artists: rows.map((row) => ({
        artist: row.artist,
        total_plays: Number(row.total_plays),
        last_played_at: iso(row.last_played_at),
      })),
      queried_at: new Date(now).toISOString(),
      source: 'bigquery',
    };
  }

  private async askPlaysOverTime(
    request: PlaysOverTimeRequest,
    span: BucketSpan,
    now: number,
  ): Promise<PlaysOverTimeAnswer> {
    const artist = request.artist;
    const rows = await this.query<{
      song_name: string;
      song_plays: number;
      all_plays: number;
      bucket: number;
      plays: number;
    }>(playsOverTimeQuery(this.table, { artist: artist !== undefined }), {
      since: new Date(span.since),
      until: new Date(span.until),
      songs: request.songs,
      bucket_seconds: span.bucketSeconds,
      artist,
    });
    const series = new Map<string, SongSeries>();
    for (const row of rows) {
      let song = series.get(row.song_name);
      if (song === undefined) {
        song = {
          song_name: row.song_name,
          total_plays: Number(row.song_plays),
          plays: new Array<number>(span.count).fill(0),
        };
        series.set(row.song_name, song);
      }
      song.plays[Number(row.bucket)]! += Number(row.plays);
    }
    return {
      ...this.overTimeFrame(request, span, now),
      total_plays: Number(rows[0]?.all_plays ?? 0),
      // BigQuery's order: most played first, ties by name in UTF-8 byte order.
      series: [...series.values()].sort(
        (a, b) => b.total_plays - a.total_plays || compareNames(a.song_name, b.song_name),
      ),
      source: 'bigquery',
    };
  }

  /**
   * One parameterised query, timed and within QUERY_TIMEOUT_MS; failures become TopSongsUnavailable,
   * whose message anyone may read: a category, BigQuery's own text only in the log.
   */
  private async query<T>(query: string, params: Record<string, unknown>): Promise<T[]> {
    const timer = this.queryDuration.startTimer();
    // An absent artist is no parameter at all: the query then has no @artist.
    const defined = Object.fromEntries(Object.entries(params).filter(([, value]) => value !== undefined));
    // Our own job id, so a query that times out can be cancelled whether or not its insert answered.
    const jobId = `top_songs_${randomUUID()}`;
    try {
      const [rows] = await withTimeout(
        this.bigquery.query({
          query,
          params: defined,
          maximumBytesBilled: this.maxBytesBilled,
          jobId,
          // BigQuery's own stop, should the cancel below not reach it.
          jobTimeoutMs: QUERY_TIMEOUT_MS,
        }),
        QUERY_TIMEOUT_MS,
      );
      timer({ outcome: 'ok' });
      if (this.failing) this.logger.log('top-songs queries work again');
      this.failing = false;
      return rows as T[];
    } catch (error) {
      timer({ outcome: 'error' });
      // Abandoned, it would run on in BigQuery, and bill, with nobody waiting for its answer.
      if (error instanceof QueryTimedOut) this.cancel(jobId);
      const fault = QUERY_FAULTS.find((f) => f.matches(error)) ?? OTHER_FAULT;
      const reason = fault.says(this.tableId, this.maxBytesBilled);
      // Viewers poll every few seconds: say it when it starts, not on every poll.
      if (!this.failing) this.logger.warn(`top-songs query ${jobId} failed: ${reason}: ${errorText(error)}`);
      this.failing = true;
      throw new TopSongsUnavailable(reason);
    }
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

class QueryTimedOut extends Error {}

/** What a BigQuery error is, as the API may say it. */
interface QueryFault {
  matches: (error: unknown) => boolean;
  says: (tableId: string, maxBytesBilled: string) => string;
}

const reasonsOf = (error: unknown) =>
  ((error as { errors?: { reason?: unknown }[] }).errors ?? []).map((e) => e.reason);
const codeOf = (error: unknown) => (error as { code?: unknown }).code;

// The first that matches says it; BigQuery's reasons are those of its REST errors.
const QUERY_FAULTS: QueryFault[] = [
  {
    matches: (error) => error instanceof QueryTimedOut,
    says: () => `BigQuery gave no answer within ${QUERY_TIMEOUT_MS / 1000}s; the query was cancelled`,
  },
  {
    // A 404 from jobs.query; a job that failed reports the reason in its status instead.
    matches: (error) => codeOf(error) === 404 || reasonsOf(error).includes('notFound'),
    says: (tableId) => `the plays table ${tableId} does not exist yet`,
  },
  {
    matches: (error) => reasonsOf(error).includes('bytesBilledLimitExceeded'),
    says: (_, maxBytesBilled) => `the query would bill more than DASHBOARD_MAX_BYTES_BILLED (${maxBytesBilled} bytes)`,
  },
  {
    matches: (error) => codeOf(error) === 401 || reasonsOf(error).includes('accessDenied'),
    says: () => 'BigQuery refused the query: no permission',
  },
  {
    matches: (error) => reasonsOf(error).some((r) => typeof r === 'string' && QUOTA_REASONS.has(r)),
    says: () => 'BigQuery refused the query: over a quota',
  },
];
const OTHER_FAULT: QueryFault = { matches: () => true, says: () => 'BigQuery could not answer the query' };

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new QueryTimedOut(`no answer within ${ms / 1000}s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
