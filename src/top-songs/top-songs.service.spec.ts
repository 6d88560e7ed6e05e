import { Logger } from '@nestjs/common';
import { BigQuery, Job } from '@google-cloud/bigquery';
import { parseEnv } from '../config/parse-env.js';
import { LiveView } from '../live/live-view.js';
import { deltaOf } from '../live/play-delta.js';
import type { Histogram } from '../metrics/metrics.js';
import { TopSongsUnavailable } from './top-songs-query-runner.js';
import { TopSongs } from './top-songs.service.js';

// The client faked at its narrowest seam: BigQuery#query (the query job) and Job#cancel (the cancel
// request), so nothing leaves the process. The emulator runs our queries too fast for them to time out.

const env = {
  BIGQUERY_PROJECT_ID: 'plays-local',
  BIGQUERY_API_ENDPOINT: 'http://127.0.0.1:9',
  BIGQUERY_STORAGE_API_ENDPOINT: '127.0.0.1:9',
};
const config = parseEnv(env);
const histogram = { startTimer: () => () => 0 } as unknown as Histogram<'outcome'>;
const request = { window: '15m', windowSeconds: 900, limit: 10 };
const liveOff = new LiveView(config);

interface QueryOptions {
  jobId: string;
  jobTimeoutMs?: number;
  maximumBytesBilled?: string;
}

function fakeBigQuery(answer: () => Promise<unknown>) {
  const asked: QueryOptions[] = [];
  const cancelled: string[] = [];
  vi.spyOn(BigQuery.prototype, 'query').mockImplementation(((options: QueryOptions) => {
    asked.push(options);
    return answer();
  }) as never);
  // eslint-disable-next-line @typescript-eslint/no-misused-promises -- without a callback, cancel() returns a promise; its types pick the callback form
  vi.spyOn(Job.prototype, 'cancel').mockImplementation(function (this: Job) {
    cancelled.push(this.id!);
    return Promise.resolve([{}]);
  });
  const warnings: string[] = [];
  vi.spyOn(Logger.prototype, 'warn').mockImplementation((text: unknown) => void warnings.push(String(text)));
  vi.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
  return { asked, cancelled, warnings };
}

/** What the API would answer: the 503's message. */
async function failure(answer: Promise<unknown>): Promise<string> {
  const error = await answer.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(TopSongsUnavailable);
  return (error as Error).message;
}

describe('TopSongs against BigQuery', () => {
  afterEach(() => {
    vi.useRealTimers();
    vi.restoreAllMocks();
  });

  it('sends each query with the default byte cap and a job timeout, under an id of its own', async () => {
    const { asked } = fakeBigQuery(() => Promise.resolve([[]]));
    await new TopSongs(config, histogram, liveOff).topSongs(request);
    expect(asked).toHaveLength(1);
    expect(asked[0]).toMatchObject({ maximumBytesBilled: '1073741824', jobTimeoutMs: 10_000 });
    expect(asked[0]!.jobId).toMatch(/^top_songs_[0-9a-f-]{36}$/);
  });

  it('cancels the job of a query that gets no answer within 10 s, and answers that it timed out', async () => {
    vi.useFakeTimers();
    const { asked, cancelled, warnings } = fakeBigQuery(() => new Promise(() => {}));
    const answer = failure(new TopSongs(config, histogram, liveOff).topSongs(request));
    await vi.advanceTimersByTimeAsync(9_999);
    expect(cancelled).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(await answer).toBe('BigQuery gave no answer within 10s; the query was cancelled');
    expect(cancelled).toEqual([asked[0]!.jobId]);
    expect(warnings.join('\n')).toContain(asked[0]!.jobId);
  });

  it('does not cancel a query that answered, nor one that failed on its own', async () => {
    const { cancelled } = fakeBigQuery(() => Promise.reject(Object.assign(new Error('boom'), { code: 500 })));
    const topSongs = new TopSongs(config, histogram, liveOff);
    await failure(topSongs.topSongs(request));
    expect(cancelled).toEqual([]);
  });

  it('asks once more, under a new id, after a fault the next request may not meet (a reset connection), and answers', async () => {
    let calls = 0;
    const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
    const { asked, warnings } = fakeBigQuery(() =>
      ++calls === 1 ? Promise.reject(reset) : Promise.resolve([[{ song_name: 'zombie', total_plays: 2 }]]),
    );
    const answer = await new TopSongs(config, histogram, liveOff).topSongs(request);
    expect(answer.songs.map((s) => s.song_name)).toEqual(['zombie']);
    expect(asked).toHaveLength(2);
    expect(asked[1]!.jobId).not.toBe(asked[0]!.jobId);
    expect(warnings).toEqual([]);
  });

  it('asks at most twice, then answers the category; a fault no retry fixes is asked once', async () => {
    const { asked } = fakeBigQuery(() => Promise.reject(Object.assign(new Error('backend'), { code: 503 })));
    expect(await failure(new TopSongs(config, histogram, liveOff).topSongs(request))).toBe(
      'BigQuery could not answer the query',
    );
    expect(asked).toHaveLength(2);
    vi.restoreAllMocks();
    const denied = fakeBigQuery(() =>
      Promise.reject(Object.assign(new Error('denied'), { code: 403, errors: [{ reason: 'accessDenied' }] })),
    );
    await failure(new TopSongs(config, histogram, liveOff).topSongs(request));
    expect(denied.asked).toHaveLength(1);
  });

  it('asks again only within the 10 s a query has: a retry gets what is left of them', async () => {
    vi.useFakeTimers();
    let calls = 0;
    const { asked } = fakeBigQuery(() =>
      ++calls === 1
        ? new Promise((_, reject) =>
            setTimeout(() => reject(Object.assign(new Error('reset'), { code: 'ECONNRESET' })), 3_000),
          )
        : new Promise(() => {}),
    );
    const answer = failure(new TopSongs(config, histogram, liveOff).topSongs(request));
    await vi.advanceTimersByTimeAsync(3_000);
    expect(asked.map((a) => a.jobTimeoutMs)).toEqual([10_000, 7_000]);
    await vi.advanceTimersByTimeAsync(7_000);
    expect(await answer).toBe('BigQuery gave no answer within 10s; the query was cancelled');
    expect(asked).toHaveLength(2);
  });

  it.each([
    [
      'an error of its own',
      Object.assign(new Error('Connection to broker-7.internal.example:9092 refused; backend 10.1.2.3 error'), {
        code: 500,
      }),
      'BigQuery could not answer the query',
    ],
    [
      'the byte cap',
      Object.assign(
        new Error('Query exceeded limit for bytes billed: 1073741824. 2147483648 or higher required. (job x-123)'),
        { code: 400, errors: [{ reason: 'bytesBilledLimitExceeded' }] },
      ),
      'the query would bill more than DASHBOARD_MAX_BYTES_BILLED (1073741824 bytes)',
    ],
    [
      'a permission',
      Object.assign(
        new Error('Access Denied: Table p:d.t: User sa@p.iam.gserviceaccount.com lacks bigquery.jobs.create'),
        {
          code: 403,
          errors: [{ reason: 'accessDenied' }],
        },
      ),
      'BigQuery refused the query: no permission',
    ],
    [
      'a missing table',
      Object.assign(new Error('Not found: Table plays-local:music.tony_allen_plays was not found in location EU'), {
        code: 404,
      }),
      'the plays table plays-local.music.tony_allen_plays does not exist yet',
    ],
    [
      'a missing table, as a failed job says it',
      Object.assign(new Error('Not found: Dataset plays-local:music'), { errors: [{ reason: 'notFound' }] }),
      'the plays table plays-local.music.tony_allen_plays does not exist yet',
    ],
  ])("answers %s with a category, not BigQuery's text, which goes to the log", async (_, error, said) => {
    const { warnings } = fakeBigQuery(() => Promise.reject(error));
    const message = await failure(new TopSongs(config, histogram, liveOff).topSongs(request));
    expect(message).toBe(said);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(error.message);
    expect(warnings[0]).toContain(said);
  });
});

describe('TopSongs with the live view', () => {
  afterEach(() => {
    vi.useRealTimers();
    vi.restoreAllMocks();
  });

  const NOW = Date.UTC(2026, 11, 5, 12, 30, 15);
  /** A live view holding plays 1 to 20 minutes ago; `state` is what its reader says. */
  function liveView(status: 'live' | 'rebuilding') {
    const view = new LiveView(parseEnv({ ...env, LIVE_ENABLED: 'true' }));
    const plays = Array.from({ length: 20 }, (_, i) => ({
      artist: i % 2 === 0 ? 'tony-allen' : 'fela-kuti',
      song_name: `song ${i % 3}`,
      timestampMicros: (NOW - (i + 1) * 60_000) * 1_000 + 7,
    }));
    view.tally.apply(deltaOf('tony-allen-plays', 0, 0, plays), NOW);
    vi.spyOn(view, 'state').mockReturnValue(status === 'live' ? { status } : { status, detail: 'reading' });
    return view;
  }

  it('answers a window within the horizon from memory, asking BigQuery nothing, from a whole minute', async () => {
    vi.useFakeTimers({ now: NOW, toFake: ['Date'] });
    const { asked } = fakeBigQuery(() => Promise.resolve([[]]));
    const topSongs = new TopSongs(config, histogram, liveView('live'));
    const answer = await topSongs.topSongs({ ...request, artist: 'tony-allen' });
    expect(asked).toEqual([]);
    expect(answer).toMatchObject({ source: 'live', since: '2026-12-05T12:15:00.000Z', total_plays: 8 });
    // 12:15 to 12:29: tony-allen's plays are those of even minutes back, song i % 3.
    expect(answer.songs.map((s) => [s.song_name, s.total_plays])).toEqual([
      ['song 0', 3],
      ['song 2', 3],
      ['song 1', 2],
    ]);
    expect(answer.newest_play_at).toBe('2026-12-05T12:29:15.000007Z');
    const overTime = await topSongs.playsOverTime({ window: '15m', windowSeconds: 900, songs: 5 });
    expect(overTime).toMatchObject({ source: 'live', bucket: '1m', total_plays: 15 });
    expect(overTime.series.reduce((sum, s) => sum + s.plays.reduce((a, b) => a + b, 0), 0)).toBe(15);
    expect((await topSongs.artists({ window: '1h', windowSeconds: 3_600, limit: 5 })).total_artists).toBe(2);
    expect(asked).toEqual([]);
  });

  it('asks BigQuery, from the same whole minute, while the live view rebuilds or for a window past its horizon', async () => {
    vi.useFakeTimers({ now: NOW, toFake: ['Date'] });
    const { asked } = fakeBigQuery(() => Promise.resolve([[]]));
    const rebuilding = await new TopSongs(config, histogram, liveView('rebuilding')).topSongs(request);
    expect(rebuilding).toMatchObject({ source: 'bigquery', since: '2026-12-05T12:15:00.000Z' });
    const long = await new TopSongs(config, histogram, liveView('live')).topSongs({
      window: '2d',
      windowSeconds: 172_800,
      limit: 10,
    });
    expect(long.source).toBe('bigquery');
    expect(asked).toHaveLength(2);
  });
});
