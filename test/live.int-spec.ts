import fs from 'node:fs';
import path from 'node:path';
import type { ArtistsAnswer, PlaysOverTimeAnswer, TopSongsAnswer } from '../src/top-songs/top-songs.service.js';
import { metricsOf, probe, sample } from './support/probes.js';
import {
  committedTotal,
  countRows,
  distinctPlays,
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

// The live view (LIVE_ENABLED) against the real broker and emulator, the service as processes: its
// answers must equal the same questions asked of the BigQuery table, whatever crashed on the way.

const admin = useAdmin();
const LIVE = { LIVE_ENABLED: 'true' };
const ARTISTS = ['tony-allen', 'fela-kuti', 'ebo-taylor'];
// Names BigQuery orders by UTF-8 bytes: an astral one and one from U+E000 on, whose order JS's < flips.
const SONGS = ['zombie', 'lady', 'água', '𝄞 clef', '\uE000 private', 'kindness', 'Zombie', 'vip', 'sorrow', 'asiko'];

/**
 * `total` messages: plays of three artists and ten songs over the last 50 minutes, unevenly (so the
 * order is decided by counts and by names), and every 97th a message that is no play (dead-lettered).
 */
function messages(total: number, from = 0) {
  return Array.from({ length: total }, (_, n) => {
    const i = from + n;
    if (i % 97 === 0) return { key: `bad-${i}`, value: `{"artist": "tony-allen", "song_name": ` };
    const song = SONGS[(i * i) % 7 === 0 ? 3 : i % SONGS.length]!;
    const value = play(i, {
      artist: ARTISTS[i % 3 === 0 ? 0 : (i >> 2) % 3],
      song_id: SONGS.indexOf(song),
      song_name: song,
      timestamp: ago((i * 7_919) % 3_000_000),
    });
    return { key: `p-${i}`, value: JSON.stringify(value) };
  });
}

async function ask<T>(service: Service, route: string): Promise<T> {
  const response = await fetch(`http://127.0.0.1:${service.port}${route}`, { signal: AbortSignal.timeout(10_000) });
  if (!response.ok) throw new Error(`${route}: ${response.status} ${await response.text()}`);
  return (await response.json()) as T;
}

const micros = (iso: string) => Date.parse(iso) * 1_000;

/** COUNT(*) per song of the table since `since` (of `artist`): BigQuery's own answer. */
async function tableTopSongs(names: Names, since: string, artist?: string) {
  const rows = await queryRows<{ song_name: string; n: number }>(
    names,
    `SELECT song_name, COUNT(*) AS n FROM $table WHERE UNIX_MICROS(timestamp) >= ${micros(since)}${
      artist === undefined ? '' : ` AND artist = '${artist}'`
    } GROUP BY song_name`,
  );
  return Object.fromEntries(rows.map((r) => [r.song_name, Number(r.n)]));
}

async function tableArtists(names: Names, since: string) {
  const rows = await queryRows<{ artist: string; n: number }>(
    names,
    `SELECT artist, COUNT(*) AS n FROM $table WHERE UNIX_MICROS(timestamp) >= ${micros(since)} GROUP BY artist`,
  );
  return Object.fromEntries(rows.map((r) => [r.artist, Number(r.n)]));
}

/** Plays per (song, bucket) from the table's rows, bucketed here. */
async function tableBuckets(names: Names, answer: PlaysOverTimeAnswer) {
  const since = Date.parse(answer.since);
  const until = Date.parse(answer.until);
  const rows = await queryRows<{ song_name: string; us: number }>(
    names,
    `SELECT song_name, UNIX_MICROS(timestamp) AS us FROM $table${
      answer.artist === null ? '' : ` WHERE artist = '${answer.artist}'`
    }`,
  );
  const perSong: Record<string, number[]> = {};
  for (const row of rows) {
    const ms = Math.floor(Number(row.us) / 1_000);
    if (ms < since || ms >= until) continue;
    (perSong[row.song_name] ??= new Array<number>(answer.buckets.length).fill(0))[
      Math.floor((ms - since) / (answer.bucket_seconds * 1_000))
    ]!++;
  }
  return perSong;
}

/** Every live answer of `service` equals the table's, for every artist, for one and the same since. */
async function expectLiveEqualsTable(service: Service, names: Names): Promise<void> {
  for (const artist of [undefined, ...ARTISTS]) {
    const query = artist === undefined ? '' : `&artist=${artist}`;
    const top = await ask<TopSongsAnswer>(service, `/api/top-songs?window=1h&limit=100${query}`);
    expect(top.source).toBe('live');
    const live = Object.fromEntries(top.songs.map((s) => [s.song_name, s.total_plays]));
    expect(live, `top songs of ${artist ?? 'every artist'}`).toEqual(await tableTopSongs(names, top.since, artist));
    expect(top.total_plays).toBe(Object.values(live).reduce((a, b) => a + b, 0));

    const overTime = await ask<PlaysOverTimeAnswer>(service, `/api/plays-over-time?window=1h&songs=10${query}`);
    expect(overTime.source).toBe('live');
    const buckets = await tableBuckets(names, overTime);
    expect(Object.fromEntries(overTime.series.map((s) => [s.song_name, s.plays])), 'plays over time').toEqual(buckets);
    // Most played first, ties in BigQuery's (UTF-8 byte) order of names.
    const order = Object.entries(buckets)
      .map(([name, plays]) => [name, plays.reduce((a, b) => a + b, 0)] as const)
      .sort(([a, x], [b, y]) => y - x || Buffer.compare(Buffer.from(a), Buffer.from(b)))
      .map(([name]) => name);
    expect(overTime.series.map((s) => s.song_name)).toEqual(order);
  }
  const artists = await ask<ArtistsAnswer>(service, '/api/artists?window=1h&limit=10');
  expect(artists.source).toBe('live');
  expect(Object.fromEntries(artists.artists.map((a) => [a.artist, a.total_plays]))).toEqual(
    await tableArtists(names, artists.since),
  );
}

/** Polls until every answer is equal (deltas travel after the rows land), then checks once more. */
async function liveEqualsTable(service: Service, names: Names): Promise<void> {
  await eventually(
    () =>
      expectLiveEqualsTable(service, names).then(
        () => true,
        () => false,
      ),
    Boolean,
    30_000,
  ).catch(() => undefined);
  await expectLiveEqualsTable(service, names);
}

const queriesOf = async (service: Service) =>
  sample(await metricsOf(service), 'top_songs_query_duration_seconds_count');

describe('the live view (real broker, real emulator, the service as processes)', () => {
  const services: Service[] = [];
  const start = async (names: Names, env: Record<string, string> = LIVE) => {
    const service = await Service.start(names, env);
    services.push(service);
    return service;
  };
  afterEach(async ({ task }) => {
    await Promise.all(services.map((s) => s.stop('SIGKILL')));
    if (task.result?.state === 'fail') {
      const dir = path.resolve(import.meta.dirname, '../test-artifacts/live');
      fs.mkdirSync(dir, { recursive: true });
      const slug = task.name.replace(/[^a-z0-9]+/gi, '-').slice(0, 60);
      for (const [i, service] of services.entries()) fs.writeFileSync(path.join(dir, `${slug}.${i}.log`), service.log);
    }
    services.length = 0;
  });

  it('3 replicas, one SIGKILLed mid-stream and replaced: every replica answers top songs, artists and plays over time from memory, equal to the table, with no BigQuery query', async () => {
    const names = await setUpTopics(admin, 6);
    const total = 12_000;
    const replicas = [await start(names), await start(names), await start(names)];
    const produced = produce(names.topic, messages(total), 500);
    await eventually(
      () => countRows(names),
      (n) => n >= 3_000,
      90_000,
    );
    expect(await replicas[1]!.stop('SIGKILL')).toBe('SIGKILL');
    // Its replacement rebuilds from the topic while the others write on.
    replicas[1] = await start(names);
    await produced;
    const valid = messages(total).filter((m) => m.key.startsWith('p-')).length;
    await eventually(
      () => distinctPlays(names),
      (n) => n === valid,
      150_000,
    );
    await eventually(
      () => committedTotal(admin, names),
      (n) => n === total,
      60_000,
    );
    // Exactly once: the equality below is with COUNT(*), so no row may be there twice.
    expect(await countRows(names)).toBe(valid);

    for (const replica of replicas) {
      expect((await probe(replica, '/health/ready')).body.info?.live_view?.status).toBe('up');
      await liveEqualsTable(replica, names);
    }

    // A dashboard open on every replica, asking every 2 s: nothing of it reaches BigQuery.
    const before = await Promise.all(replicas.map(queriesOf));
    for (let round = 0; round < 10; round++) {
      for (const replica of replicas) {
        await ask(replica, '/api/top-songs?window=15m&limit=10');
        await ask(replica, '/api/artists?window=15m&limit=10');
        await ask(replica, '/api/plays-over-time?window=15m&songs=5&artist=fela-kuti');
      }
      await sleep(2_000);
    }
    expect(await Promise.all(replicas.map(queriesOf))).toEqual(before);
  }, 420_000);

  it('pushes a new play over /api/live: an SSE client sees it within a second; SIGTERM with viewers connected ends their streams and exits 0', async () => {
    const names = await setUpTopics(admin, 1);
    const service = await start(names);
    await eventually(
      () => probe(service, '/health/ready'),
      (r) => r.status === 200,
      30_000,
    );
    const response = await fetch(`http://127.0.0.1:${service.port}/api/live`);
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    const events: { plays: number; at: number }[] = [];
    const ended = (async () => {
      let text = '';
      for (;;) {
        const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
        if (done) return 'ended';
        text += value;
        let end;
        while ((end = text.indexOf('\n\n')) >= 0) {
          const data = /^data: (.*)$/m.exec(text.slice(0, end))?.[1];
          text = text.slice(end + 2);
          if (data !== undefined) events.push({ plays: (JSON.parse(data) as { plays: number }).plays, at: Date.now() });
        }
      }
    })();
    // The current state at once.
    await eventually(
      () => Promise.resolve(events.length),
      (n) => n >= 1,
      5_000,
    );
    const latencies: number[] = [];
    for (let i = 1; i <= 5; i++) {
      const sent = Date.now();
      await produce(names.topic, [{ key: `p-${i}`, value: JSON.stringify(play(i, { timestamp: ago(0) })) }]);
      const seen = await eventually(
        () => Promise.resolve(events.find((e) => e.plays >= i)),
        (e) => e !== undefined,
        10_000,
      );
      latencies.push(seen!.at - sent);
    }
    latencies.sort((a, b) => a - b);
    console.log(`live: produce to SSE event, ms: ${latencies.join(', ')}`);
    // The median: one slow round on a busy machine is not the path's speed (the bench measures p99).
    expect(latencies[2]).toBeLessThan(1_000);
    // Its own deltas are counted when acknowledged: owning the one source partition, its reader stops
    // fetching the live partition that takes its deltas once read to its end.
    const ready = await eventually(
      () => probe(service, '/health/ready'),
      (r) => (r.body.info?.live_view?.own_partitions_not_fetched as number[] | undefined)?.length === 1,
      10_000,
    );
    expect(ready.body.info?.live_view?.own_partitions_not_fetched).toEqual([0]);

    // An open stream must not hold the shutdown: the HTTP server waits for its connections.
    const second = await fetch(`http://127.0.0.1:${service.port}/api/live`);
    const timeout = <T>(ms: number, value: T) => new Promise<T>((resolve) => setTimeout(() => resolve(value), ms));
    expect(await Promise.race([service.stop('SIGTERM'), timeout(20_000, 'still running 20 s after SIGTERM')])).toBe(0);
    expect(await Promise.race([ended, timeout(5_000, 'stream still open')])).toBe('ended');
    await second.body!.cancel();
  }, 120_000);

  it('a delta larger than the live topic takes (max.message.bytes) is published in halves: every play counted, every offset committed', async () => {
    const names = await setUpTopics(admin, 1);
    // The operator's topic, made small: a batch of plays of distinct songs makes a delta far larger.
    await admin.createTopics({
      waitForLeaders: true,
      topics: [
        {
          topic: `${names.topic}.live`,
          numPartitions: 1,
          configEntries: [{ name: 'max.message.bytes', value: '2000' }],
        },
      ],
    });
    const total = 1_500;
    const distinct = Array.from({ length: total }, (_, i) => ({
      key: `p-${i}`,
      value: JSON.stringify(
        play(i, { song_id: i, song_name: `song ${i} ${Math.random().toString(36)}`, timestamp: ago(i * 1_000) }),
      ),
    }));
    await produce(names.topic, distinct);
    const service = await start(names);
    await eventually(
      () => committedTotal(admin, names),
      (n) => n === total,
      120_000,
    );
    expect(await countRows(names)).toBe(total);
    expect(service.log).toMatch(/is too large for .*; publishing it in halves/);
    const top = await eventually(
      () => ask<TopSongsAnswer>(service, '/api/top-songs?window=1h&limit=100'),
      (answer) => answer.source === 'live' && answer.total_plays === total,
      30_000,
    );
    expect(top.songs.every((song) => song.total_plays === 1)).toBe(true);
  }, 180_000);

  it('turned on in a running deployment: rows written before have no delta, so windows reaching back to them are asked of BigQuery', async () => {
    const names = await setUpTopics(admin, 2);
    const before = await start(names, { LIVE_ENABLED: 'false' });
    await produce(names.topic, messages(300));
    await eventually(
      () => committedTotal(admin, names),
      (n) => n === 300,
      60_000,
    );
    await before.stop('SIGTERM');
    const live = await start(names);
    await produce(names.topic, messages(50, 300));
    await eventually(
      () => committedTotal(admin, names),
      (n) => n === 350,
      60_000,
    );
    await eventually(
      () => probe(live, '/health/ready'),
      (r) => r.status === 200,
      30_000,
    );
    const answer = await ask<TopSongsAnswer>(live, '/api/top-songs?window=1h&limit=100');
    expect(answer.source).toBe('bigquery');
    expect(answer.total_plays).toBe(await countRows(names));
    expect(live.log).toMatch(/some committed offsets have no delta/);
  }, 180_000);
});
