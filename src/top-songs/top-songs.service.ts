import { setTimeout as sleep } from 'node:timers/promises';
import { Injectable, Logger } from '@nestjs/common';
import { AppConfig } from '../config/config.module.js';
import { tableId } from '../bigquery/play-queries.js';
import { LiveView } from '../live/live-view.js';
import { InjectMetric, METRIC, type Histogram } from '../metrics/metrics.js';
import { AnswerCache } from './answer-cache.js';
import { BigQueryAnswers } from './bigquery-answers.js';
import { LiveAnswers } from './live-answers.js';
import { QueryBudget } from './query-budget.js';
import { bucketSpan, windowStart } from './time-buckets.js';
import type { ArtistsAnswer, PlaysOverTimeAnswer, TopSongsAnswer } from './top-songs-answer.js';
import { TopSongsQueryRunner } from './top-songs-query-runner.js';
import type { ArtistsRequest, PlaysOverTimeRequest, TopSongsRequest } from './top-songs-request.js';

// What TopSongs answers, for its callers (the integration tests import the shapes from here).
export type { ArtistsAnswer, PlaysOverTimeAnswer, TopSongsAnswer } from './top-songs-answer.js';

/**
 * With the live view on, BigQuery answers only windows longer than its horizon; almost all of such a
 * window is closed minutes that do not change, so its answer is kept this long.
 */
const LONG_WINDOW_CACHE_MS = 60_000;

/**
 * Reads the plays table back with parameterised queries, one query an answer. An answer (or a
 * failure) is shared by every request for the same question that arrives while it is being fetched or
 * within DASHBOARD_CACHE_MS after, so many viewers cost one query; and the queries of all questions
 * together stay within DASHBOARD_MAX_QUERIES_PER_SECOND (QueryBudget), so many distinct questions
 * cannot run up BigQuery's bill either. A window the live view holds is answered from memory instead.
 */
@Injectable()
export class TopSongs {
  private readonly logger = new Logger(TopSongs.name);
  private readonly fromLive: LiveAnswers;
  private readonly fromBigQuery: BigQueryAnswers;
  private readonly budget: QueryBudget;
  private readonly topSongsAnswers: AnswerCache<TopSongsAnswer>;
  private readonly artistsAnswers: AnswerCache<ArtistsAnswer>;
  private readonly overTimeAnswers: AnswerCache<PlaysOverTimeAnswer>;

  constructor(
    config: AppConfig,
    @InjectMetric(METRIC.topSongsQueryDuration) queryDuration: Histogram<'outcome'>,
    private readonly live: LiveView,
  ) {
    const table = tableId(config.BIGQUERY_PROJECT_ID, config.BIGQUERY_DATASET, config.BIGQUERY_TABLE);
    this.fromBigQuery = new BigQueryAnswers(new TopSongsQueryRunner(config, table, queryDuration, this.logger), table);
    this.fromLive = new LiveAnswers(live, table);
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
    if (this.live.answers(since, now)) return Promise.resolve(this.fromLive.topSongs(request, since, now));
    const key = JSON.stringify([since, request.windowSeconds, request.limit, request.artist ?? null]);
    return this.topSongsAnswers.get(key, () =>
      // The window is taken when the query runs: a question may wait its turn in the budget.
      this.whenBudgetAllows(() => {
        const at = Date.now();
        return this.fromBigQuery.topSongs(request, windowStart(at, request.windowSeconds), at);
      }),
    );
  }

  /** The most played artists of the window. */
  artists(request: ArtistsRequest): Promise<ArtistsAnswer> {
    const now = Date.now();
    const since = windowStart(now, request.windowSeconds);
    if (this.live.answers(since, now)) return Promise.resolve(this.fromLive.artists(request, since, now));
    const key = JSON.stringify([since, request.windowSeconds, request.limit]);
    return this.artistsAnswers.get(key, () =>
      this.whenBudgetAllows(() => {
        const at = Date.now();
        return this.fromBigQuery.artists(request, windowStart(at, request.windowSeconds), at);
      }),
    );
  }

  /** The window's top songs' plays per time bucket. */
  playsOverTime(request: PlaysOverTimeRequest): Promise<PlaysOverTimeAnswer> {
    const now = Date.now();
    const span = bucketSpan(now, request.windowSeconds);
    if (this.live.answers(span.since, now)) return Promise.resolve(this.fromLive.playsOverTime(request, span, now));
    const key = JSON.stringify([span.since, request.windowSeconds, request.songs, request.artist ?? null]);
    return this.overTimeAnswers.get(key, () =>
      this.whenBudgetAllows(() => {
        const at = Date.now();
        return this.fromBigQuery.playsOverTime(request, bucketSpan(at, request.windowSeconds), at);
      }),
    );
  }

  /**
   * Runs `ask` in its turn of the query budget. Over budget it throws synchronously, so the answer
   * cache keeps nothing and the next request is judged afresh.
   */
  private whenBudgetAllows<T>(ask: () => Promise<T>): Promise<T> {
    const waitMs = this.budget.reserve();
    return waitMs === 0 ? ask() : sleep(waitMs).then(ask);
  }
}
