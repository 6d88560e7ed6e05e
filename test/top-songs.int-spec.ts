import fs from 'node:fs';
import path from 'node:path';
import type { Browser, ConsoleMessage } from 'playwright-core';
import type { ArtistsAnswer, PlaysOverTimeAnswer, TopSongsAnswer } from '../src/top-songs/top-songs.service.js';
import { launchChromium } from './support/chromium.js';
import { ResettingProxy } from './support/resetting-proxy.js';
import {
  bigquery,
  deps,
  drained,
  eventually,
  play,
  produce,
  queryRows,
  Service,
  setUpTopics,
  sleep,
  useAdmin,
  type Names,
  ago,
} from './support/service.js';

// The dashboard page's global: the Chart.js build it loads.
declare const Chart: typeof import('chart.js').Chart;

const admin = useAdmin();
const artifacts = path.resolve(import.meta.dirname, '../test-artifacts');

// Two artists. Within the last 15 minutes: tony-allen's zombie 5, lady 3, kindness 2; fela-kuti's
// water-no-get-enemy 4, sorrow 2 and a zombie of its own, once. Two hours ago: tony-allen's vip once.
const tony = (i: number, song_id: number, song_name: string, msAgo: number, extra: Record<string, unknown> = {}) =>
  play(i, { song_id, song_name, timestamp: ago(msAgo), ...extra });
const fela = (i: number, song_id: number, song_name: string, msAgo: number) =>
  play(i, { artist: 'fela-kuti', song_id, song_name, timestamp: ago(msAgo) });
const recent = [
  ...Array.from({ length: 5 }, (_, i) => tony(i, 0, 'zombie', 60_000 + i)),
  ...Array.from({ length: 3 }, (_, i) => tony(i, 1, 'lady', 120_000 + i)),
  tony(0, 3, 'kindness', 30_000, { event_id: 'kindness-1' }),
  tony(1, 3, 'kindness', 10_000, { event_id: 'kindness-2' }),
  ...Array.from({ length: 4 }, (_, i) => fela(i, 0, 'water-no-get-enemy', 180_000 + i * 20_000)),
  fela(0, 2, 'sorrow', 50_000),
  fela(1, 2, 'sorrow', 400_000),
  fela(0, 1, 'zombie', 240_000),
];
const old = play(0, { song_id: 9, song_name: 'vip', timestamp: ago(2 * 3_600_000) });
const timeOf = (p: Record<string, unknown>) => Date.parse(`${p.timestamp as string}Z`);
const newest = recent.map(timeOf).reduce((a, b) => Math.max(a, b));

/** A query job's configuration, as BigQuery's REST API (and the emulator) reports it. */
interface QueryConfiguration {
  query: string;
  maximumBytesBilled?: string;
  queryParameters?: { name: string; parameterValue: { value: string } }[];
}

interface ErrorBody {
  message?: string;
}

async function getJson<T>(
  service: Service,
  path: string,
): Promise<{ status: number; body: T & ErrorBody; headers: Headers }> {
  const response = await fetch(`http://127.0.0.1:${service.port}${path}`);
  return { status: response.status, body: (await response.json()) as T & ErrorBody, headers: response.headers };
}

// The BigQuery path: with the live view on, windows within its horizon are answered from memory (its
// own spec, live.int-spec.ts, proves those answers equal this path's).
const BIGQUERY_PATH = { LIVE_ENABLED: 'false' };

/** How many of `plays` a window that starts at `since` (ISO-8601) holds. */
const playsSince = (plays: Record<string, unknown>[], since: string) =>
  plays.filter((p) => timeOf(p) >= Date.parse(since)).length;

const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);

/** Buckets of the stated size, one after the other from `since` to `until`, none missing; a value for each in every series. */
function expectEveryBucket(answer: PlaysOverTimeAnswer): void {
  const size = answer.bucket_seconds * 1_000;
  expect(Date.parse(answer.since) % size).toBe(0);
  expect(answer.buckets.length).toBe((Date.parse(answer.until) - Date.parse(answer.since)) / size);
  answer.buckets.forEach((bucket, i) => expect(Date.parse(bucket)).toBe(Date.parse(answer.since) + i * size));
  for (const series of answer.series) expect(series.plays).toHaveLength(answer.buckets.length);
}

/** BigQuery queries the service has run (cached answers are not queries). */
async function queriesRun(service: Service): Promise<number> {
  const metrics = await (await fetch(`http://127.0.0.1:${service.port}/metrics`)).text();
  return Number(/^top_songs_query_duration_seconds_count\{outcome="ok"\} (\d+)$/m.exec(metrics)?.[1] ?? 0);
}

const get = (service: Service, query: string) => getJson<TopSongsAnswer>(service, `/api/top-songs${query}`);
const songsOf = (answer: TopSongsAnswer) => answer.songs.map((s) => [s.song_name, s.total_plays]);

describe('top songs: the API, the Looker Studio view and the live dashboard', () => {
  let names: Names;
  let service: Service;
  let browser: Browser | undefined;

  beforeAll(async () => {
    // In the hook, whose timeout leaves room for a first-time apt-get install of Chromium.
    browser = await launchChromium();
    names = await setUpTopics(admin, 2);
    const plays = [...recent, old];
    await produce(
      names.topic,
      plays.map((p) => ({ value: JSON.stringify(p) })),
    );
    service = await Service.start(names, BIGQUERY_PATH);
    await drained(admin, names, plays.length);
  });

  // A failure keeps the shared service's log: its warnings say why a query failed (the page says only 503).
  afterEach(({ task }) => {
    if (task.result?.state !== 'fail' || service === undefined) return;
    fs.mkdirSync(artifacts, { recursive: true });
    const slug = task.name.replace(/[^a-z0-9]+/gi, '-').slice(0, 60);
    fs.writeFileSync(path.join(artifacts, `top-songs.${slug}.log`), service.log);
  });

  afterAll(async () => {
    await browser?.close();
    await service?.stop();
  });

  it('answers plays per song over the window, every artist, most played first, with the total and the newest play', async () => {
    const { status, body } = await get(service, '?window=15m&limit=10');
    expect(status).toBe(200);
    // Both artists' zombies count as one song name, as the dashboard has always shown "every artist".
    expect(songsOf(body)).toEqual([
      ['zombie', 6],
      ['water-no-get-enemy', 4],
      ['lady', 3],
      ['kindness', 2],
      ['sorrow', 2],
    ]);
    expect(body).toMatchObject({
      table: `${deps.BIGQUERY_PROJECT_ID}.${names.dataset}.${names.table}`,
      artist: null,
      window: '15m',
      window_seconds: 900,
      limit: 10,
      total_plays: 17,
    });
    expect(Date.parse(body.newest_play_at!)).toBe(newest);
    // Windows start on a whole minute (the live view counts by the minute): the one holding now − 15 min.
    expect(Date.parse(body.since) % 60_000).toBe(0);
    expect(Date.parse(body.queried_at) - Date.parse(body.since)).toBeGreaterThanOrEqual(900_000);
    expect(Date.parse(body.queried_at) - Date.parse(body.since)).toBeLessThan(960_000);

    // A wider window takes in the old play; a limit lists fewer songs but still counts every play.
    const day = await get(service, '?window=24h');
    expect(songsOf(day.body)).toContainEqual(['vip', 1]);
    expect(day.body.total_plays).toBe(18);
    const top2 = await get(service, '?window=24h&limit=2');
    expect(top2.body.songs.map((s) => s.song_name)).toEqual(['zombie', 'water-no-get-enemy']);
    expect(top2.body.total_plays).toBe(18);
    // A window under a minute starts on the minute that holds its first instant.
    const short = await get(service, '?window=5s');
    expect(short.status).toBe(200);
    expect(short.body.total_plays).toBe(playsSince(recent, short.body.since));
  });

  it("answers one artist's songs only, with exact counts, and an empty answer for an artist with no plays", async () => {
    const tonyAllen = await get(service, '?window=15m&artist=tony-allen');
    expect(tonyAllen.status).toBe(200);
    expect(songsOf(tonyAllen.body)).toEqual([
      ['zombie', 5],
      ['lady', 3],
      ['kindness', 2],
    ]);
    expect(tonyAllen.body).toMatchObject({ artist: 'tony-allen', total_plays: 10 });

    const felaKuti = await get(service, '?window=15m&artist=fela-kuti&limit=2');
    expect(songsOf(felaKuti.body)).toEqual([
      ['water-no-get-enemy', 4],
      ['sorrow', 2],
    ]);
    expect(felaKuti.body).toMatchObject({ artist: 'fela-kuti', total_plays: 7 });
    const felaNewest = recent.filter((p) => p.artist === 'fela-kuti').map(timeOf);
    expect(Date.parse(felaKuti.body.newest_play_at!)).toBe(Math.max(...felaNewest));

    // Exact names only: another case, or a name nobody plays, is an empty answer.
    for (const artist of ['Tony-Allen', 'nobody', "o'brien; DROP TABLE plays"]) {
      const { status, body } = await get(service, `?window=24h&artist=${encodeURIComponent(artist)}`);
      expect(status).toBe(200);
      expect(body).toMatchObject({ artist, songs: [], total_plays: 0, newest_play_at: null });
    }
  });

  it('lists the artists with plays in the window, most played first, with their totals', async () => {
    const { status, body } = await getJson<ArtistsAnswer>(service, '/api/artists?window=15m');
    expect(status).toBe(200);
    expect(body.artists.map((a) => [a.artist, a.total_plays])).toEqual([
      ['tony-allen', 10],
      ['fela-kuti', 7],
    ]);
    expect(body).toMatchObject({ window: '15m', window_seconds: 900, limit: 100, total_artists: 2 });
    expect(Date.parse(body.artists[0]!.last_played_at!)).toBe(newest);

    const top1 = await getJson<ArtistsAnswer>(service, '/api/artists?window=24h&limit=1');
    expect(top1.body.artists.map((a) => [a.artist, a.total_plays])).toEqual([['tony-allen', 11]]);
    expect(top1.body.total_artists).toBe(2);
    // A window under a minute starts on the minute that holds its first instant.
    const short = await getJson<ArtistsAnswer>(service, '/api/artists?window=1s');
    expect(sum(short.body.artists.map((a) => a.total_plays))).toBe(playsSince(recent, short.body.since));
  });

  it('answers plays over time per bucket for the top songs: every bucket present, of the stated size, adding up to the totals', async () => {
    const { status, body } = await getJson<PlaysOverTimeAnswer>(
      service,
      '/api/plays-over-time?window=15m&artist=fela-kuti',
    );
    expect(status).toBe(200);
    expect(body).toMatchObject({ artist: 'fela-kuti', window: '15m', songs: 5, bucket: '1m', bucket_seconds: 60 });
    expectEveryBucket(body);
    // The first bucket holds now - 15 min, the last holds now.
    expect(Date.parse(body.since)).toBeLessThanOrEqual(Date.parse(body.queried_at) - 900_000);
    expect(Date.parse(body.until)).toBeGreaterThan(Date.parse(body.queried_at));

    // Each play in its bucket, computed here from the plays themselves.
    const expected = (song: string) => {
      const plays = new Array<number>(body.buckets.length).fill(0);
      for (const p of recent.filter((p) => p.artist === 'fela-kuti' && p.song_name === song))
        plays[Math.floor((timeOf(p) - Date.parse(body.since)) / 60_000)]!++;
      return plays;
    };
    expect(body.series.map((s) => [s.song_name, s.total_plays])).toEqual([
      ['water-no-get-enemy', 4],
      ['sorrow', 2],
      ['zombie', 1],
    ]);
    for (const series of body.series) {
      expect(series.plays).toEqual(expected(series.song_name));
      expect(sum(series.plays)).toBe(series.total_plays);
    }
    expect(body.total_plays).toBe(7);
    expect(sum(body.series.flatMap((s) => s.plays))).toBe(body.total_plays);

    // Fewer songs: only the top ones, the total still every song's; an hour in 1-minute buckets.
    const top2 = await getJson<PlaysOverTimeAnswer>(service, '/api/plays-over-time?window=1h&songs=2&artist=fela-kuti');
    expect(top2.body).toMatchObject({ bucket: '1m', bucket_seconds: 60, total_plays: 7, songs: 2 });
    expectEveryBucket(top2.body);
    expect(top2.body.buckets.length).toBe(61);
    expect(top2.body.series.map((s) => [s.song_name, sum(s.plays)])).toEqual([
      ['water-no-get-enemy', 4],
      ['sorrow', 2],
    ]);

    // Every artist: a day in 15-minute buckets takes in the old play; the sums are the top-songs answer's.
    const day = await getJson<PlaysOverTimeAnswer>(service, '/api/plays-over-time?window=24h&songs=10');
    expect(day.body).toMatchObject({ artist: null, bucket: '15m', bucket_seconds: 900, total_plays: 18 });
    expectEveryBucket(day.body);
    const daySongs = await get(service, '?window=24h');
    expect(day.body.series.map((s) => [s.song_name, sum(s.plays)])).toEqual(songsOf(daySongs.body));

    // An artist with no plays: every bucket, no series.
    const nobody = await getJson<PlaysOverTimeAnswer>(service, '/api/plays-over-time?window=5m&artist=nobody');
    expect(nobody.status).toBe(200);
    expect(nobody.body).toMatchObject({ series: [], total_plays: 0, bucket_seconds: 60 });
    expectEveryBucket(nobody.body);
  });

  it('counts each play once when a row was written twice (past insertId de-duplication)', async () => {
    // What a redelivery outside BigQuery's one-minute de-duplication window leaves: the same play in two
    // rows with different insertIds. Once by event_id, once by topic/partition/offset (no event_id).
    const [rows] = await bigquery.query({
      query: `SELECT * FROM \`${deps.BIGQUERY_PROJECT_ID}.${names.dataset}.${names.table}\` WHERE song_name IN ('kindness', 'zombie')`,
    });
    const kindness = (rows as Record<string, unknown>[]).find((row) => row.event_id === 'kindness-1')!;
    const zombie = (rows as Record<string, unknown>[]).find(
      (row) => row.song_name === 'zombie' && row.artist === 'tony-allen',
    )!;
    const copy = (row: Record<string, unknown>) => ({
      ...row,
      timestamp: (row.timestamp as { value: string }).value,
      ingested_at: new Date().toISOString(),
    });
    await bigquery
      .dataset(names.dataset)
      .table(names.table)
      .insert(
        [
          { insertId: 'copy-1', json: copy(kindness) },
          { insertId: 'copy-2', json: copy(zombie) },
        ],
        { raw: true },
      );
    const [{ n }] = (await queryRows<{ n: number }>(names, 'SELECT COUNT(*) AS n FROM $table')) as [{ n: number }];
    expect(n).toBe(20);

    await sleep(1_500); // past the answer cache (DASHBOARD_CACHE_MS, 1 s)
    const { body } = await get(service, '?window=15m&artist=tony-allen');
    expect(songsOf(body)).toEqual([
      ['zombie', 5],
      ['lady', 3],
      ['kindness', 2],
    ]);
    expect(body.total_plays).toBe(10);
    const overTime = await getJson<PlaysOverTimeAnswer>(service, '/api/plays-over-time?window=15m&artist=tony-allen');
    expect(overTime.body.series.map((s) => [s.song_name, sum(s.plays)])).toEqual(songsOf(body));
    const artists = await getJson<ArtistsAnswer>(service, '/api/artists?window=15m');
    expect(artists.body.artists.map((a) => a.total_plays)).toEqual([10, 7]);

    // The view Looker Studio reads, all time, per artist and song, counts the same way.
    const view = await queryRows<{
      artist: string;
      song_name: string;
      total_plays: number;
      last_played_at: { value: string };
    }>(
      { ...names, table: `${names.table}_top_songs` },
      'SELECT artist, song_name, total_plays, last_played_at FROM $table ORDER BY total_plays DESC, artist, song_name',
    );
    expect(view.map((row) => [row.artist, row.song_name, row.total_plays])).toEqual([
      ['tony-allen', 'zombie', 5],
      ['fela-kuti', 'water-no-get-enemy', 4],
      ['tony-allen', 'lady', 3],
      ['fela-kuti', 'sorrow', 2],
      ['tony-allen', 'kindness', 2],
      ['fela-kuti', 'zombie', 1],
      ['tony-allen', 'vip', 1],
    ]);
    expect(Date.parse(view[0]!.last_played_at.value)).toBe(Date.parse(`${recent[0]!.timestamp as string}Z`));
  });

  it('gives concurrent viewers one shared answer: one trip to BigQuery, counted in /metrics', async () => {
    const before = await queriesRun(service);
    const answers = await Promise.all(Array.from({ length: 20 }, () => get(service, '?window=6h&limit=7')));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect(new Set(answers.map((a) => a.body.queried_at)).size).toBe(1);
    expect((await queriesRun(service)) - before).toBe(1);
  });

  it.each([
    ['/api/top-songs?window=15', /^window must be a whole number and a unit/],
    ['/api/top-songs?window=1w', /^window must be a whole number and a unit/],
    ['/api/top-songs?window=0s', /^window must be from 1s to 31d/],
    ['/api/top-songs?window=32d', /^window must be from 1s to 31d; got "32d"$/],
    ['/api/artists?window=366d', /^window must be from 1s to 31d; got "366d"$/],
    ['/api/top-songs?limit=0', /^limit must be a whole number from 1 to 100; got "0"$/],
    ['/api/top-songs?limit=ten', /^limit must be a whole number from 1 to 100; got "ten"$/],
    ['/api/top-songs?limit=1&limit=2', /^limit must be given once$/],
    ['/api/top-songs?window=soon&limit=1000', /^window must be .*; limit must be /],
    [
      `/api/top-songs?artist=${'a'.repeat(1025)}`,
      /^artist must be an artist's exact name, 1 to 1024 characters; got 1025/,
    ],
    ['/api/top-songs?artist=', /^artist must be an artist's exact name/],
    ['/api/artists?window=2w', /^window must be a whole number and a unit/],
    ['/api/artists?limit=1001', /^limit must be a whole number from 1 to 1000; got "1001"$/],
    ['/api/plays-over-time?songs=0', /^songs must be a whole number from 1 to 10; got "0"$/],
    ['/api/plays-over-time?songs=11', /^songs must be a whole number from 1 to 10; got "11"$/],
    ['/api/plays-over-time?window=400d', /^window must be from 1s to 31d; got "400d"$/],
    [
      '/api/plays-over-time?window=5x&songs=20&artist=(2000 characters)',
      /^window must be .*; songs must be .*; artist must be .*got 2000 characters$/,
    ],
  ])('answers %s with 400 and says what is wrong', async (path, message) => {
    // Long names are written short in the list, so the test's name stays readable.
    const url = path.replace(/\((\d+) characters\)/, (_, n: string) => 'x'.repeat(Number(n)));
    const { status, body } = await getJson<object>(service, url);
    expect(status).toBe(400);
    expect(body.message).toMatch(message);
  });

  describe('a service of its own, with no table or a small query budget', () => {
    it('answers 503 with the reason while the plays table does not exist', async () => {
      const elsewhere = { ...names, dataset: `${names.dataset}_none` };
      const reader = await Service.start(elsewhere, { ...BIGQUERY_PATH, INGEST_ENABLED: 'false' }, /listening on port/);
      try {
        for (const path of ['/api/top-songs', '/api/artists', '/api/plays-over-time']) {
          const { status, body } = await getJson<object>(reader, path);
          expect(status).toBe(503);
          expect(body.message).toBe(
            `the plays table ${deps.BIGQUERY_PROJECT_ID}.${elsewhere.dataset}.${names.table} does not exist yet`,
          );
        }
      } finally {
        await reader.stop();
      }
    });

    it('asks a query again, once, when its connection is reset (a keep-alive connection the server closed), and answers', async () => {
      // Queries reach BigQuery through a proxy that resets the requests it is told to.
      const proxy = await ResettingProxy.start(new URL(deps.BIGQUERY_API_ENDPOINT), /^POST \S*\/(jobs|queries)\b/);
      const reader = await Service.start(
        names,
        {
          ...BIGQUERY_PATH,
          INGEST_ENABLED: 'false',
          BIGQUERY_API_ENDPOINT: `http://127.0.0.1:${proxy.port}`,
        },
        /listening on port/,
      );
      try {
        const direct = await get(service, '?window=15m&limit=10');
        proxy.arm(1);
        const retried = await get(reader, '?window=15m&limit=10');
        expect(proxy.reset).toBe(1);
        expect(retried.status).toBe(200);
        expect(songsOf(retried.body)).toEqual(songsOf(direct.body));
        expect(await queriesRun(reader)).toBe(1);

        // Reset every time: asked twice, not more, then a 503 that says why, at once.
        proxy.arm(10);
        const started = Date.now();
        const refused = await get(reader, '?window=30m&limit=10');
        expect(refused.status).toBe(503);
        expect(refused.body.message).toBe('BigQuery could not answer the query');
        expect(proxy.reset).toBe(3);
        expect(Date.now() - started).toBeLessThan(10_000);
        // Logged before the answer, but the log comes by another pipe.
        await eventually(
          () => Promise.resolve(reader.log),
          (log) => /top-songs query top_songs_\S+ failed: BigQuery could not answer the query: .*ECONNRESET/.test(log),
          5_000,
        );
      } finally {
        await reader.stop();
        await proxy.stop();
      }
    });

    it('runs at most DASHBOARD_MAX_QUERIES_PER_SECOND queries: distinct questions beyond it get 429 and Retry-After', async () => {
      const reader = await Service.start(
        names,
        {
          ...BIGQUERY_PATH,
          INGEST_ENABLED: 'false',
          DASHBOARD_MAX_QUERIES_PER_SECOND: '2',
          DASHBOARD_MAX_QUERY_WAIT_MS: '0',
        },
        /listening on port/,
      );
      try {
        const before = await queriesRun(reader);
        // A client walking through windows: 10 distinct questions at once, each asked by two viewers.
        const windows = Array.from({ length: 10 }, (_, i) => `${i + 1}m`);
        const answers = await Promise.all(
          [...windows, ...windows].map((window) => getJson<TopSongsAnswer>(reader, `/api/top-songs?window=${window}`)),
        );
        const ok = answers.filter((a) => a.status === 200);
        const refused = answers.filter((a) => a.status === 429);
        // The burst of 2 (whichever windows came first), each shared by both viewers of its window;
        // everything else refused, with a reason.
        const answered = ok.map((a) => a.body.window);
        expect(answered).toHaveLength(4);
        expect(new Set(answered).size).toBe(2);
        for (const window of answered) expect(answered.filter((w) => w === window)).toHaveLength(2);
        expect(refused).toHaveLength(16);
        for (const answer of refused) {
          expect(Number(answer.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
          expect(answer.body.message).toMatch(/^too many distinct questions at once/);
        }
        expect((await queriesRun(reader)) - before).toBe(2);

        // After Retry-After, a refused question is answered: a refusal is not cached.
        await sleep(Number(refused[0]!.headers.get('retry-after')) * 1_000);
        const again = await getJson<TopSongsAnswer>(reader, '/api/top-songs?window=3m');
        expect(again.status).toBe(200);
        expect(again.body.total_plays).toBe(playsSince(recent, again.body.since));
      } finally {
        await reader.stop();
      }
    });

    it('sends each question as one parameterised query that filters on timestamp, with DASHBOARD_MAX_BYTES_BILLED', async () => {
      const reader = await Service.start(
        names,
        { ...BIGQUERY_PATH, INGEST_ENABLED: 'false', DASHBOARD_MAX_BYTES_BILLED: '50000000' },
        /listening on port/,
      );
      const artist = "o'brien\\'; SELECT 1 --";
      try {
        const since = Date.now();
        for (const path of [
          `/api/top-songs?window=2h&artist=${encodeURIComponent(artist)}`,
          '/api/top-songs?window=2h',
          '/api/artists?window=2h',
          `/api/plays-over-time?window=2h&artist=${encodeURIComponent(artist)}`,
          '/api/plays-over-time?window=2h',
        ]) {
          expect((await getJson<object>(reader, path)).status).toBe(200);
        }
        // The jobs as the emulator recorded them: what BigQuery would have been sent.
        const [jobs] = await bigquery.getJobs({ allUsers: true, minCreationTime: String(since) });
        const ours = jobs
          .map((job) => job.metadata as { configuration: { query: QueryConfiguration } })
          .map((metadata) => metadata.configuration.query)
          .filter((query) => query.query.includes(`.${names.dataset}.${names.table}\``));
        expect(ours).toHaveLength(5);
        for (const query of ours) {
          expect(query.maximumBytesBilled).toBe('50000000');
          expect(query.query).toMatch(/WHERE timestamp >= @since/);
          expect(query.query).not.toContain('brien');
          expect(query.queryParameters?.map((p) => p.name)).toContain('since');
        }
        const artistValues = ours.flatMap((q) => q.queryParameters ?? []).filter((p) => p.name === 'artist');
        expect(artistValues.map((p) => p.parameterValue.value)).toEqual([artist, artist]);
      } finally {
        await reader.stop();
      }
    });

    it('with a wait allowed, makes distinct questions wait their turn instead of refusing them', async () => {
      const reader = await Service.start(
        names,
        {
          ...BIGQUERY_PATH,
          INGEST_ENABLED: 'false',
          DASHBOARD_MAX_QUERIES_PER_SECOND: '4',
          DASHBOARD_MAX_QUERY_WAIT_MS: '5000',
        },
        /listening on port/,
      );
      try {
        const started = Date.now();
        const answers = await Promise.all(
          Array.from({ length: 12 }, (_, i) => getJson<TopSongsAnswer>(reader, `/api/top-songs?window=${i + 1}h`)),
        );
        expect(answers.map((a) => a.status)).toEqual(new Array(12).fill(200));
        // 4 at once, then 8 more at 4 a second: the last starts about 2 s after the first.
        const askedAt = answers.map((a) => Date.parse(a.body.queried_at)).sort((a, b) => a - b);
        expect(askedAt.at(-1)! - askedAt[0]!).toBeGreaterThanOrEqual(1_900);
        expect(Date.now() - started).toBeLessThan(10_000);
      } finally {
        await reader.stop();
      }
    });
  });

  it('in headless Chromium: picks an artist, shows only its songs and a series per top song over time, and keeps the choice in the URL', async () => {
    // Reduced motion: the page then draws bars at their lengths at once, with no animation to wait out.
    const page = await browser!.newPage({ viewport: { width: 1000, height: 900 }, reducedMotion: 'reduce' });
    const problems: string[] = [];
    // The live view is off here: the page's one try of /api/live is a 404 (then it polls), not a problem.
    const expected = (message: ConsoleMessage) => new URL(message.location().url, 'http://x').pathname === '/api/live';
    page.on(
      'console',
      // With the request's URL: Chromium's text names only the status.
      (message) =>
        void (
          message.type() === 'error' &&
          !expected(message) &&
          problems.push(`${message.text()} (${message.location().url})`)
        ),
    );
    page.on('pageerror', (error) => problems.push(error.message));
    // A reload or a new address aborts the page's polls in flight (ERR_ABORTED): that is the test
    // navigating, not a failure of the page.
    page.on('requestfailed', (request) => {
      const error = request.failure()?.errorText;
      if (error !== 'net::ERR_ABORTED') problems.push(`${request.url()}: ${error}`);
    });

    await page.goto(`http://127.0.0.1:${service.port}/dashboard`);
    await page.waitForSelector('body[data-state="loaded"][data-artists="loaded"]');
    const bars = () =>
      page.evaluate(() => {
        const chart = Chart.getChart('chart')!;
        return {
          labels: chart.data.labels as string[],
          plays: chart.data.datasets[0]!.data as number[],
          widths: chart.getDatasetMeta(0).data.map((bar) => {
            const { x, base } = bar.getProps(['x', 'base'], true) as { x: number; base: number };
            return x - base;
          }),
        };
      });
    const lines = () =>
      page.evaluate(() => {
        const chart = Chart.getChart('over-time')!;
        return {
          buckets: (chart.data.labels as string[]).length,
          series: chart.data.datasets.map((dataset, i) => ({
            song: dataset.label!,
            total: (dataset.data as number[]).reduce((a, b) => a + b, 0),
            colour: dataset.backgroundColor as string,
            // Drawn: a bar on the canvas for every bucket (of height 0 where there is no play).
            drawn: chart.getDatasetMeta(i).data.filter((point) => Number.isFinite(point.x) && Number.isFinite(point.y))
              .length,
          })),
        };
      });

    // Every artist at first: both artists' songs.
    const all = await eventually(bars, (c) => c.labels.length === 5, 10_000);
    expect(all.labels).toEqual(['zombie', 'water-no-get-enemy', 'lady', 'kindness', 'sorrow']);
    expect(await page.textContent('#total-plays')).toBe('17');
    expect(await page.locator('#artist option').allTextContents()).toEqual(['All artists', 'tony-allen', 'fela-kuti']);

    // Pick the second artist: only its songs, in proportion, and its top songs over time.
    await page.selectOption('#artist', 'fela-kuti');
    expect(new URL(page.url()).searchParams.get('artist')).toBe('fela-kuti');
    const fela = await eventually(bars, (c) => c.labels.length === 3, 10_000);
    expect(fela.labels).toEqual(['water-no-get-enemy', 'sorrow', 'zombie']);
    expect(fela.plays).toEqual([4, 2, 1]);
    expect(fela.widths.every((width) => width > 0)).toBe(true);
    expect(fela.widths[0]! / fela.widths[2]!).toBeCloseTo(4, 1);
    expect(await page.textContent('#total-plays')).toBe('7');
    expect(await page.locator('#songs tbody tr').count()).toBe(3);

    const overTime = await eventually(lines, (c) => c.series.length === 3, 10_000);
    expect(overTime.series.map((s) => [s.song, s.total])).toEqual([
      ['water-no-get-enemy', 4],
      ['sorrow', 2],
      ['zombie', 1],
    ]);
    expect(overTime.buckets).toBeGreaterThanOrEqual(16); // 15 minutes in 1-minute buckets, from a whole minute
    for (const series of overTime.series) expect(series.drawn).toBe(overTime.buckets);
    expect(new Set(overTime.series.map((s) => s.colour)).size).toBe(3);
    // The table beside it: a column per song, a row per bucket, the same plays.
    expect(await page.locator('#over-time-table thead th').allTextContents()).toEqual([
      'Bucket starting',
      'water-no-get-enemy',
      'sorrow',
      'zombie',
    ]);
    expect(await page.locator('#over-time-table tbody tr').count()).toBe(overTime.buckets);
    const tableTotals = await page.evaluate(() =>
      [1, 2, 3].map((column) =>
        [...document.querySelectorAll('#over-time-table tbody tr')].reduce(
          (sum, row) => sum + Number(row.children[column]!.textContent),
          0,
        ),
      ),
    );
    expect(tableTotals).toEqual([4, 2, 1]);
    expect(await page.textContent('#over-time-note')).toMatch(/^Top 5 songs, plays per 1-minute bucket/);

    // It updates by itself: a new play of the artist shows up in both charts without a reload.
    await produce(names.topic, [
      { value: JSON.stringify(play(0, { artist: 'fela-kuti', song_id: 7, song_name: 'shakara' })) },
    ]);
    const updated = await eventually(bars, (c) => c.labels.includes('shakara'), 30_000);
    expect(updated.plays[updated.labels.indexOf('shakara')]).toBe(1);
    expect(await page.textContent('#total-plays')).toBe('8');
    expect(await page.textContent('#freshness')).toMatch(/^\d+(\.\d)? s$/);
    const withShakara = await eventually(lines, (c) => c.series.length === 4, 10_000);
    expect(withShakara.series.find((s) => s.song === 'shakara')?.total).toBe(1);

    fs.mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: path.join(artifacts, 'dashboard.png'), fullPage: true });

    // A reload from the URL shows the same artist.
    await page.reload();
    // Both loads done, so leaving the page below aborts none of its requests.
    await page.waitForSelector('body[data-state="loaded"][data-artists="loaded"]');
    expect(await page.inputValue('#artist')).toBe('fela-kuti');
    expect(await page.textContent('h1')).toBe('Top songs of fela-kuti');
    const reloaded = await eventually(bars, (c) => c.labels.length === 4, 10_000);
    expect(reloaded.labels).toEqual(['water-no-get-enemy', 'sorrow', 'shakara', 'zombie']);
    expect(await page.getAttribute('#json', 'href')).toContain('artist=fela-kuti');

    // A link to an artist the list does not have (no plays in the window) shows it, empty, not an error.
    await page.goto(`http://127.0.0.1:${service.port}/dashboard?artist=${encodeURIComponent('nobody here')}&window=5m`);
    await page.waitForSelector('body[data-state="loaded"]');
    expect(await page.inputValue('#artist')).toBe('nobody here');
    expect(await page.textContent('#status')).toBe('No plays of nobody here in the last 5 minutes yet.');
    expect((await bars()).labels).toEqual([]);
    expect(problems).toEqual([]);
  });
});
