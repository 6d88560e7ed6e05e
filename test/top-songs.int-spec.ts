import fs from 'node:fs';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import type { TopSongsAnswer } from '../src/top-songs/top-songs.service.js';
import { launchChromium } from './support/chromium.js';
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
} from './support/service.js';

// The dashboard page's global: the Chart.js build it loads.
declare const Chart: typeof import('chart.js').Chart;

const admin = useAdmin();
const artifacts = path.resolve(import.meta.dirname, '../test-artifacts');

/** The original timestamp form, `ms` ago. */
const ago = (ms: number) => new Date(Date.now() - ms).toISOString().slice(0, 19).replace('T', ' ');

// Within the last 15 minutes: zombie 5, lady 3, kindness 2; two hours ago: vip once.
const recent = [
  ...Array.from({ length: 5 }, (_, i) => play(i, { song_id: 0, song_name: 'zombie', timestamp: ago(60_000 + i) })),
  ...Array.from({ length: 3 }, (_, i) => play(i, { song_id: 1, song_name: 'lady', timestamp: ago(120_000 + i) })),
  play(0, { song_id: 3, song_name: 'kindness', timestamp: ago(30_000), event_id: 'kindness-1' }),
  play(1, { song_id: 3, song_name: 'kindness', timestamp: ago(10_000), event_id: 'kindness-2' }),
];
const old = play(0, { song_id: 9, song_name: 'vip', timestamp: ago(2 * 3_600_000) });
const newest = recent.map((p) => Date.parse(`${p.timestamp as string}Z`)).reduce((a, b) => Math.max(a, b));

async function get(
  service: Service,
  query: string,
): Promise<{ status: number; body: TopSongsAnswer & { message?: string } }> {
  const response = await fetch(`http://127.0.0.1:${service.port}/api/top-songs${query}`);
  return { status: response.status, body: (await response.json()) as TopSongsAnswer & { message?: string } };
}

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
    service = await Service.start(names);
    await drained(admin, names, plays.length);
  });

  afterAll(async () => {
    await browser?.close();
    await service?.stop();
  });

  it('answers plays per song over the window, most played first, with the total and the newest play', async () => {
    const { status, body } = await get(service, '?window=15m&limit=10');
    expect(status).toBe(200);
    expect(body.songs.map((s) => [s.song_name, s.total_plays])).toEqual([
      ['zombie', 5],
      ['lady', 3],
      ['kindness', 2],
    ]);
    expect(body).toMatchObject({
      table: `${deps.BIGQUERY_PROJECT_ID}.${names.dataset}.${names.table}`,
      window: '15m',
      window_seconds: 900,
      limit: 10,
      total_plays: 10,
    });
    expect(Date.parse(body.newest_play_at!)).toBe(newest);
    expect(Date.parse(body.queried_at) - Date.parse(body.since)).toBe(900_000);

    // A wider window takes in the old play; a limit lists fewer songs but still counts every play.
    const day = await get(service, '?window=24h');
    expect(day.body.songs.map((s) => [s.song_name, s.total_plays])).toContainEqual(['vip', 1]);
    expect(day.body.total_plays).toBe(11);
    const top2 = await get(service, '?window=24h&limit=2');
    expect(top2.body.songs.map((s) => s.song_name)).toEqual(['zombie', 'lady']);
    expect(top2.body.total_plays).toBe(11);
    // No play in the last 5 seconds: an empty list, not an error.
    const none = await get(service, '?window=5s');
    expect(none.body).toMatchObject({ songs: [], total_plays: 0, newest_play_at: null });
  });

  it('counts each play once when a row was written twice (past insertId de-duplication)', async () => {
    // What a redelivery outside BigQuery's one-minute de-duplication window leaves: the same play in two
    // rows with different insertIds. Once by event_id, once by topic/partition/offset (no event_id).
    const [rows] = await bigquery.query({
      query: `SELECT * FROM \`${deps.BIGQUERY_PROJECT_ID}.${names.dataset}.${names.table}\` WHERE song_name IN ('kindness', 'zombie')`,
    });
    const kindness = (rows as Record<string, unknown>[]).find((row) => row.event_id === 'kindness-1')!;
    const zombie = (rows as Record<string, unknown>[]).find((row) => row.song_name === 'zombie')!;
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
    expect(n).toBe(13);

    await sleep(1_500); // past the answer cache (DASHBOARD_CACHE_MS, 1 s)
    const { body } = await get(service, '?window=15m');
    expect(body.songs.map((s) => [s.song_name, s.total_plays])).toEqual([
      ['zombie', 5],
      ['lady', 3],
      ['kindness', 2],
    ]);
    expect(body.total_plays).toBe(10);

    // The view Looker Studio reads, all time, counts the same way.
    const view = await queryRows<{ song_name: string; total_plays: number; last_played_at: { value: string } }>(
      { ...names, table: `${names.table}_top_songs` },
      'SELECT song_name, total_plays, last_played_at FROM $table ORDER BY total_plays DESC, song_name',
    );
    expect(view.map((row) => [row.song_name, row.total_plays])).toEqual([
      ['zombie', 5],
      ['lady', 3],
      ['kindness', 2],
      ['vip', 1],
    ]);
    expect(Date.parse(view[0]!.last_played_at.value)).toBe(Date.parse(`${recent[0]!.timestamp as string}Z`));
  });

  it('gives concurrent viewers one shared answer: one trip to BigQuery, counted in /metrics', async () => {
    const asked = async () => {
      const metrics = await (await fetch(`http://127.0.0.1:${service.port}/metrics`)).text();
      return Number(/^top_songs_query_duration_seconds_count\{outcome="ok"\} (\d+)$/m.exec(metrics)?.[1] ?? 0);
    };
    const before = await asked();
    const answers = await Promise.all(Array.from({ length: 20 }, () => get(service, '?window=6h&limit=7')));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect(new Set(answers.map((a) => a.body.queried_at)).size).toBe(1);
    expect((await asked()) - before).toBe(1);
  });

  it.each([
    ['?window=15', /^window must be a whole number and a unit/],
    ['?window=1w', /^window must be a whole number and a unit/],
    ['?window=0s', /^window must be from 1s to 366d/],
    ['?window=400d', /^window must be from 1s to 366d/],
    ['?limit=0', /^limit must be a whole number from 1 to 100; got "0"$/],
    ['?limit=ten', /^limit must be a whole number from 1 to 100; got "ten"$/],
    ['?limit=1&limit=2', /^limit must be given once$/],
    ['?window=soon&limit=1000', /^window must be .*; limit must be /],
  ])('answers %s with 400 and says what is wrong', async (query, message) => {
    const { status, body } = await get(service, query);
    expect(status).toBe(400);
    expect(body.message).toMatch(message);
  });

  it('answers 503 with the reason while the plays table does not exist', async () => {
    const elsewhere = { ...names, dataset: `${names.dataset}_none` };
    const reader = await Service.start(elsewhere, { INGEST_ENABLED: 'false' }, /listening on port/);
    try {
      const { status, body } = await get(reader, '');
      expect(status).toBe(503);
      expect(body.message).toBe(
        `the plays table ${deps.BIGQUERY_PROJECT_ID}.${elsewhere.dataset}.${names.table} does not exist yet`,
      );
    } finally {
      await reader.stop();
    }
  });

  it('shows a live bar chart with a bar per song played, in headless Chromium', async () => {
    // Reduced motion: the page then draws bars at their lengths at once, with no animation to wait out.
    const page = await browser!.newPage({ viewport: { width: 1000, height: 900 }, reducedMotion: 'reduce' });
    const problems: string[] = [];
    page.on('console', (message) => void (message.type() === 'error' && problems.push(message.text())));
    page.on('pageerror', (error) => problems.push(error.message));
    page.on('requestfailed', (request) => problems.push(`${request.url()}: ${request.failure()?.errorText}`));

    await page.goto(`http://127.0.0.1:${service.port}/dashboard`);
    await page.waitForSelector('body[data-state="loaded"]');
    const chart = () =>
      page.evaluate(() => {
        const bars = Chart.getChart('chart')!;
        return {
          labels: bars.data.labels as string[],
          plays: bars.data.datasets[0]!.data as number[],
          widths: bars.getDatasetMeta(0).data.map((bar) => {
            const { x, base } = bar.getProps(['x', 'base'], true) as { x: number; base: number };
            return x - base;
          }),
        };
      });
    const shown = await eventually(chart, (c) => c.labels.length === 3, 10_000);
    expect(shown.labels).toEqual(['zombie', 'lady', 'kindness']);
    expect(shown.plays).toEqual([5, 3, 2]);
    // Drawn, and in proportion: zombie's bar is 5/2 of kindness's.
    expect(shown.widths.every((width) => width > 0)).toBe(true);
    expect(shown.widths[0]! / shown.widths[2]!).toBeCloseTo(2.5, 1);
    expect(await page.textContent('#total-plays')).toBe('10');
    expect(await page.textContent('#freshness')).toMatch(/^\d+(\.\d)? (s|min)$/);
    expect(await page.locator('#songs tbody tr').count()).toBe(3);

    // It updates by itself: a new play shows up without a reload.
    await produce(names.topic, [{ value: JSON.stringify(play(0, { song_id: 5, song_name: 'asiko' })) }]);
    const updated = await eventually(chart, (c) => c.labels.includes('asiko'), 30_000);
    expect(updated.plays[updated.labels.indexOf('asiko')]).toBe(1);
    expect(await page.textContent('#total-plays')).toBe('11');
    expect(await page.textContent('#freshness')).toMatch(/^\d+(\.\d)? s$/);

    fs.mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: path.join(artifacts, 'dashboard.png'), fullPage: true });
    expect(problems).toEqual([]);
  });
});
