import { parseEnv } from '../config/parse-env.js';
import { decodePlay, ORIGINAL_SONGS } from '../plays/play.js';
import { formatTimestamp, PlayGenerator, zipfCumulative } from './play-generator.js';

const NOW = Date.UTC(2026, 10, 25, 7, 22, 13, 456);

function generator(env: Record<string, string> = {}): PlayGenerator {
  return new PlayGenerator(parseEnv({ BIGQUERY_PROJECT_ID: 'plays-test', ...env }));
}

/** Share of plays per song_id over `count` plays. */
function shares(plays: PlayGenerator, count: number): number[] {
  const counts = new Array<number>(ORIGINAL_SONGS.length).fill(0);
  for (let i = 0; i < count; i++) counts[plays.next(NOW).song_id]!++;
  return counts.map((n) => n / count);
}

describe('PlayGenerator', () => {
  it('makes the original payload, in its key order, plus an event_id', () => {
    const play = generator({ SIMULATOR_SEED: '1' }).next(NOW);
    expect(Object.keys(play)).toEqual([
      'user_id',
      'artist',
      'song_id',
      'song_name',
      'event_type',
      'timestamp',
      'event_id',
    ]);
    expect(play.artist).toBe('tony-allen');
    expect(play.event_type).toBe('song_completed');
    expect(play.timestamp).toBe('2026-11-25 07:22:13');
    expect(play.event_id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('keeps user_id in 20000..100000 and song_name at song_id of the original ten', () => {
    const plays = generator().batch(5_000, NOW);
    for (const play of plays) {
      expect(Number.isInteger(play.user_id) && play.user_id >= 20_000 && play.user_id <= 100_000).toBe(true);
      expect(play.song_name).toBe(ORIGINAL_SONGS[play.song_id]);
    }
    expect(new Set(plays.map((play) => play.song_id)).size).toBe(10);
  });

  it('gives the same plays for the same seed, and others for another seed', () => {
    const first = generator({ SIMULATOR_SEED: '42' }).batch(100, NOW);
    expect(generator({ SIMULATOR_SEED: '42' }).batch(100, NOW)).toEqual(first);
    expect(generator({ SIMULATOR_SEED: '43' }).batch(100, NOW)).not.toEqual(first);
    expect(new Set(first.map((play) => play.event_id)).size).toBe(100);
  });

  it('makes a few songs dominate by default, and none with SIMULATOR_DISTRIBUTION=uniform', () => {
    const skewed = shares(generator({ SIMULATOR_SEED: '7' }), 10_000);
    expect(skewed[0]).toBeGreaterThan(0.25); // Zipf: about 34%, against 10% uniform
    expect(skewed[0]! + skewed[1]! + skewed[2]!).toBeGreaterThan(0.5);
    expect(skewed[9]).toBeLessThan(0.06);

    const uniform = shares(generator({ SIMULATOR_SEED: '7', SIMULATOR_DISTRIBUTION: 'uniform' }), 10_000);
    for (const share of uniform) expect(Math.abs(share - 0.1)).toBeLessThan(0.02);
  });

  it('uses SIMULATOR_ARTIST and SIMULATOR_SONGS, song_id being the index', () => {
    const plays = generator({ SIMULATOR_ARTIST: 'fela-kuti', SIMULATOR_SONGS: 'zombie, water no get enemy' }).batch(
      200,
      NOW,
    );
    expect(new Set(plays.map((play) => play.artist))).toEqual(new Set(['fela-kuti']));
    expect(new Set(plays.map((play) => `${play.song_id}:${play.song_name}`))).toEqual(
      new Set(['0:zombie', '1:water no get enemy']),
    );
  });

  it('plays every artist of SIMULATOR_CATALOG with its own songs, the first artist the most', () => {
    const plays = generator({
      SIMULATOR_SEED: '3',
      SIMULATOR_CATALOG: JSON.stringify({ 'tony-allen': ORIGINAL_SONGS, 'fela-kuti': ['zombie', 'lady', 'sorrow'] }),
    }).batch(5_000, NOW);
    const byArtist = (artist: string) => plays.filter((play) => play.artist === artist);
    expect(new Set(plays.map((play) => play.artist))).toEqual(new Set(['tony-allen', 'fela-kuti']));
    for (const play of byArtist('fela-kuti')) expect(['zombie', 'lady', 'sorrow'][play.song_id]).toBe(play.song_name);
    for (const play of byArtist('tony-allen')) expect(ORIGINAL_SONGS[play.song_id]).toBe(play.song_name);
    // Zipf over two artists: about 2/3 and 1/3.
    expect(byArtist('tony-allen').length / plays.length).toBeCloseTo(2 / 3, 1);
  });

  it('with one artist makes the same seeded plays whether it is named by SIMULATOR_CATALOG or SIMULATOR_ARTIST', () => {
    const catalog = generator({
      SIMULATOR_SEED: '9',
      SIMULATOR_CATALOG: JSON.stringify({ 'tony-allen': ORIGINAL_SONGS }),
    });
    expect(catalog.batch(50, NOW)).toEqual(generator({ SIMULATOR_SEED: '9' }).batch(50, NOW));
  });

  it('with SIMULATOR_TIMESTAMPS=this-month, times plays in the current month up to now', () => {
    const plays = generator({ SIMULATOR_TIMESTAMPS: 'this-month' }).batch(2_000, NOW);
    const times = plays.map((play) => play.timestamp);
    for (const time of times) {
      expect(time >= '2026-11-01 00:00:00' && time <= '2026-11-25 07:22:13').toBe(true);
    }
    expect(new Set(times.map((time) => time.slice(0, 10))).size).toBeGreaterThan(20);
  });

  it('makes plays the ingest accepts', () => {
    // Produced at once: the message's Kafka timestamp is about when the play was made.
    for (const play of generator({ SIMULATOR_TIMESTAMPS: 'this-month' }).batch(500)) {
      const decoded = decodePlay(Buffer.from(JSON.stringify(play)), Date.now());
      expect(decoded.ok, JSON.stringify(decoded)).toBe(true);
    }
  });
});

describe('zipfCumulative', () => {
  it('weighs rank r as 1/r and ends at exactly 1', () => {
    const cumulative = zipfCumulative(10);
    const weights = Array.from(cumulative, (c, i) => c - (cumulative[i - 1] ?? 0));
    const harmonic = 2.9289683; // 1 + 1/2 + ... + 1/10
    weights.forEach((weight, i) => expect(weight).toBeCloseTo(1 / (i + 1) / harmonic, 6));
    expect(cumulative[9]).toBe(1);
  });
});

describe('formatTimestamp', () => {
  it('writes the original YYYY-MM-DD HH:MM:SS in UTC', () => {
    expect(formatTimestamp(Date.UTC(2022, 10, 3, 7, 22, 13, 999))).toBe('2022-11-03 07:22:13');
  });
});
