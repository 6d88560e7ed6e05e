import { ORIGINAL_SONGS } from '../src/plays/play.js';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Admin } from 'kafkajs';
import { startDep, stopDep } from './support/deps.js';
import {
  countRows,
  deps,
  eventually,
  queryRows,
  readTopic,
  Service,
  setUpTopics,
  sleep,
  useAdmin,
  type Names,
} from './support/service.js';

const admin = useAdmin();

const PLAY_KEYS = ['user_id', 'artist', 'song_id', 'song_name', 'event_type', 'timestamp', 'event_id'];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

// A simulator-only deployment has no consumer to join a group: it is ready once the simulator says so.
const SIMULATOR_ON = /simulator on: \d+ play/;

/** Messages in a topic so far: the sum of its partitions' end offsets. */
async function endOffsets(admin: Admin, topic: string): Promise<number> {
  const partitions = await admin.fetchTopicOffsets(topic);
  return partitions.reduce((sum, partition) => sum + Number(partition.high), 0);
}

async function plays(names: Names, count: number): Promise<Record<string, unknown>[]> {
  const messages = await readTopic(names.topic, count);
  return messages.map((message) => JSON.parse(message.value!.toString('utf8')) as Record<string, unknown>);
}

/** The original Python producer's payload, exactly (its keys in its order), plus event_id. */
function expectOriginalShape(play: Record<string, unknown>): void {
  expect(Object.keys(play)).toEqual(PLAY_KEYS);
  expect(Number.isInteger(play.user_id)).toBe(true);
  expect(play.user_id).toBeGreaterThanOrEqual(20_000);
  expect(play.user_id).toBeLessThanOrEqual(100_000);
  expect(play.artist).toBe('tony-allen');
  expect(Number.isInteger(play.song_id)).toBe(true);
  expect(play.song_name).toBe(ORIGINAL_SONGS[play.song_id as number]);
  expect(play.event_type).toBe('song_completed');
  expect(play.timestamp).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/);
  expect(play.event_id).toMatch(UUID);
}

// The broker-restart test stops and starts Kafka: the tests' own instance when they manage it, or the
// deps:up folder PLAYS_TEST_DEPS_DIR names when KAFKA_BROKERS points at that developer's instance.
const depsDir = process.env.PLAYS_TEST_DEPS_DIR;
const canRestartKafka = deps.managed || depsDir !== undefined;
const run = promisify(execFile);

async function kafkaBroker(action: 'stop' | 'start'): Promise<void> {
  if (deps.managed || depsDir === undefined) {
    await (action === 'stop' ? stopDep('kafka') : startDep('kafka'));
    return;
  }
  const script = path.resolve(import.meta.dirname, '../scripts/deps.mjs');
  await run(process.execPath, ['--disable-warning=TimeoutNegativeWarning', script, action, 'kafka', '--dir', depsDir]);
}

describe('simulator (real broker, real emulator, the service as a process)', () => {
  let service: Service | undefined;
  afterEach(async () => {
    await service?.stop('SIGKILL');
    service = undefined;
  });

  it('enabled: produces the original payload plus event_id, and the ingest writes them as rows', async () => {
    const names = await setUpTopics(admin);
    service = await Service.start(names, {
      SIMULATOR_ENABLED: 'true',
      SIMULATOR_INTERVAL_MS: '200',
      SIMULATOR_EVENTS_PER_TICK: '5',
      SIMULATOR_MAX_EVENTS: '20',
    });
    expect(service.log).toMatch(/simulator on: 5 play\(s\) every 200 ms to plays-\w+, 20 in all/);

    const produced = await plays(names, 20);
    produced.forEach(expectOriginalShape);
    const eventIds = produced.map((play) => play.event_id as string);
    expect(new Set(eventIds).size).toBe(20);
    await service.waitForLog(/simulator done: 20 play\(s\) produced/, 10_000);

    await eventually(
      () => countRows(names),
      (n) => n === 20,
      30_000,
    );
    const rows = await queryRows<{ event_id: string; user_id: number; song_name: string; artist: string }>(
      names,
      'SELECT event_id, user_id, song_name, artist FROM $table',
    );
    expect(rows.map((row) => row.event_id).sort()).toEqual([...eventIds].sort());
    const byId = new Map(produced.map((play) => [play.event_id, play]));
    for (const row of rows) {
      expect(row).toMatchObject({
        user_id: byId.get(row.event_id)?.user_id,
        song_name: byId.get(row.event_id)?.song_name,
        artist: 'tony-allen',
      });
    }
    // Nothing more after SIMULATOR_MAX_EVENTS.
    await sleep(1_000);
    expect(await endOffsets(admin, names.topic)).toBe(20);
  });

  it('with SIMULATOR_CATALOG, plays several artists, each with its own songs, and the API tells them apart', async () => {
    const catalog = { 'tony-allen': ORIGINAL_SONGS, 'fela-kuti': ['water-no-get-enemy', 'sorrow', 'zombie'] };
    const names = await setUpTopics(admin);
    service = await Service.start(names, {
      SIMULATOR_ENABLED: 'true',
      SIMULATOR_INTERVAL_MS: '100',
      SIMULATOR_EVENTS_PER_TICK: '20',
      SIMULATOR_MAX_EVENTS: '200',
      SIMULATOR_SEED: '16',
      SIMULATOR_CATALOG: JSON.stringify(catalog),
    });
    const produced = await plays(names, 200);
    for (const play of produced) {
      const songs = catalog[play.artist as keyof typeof catalog];
      expect(songs, `artist ${String(play.artist)}`).toBeDefined();
      expect(play.song_name).toBe(songs[play.song_id as number]);
    }
    const count = (artist: string) => produced.filter((play) => play.artist === artist).length;
    // Skewed by order: the first artist about two thirds of the plays.
    expect(count('tony-allen')).toBeGreaterThan(count('fela-kuti'));
    expect(count('fela-kuti')).toBeGreaterThan(0);

    await eventually(
      () => countRows(names),
      (n) => n === 200,
      30_000,
    );
    const api = async <T>(path: string) =>
      (await (await fetch(`http://127.0.0.1:${service!.port}${path}`)).json()) as T;
    const artists = await api<{ artists: { artist: string; total_plays: number }[] }>('/api/artists?window=1h');
    expect(artists.artists).toEqual([
      expect.objectContaining({ artist: 'tony-allen', total_plays: count('tony-allen') }),
      expect.objectContaining({ artist: 'fela-kuti', total_plays: count('fela-kuti') }),
    ]);
    const fela = await api<{ songs: { song_name: string; total_plays: number }[]; total_plays: number }>(
      '/api/top-songs?window=1h&artist=fela-kuti',
    );
    expect(fela.total_plays).toBe(count('fela-kuti'));
    for (const song of fela.songs) {
      expect(catalog['fela-kuti']).toContain(song.song_name);
      expect(song.total_plays).toBe(
        produced.filter((play) => play.artist === 'fela-kuti' && play.song_name === song.song_name).length,
      );
    }
  });

  it('disabled (the default): produces nothing and connects no producer', async () => {
    const names = await setUpTopics(admin);
    // A short interval, so that a simulator that were running would have produced by the end.
    service = await Service.start(names, { SIMULATOR_INTERVAL_MS: '100' });
    await sleep(2_000);
    expect(await endOffsets(admin, names.topic)).toBe(0);
    expect(service.log).not.toMatch(/Simulator/);
    expect(service.log).not.toMatch(/plays-pipeline-simulator/);
  });

  it('runs alone (INGEST_ENABLED=false) as a load generator, and the same seed gives the same plays', async () => {
    const runs: Record<string, unknown>[][] = [];
    for (let attempt = 0; attempt < 2; attempt++) {
      const names = await setUpTopics(admin);
      service = await Service.start(
        names,
        {
          INGEST_ENABLED: 'false',
          SIMULATOR_ENABLED: 'true',
          SIMULATOR_INTERVAL_MS: '100',
          SIMULATOR_EVENTS_PER_TICK: '10',
          SIMULATOR_MAX_EVENTS: '30',
          SIMULATOR_SEED: '2026',
        },
        SIMULATOR_ON,
      );
      await service.waitForLog(/simulator done: 30 play\(s\)/, 20_000);
      expect(service.log).not.toMatch(/joined group/);
      runs.push(await plays(names, 30));
      expect(await service.stop('SIGTERM')).toBe(0);
      service = undefined;
    }
    runs.flat().forEach(expectOriginalShape);
    const withoutTime = (run: Record<string, unknown>[]) => run.map(({ timestamp: _, ...play }) => play);
    expect(withoutTime(runs[1]!)).toEqual(withoutTime(runs[0]!));
  });

  it('invalid simulator settings stop the boot with a message naming each variable', async () => {
    const names = await setUpTopics(admin);
    const start = Service.start(names, {
      SIMULATOR_ENABLED: 'true',
      SIMULATOR_INTERVAL_MS: 'soon',
      SIMULATOR_DISTRIBUTION: 'zipf',
    });
    const error = await start.then(
      () => new Error('the service started'),
      (failure: unknown) => failure as Error,
    );
    expect(error.message).toMatch(/^service exited \(1\)/);
    expect(error.message).toContain('SIMULATOR_INTERVAL_MS must be a whole number (got "soon")');
    expect(error.message).toContain('SIMULATOR_DISTRIBUTION must be skewed or uniform (got "zipf")');
    expect(error.message).not.toMatch(/Simulator\]/);
  });

  it.runIf(canRestartKafka)(
    'broker stopped and restarted: the app stays up, logs the outage once, and production resumes',
    async () => {
      const names = await setUpTopics(admin);
      service = await Service.start(
        names,
        {
          INGEST_ENABLED: 'false',
          SIMULATOR_ENABLED: 'true',
          SIMULATOR_INTERVAL_MS: '200',
          SIMULATOR_EVENTS_PER_TICK: '2',
        },
        SIMULATOR_ON,
      );
      const before = await eventually(
        () => endOffsets(admin, names.topic),
        (n) => n >= 10,
        20_000,
      );

      await kafkaBroker('stop');
      try {
        await service.waitForLog(/cannot produce to plays-\w+/, 30_000);
        await sleep(5_000);
        expect(service.child.exitCode, service.log).toBeNull();
        const live = await fetch(`http://127.0.0.1:${service.port}/health/live`);
        expect(live.status).toBe(200);
      } finally {
        await kafkaBroker('start');
      }
      await service.waitForLog(/producing to plays-\w+ again after \d+ s/, 60_000);
      await eventually(
        // The test's own admin client may need a moment to reconnect too.
        () => endOffsets(admin, names.topic).catch(() => -1),
        (n) => n >= before + 10,
        30_000,
      );
      // One line for the whole outage, not one per tick.
      expect(service.log.match(/cannot produce to/g)).toHaveLength(1);
      expect(await service.stop('SIGTERM')).toBe(0);
      service = undefined;
    },
  );
});
