import { seededRandom } from '../../test/support/seeded-random.js';
import { LiveTally, LiveWindowNotHeld } from './live-tally.js';
import { parsePlayDelta } from './parse-play-delta.js';
import { deltaOf, type DeltaPlay, type PlayDelta } from './play-delta.js';

// The merge against a brute-force reference: random plays on a few partitions, published as deltas
// with random boundaries, duplicated (a zombie), re-published from earlier offsets (a new owner) and
// shuffled. Every answer must equal what the BigQuery queries (bigquery/play-queries.ts) would say
// over the messages covered so far, each offset once, computed here directly from the timestamps.

const MINUTE = 60_000;
const NOW = Date.UTC(2026, 11, 5, 12, 0, 0);
const ARTISTS = ['fela', 'tony-allen', 'Ébo', '😀 band'];
const SONGS = ['zombie', 'Zulu', 'asiko', 'é', 'ｂ', '😀', 'lady'];

type Random = ReturnType<typeof seededRandom>;

interface Message {
  source: string;
  offset: number;
  play: DeltaPlay | null;
}

/** A partition's messages: plays over the three hours before NOW (a few after it), some not plays. */
function messagesOf(rng: Random, count: number): (DeltaPlay | null)[] {
  return Array.from({ length: count }, () => {
    if (rng.next() < 0.1) return null;
    const ms = NOW - rng.int(0, 3 * 60 * MINUTE) + (rng.next() < 0.05 ? rng.int(0, 30 * MINUTE) : 0);
    return { artist: rng.pick(ARTISTS), song_name: rng.pick(SONGS), timestampMicros: ms * 1_000 + rng.int(0, 999) };
  });
}

/** Deltas of a partition: one cover in random batches, re-publishes of random earlier spans, duplicates. */
function deltasOf(rng: Random, topic: string, partition: number, messages: (DeltaPlay | null)[]): PlayDelta[] {
  const span = (from: number, to: number) => deltaOf(topic, partition, from, messages.slice(from, to));
  const deltas: PlayDelta[] = [];
  for (let from = 0; from < messages.length;) {
    const to = Math.min(messages.length, from + rng.int(1, 60));
    deltas.push(span(from, to));
    from = to;
  }
  for (let i = rng.int(0, 8); i > 0; i--) {
    const from = rng.int(0, messages.length - 1);
    deltas.push(span(from, Math.min(messages.length, from + rng.int(1, 150))));
  }
  for (let i = rng.int(0, 5); i > 0; i--) deltas.push(rng.pick(deltas));
  return deltas;
}

const byBytes = (a: string, b: string) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
const ranked = <T extends { plays: number; name: string }>(rows: T[]) =>
  rows.sort((a, b) => b.plays - a.plays || byBytes(a.name, b.name));

/** The answers as BigQuery computes them, from each counted message once and its exact timestamp. */
class Reference {
  constructor(private readonly plays: DeltaPlay[]) {}

  topSongs(sinceMs: number, artist: string | undefined, limit: number) {
    const rows = this.plays.filter((p) => p.timestampMicros >= sinceMs * 1_000 && (artist ?? p.artist) === p.artist);
    const songs = ranked(this.group(rows, (p) => p.song_name)).slice(0, limit);
    return {
      total_plays: rows.length,
      newest_play_at: rows.length === 0 ? null : Math.max(...rows.map((p) => p.timestampMicros)),
      songs: songs.map((s) => ({ song_name: s.name, total_plays: s.plays, last_played_at: s.newest })),
    };
  }

  artists(sinceMs: number, limit: number) {
    const groups = ranked(
      this.group(
        this.plays.filter((p) => p.timestampMicros >= sinceMs * 1_000),
        (p) => p.artist,
      ),
    );
    return {
      total_artists: groups.length,
      artists: groups.slice(0, limit).map((a) => ({ artist: a.name, total_plays: a.plays, last_played_at: a.newest })),
    };
  }

  playsOverTime(sinceMs: number, untilMs: number, bucketSeconds: number, songs: number, artist: string | undefined) {
    const rows = this.plays.filter(
      (p) =>
        p.timestampMicros >= sinceMs * 1_000 &&
        p.timestampMicros < untilMs * 1_000 &&
        (artist ?? p.artist) === p.artist,
    );
    // DIV(TIMESTAMP_DIFF(played_at, @since, SECOND), @bucket_seconds); DENSE_RANK by (song_plays DESC, song_name).
    const bucketOf = (p: DeltaPlay) =>
      Math.floor(Math.trunc((p.timestampMicros - sinceMs * 1_000) / 1e6) / bucketSeconds);
    const count = Math.ceil((untilMs - sinceMs) / (bucketSeconds * 1_000));
    const top = ranked(this.group(rows, (p) => p.song_name)).slice(0, songs);
    return {
      total_plays: rows.length,
      series: top.map((song) => {
        const plays = new Array<number>(count).fill(0);
        for (const p of rows) if (p.song_name === song.name) plays[bucketOf(p)]!++;
        return { song_name: song.name, total_plays: song.plays, plays };
      }),
    };
  }

  private group(rows: DeltaPlay[], by: (p: DeltaPlay) => string) {
    const groups = new Map<string, { name: string; plays: number; newest: number }>();
    for (const p of rows) {
      const group = groups.get(by(p)) ?? { name: by(p), plays: 0, newest: -Infinity };
      group.plays++;
      group.newest = Math.max(group.newest, p.timestampMicros);
      groups.set(group.name, group);
    }
    return [...groups.values()];
  }
}

/** Every question asked at a checkpoint: windows from before the first play to after the last. */
function compareAll(rng: Random, tally: LiveTally, reference: Reference, seed: number): void {
  const sinces = [NOW - 4 * 60 * MINUTE, NOW - 95 * MINUTE, NOW, NOW - rng.int(0, 200) * MINUTE];
  for (const since of sinces) {
    // A tally short of memory dropped its oldest minutes: it must refuse a window reaching into them.
    if (!tally.covers(since, NOW + MINUTE)) {
      expect(() => tally.topSongs({ sinceMinuteMs: since, limit: 1 })).toThrow(LiveWindowNotHeld);
      continue;
    }
    for (const artist of [undefined, ...ARTISTS, 'nobody']) {
      const limit = rng.pick([1, 3, 10]);
      expect(tally.topSongs({ sinceMinuteMs: since, artist, limit }), `seed ${seed}: top songs`).toEqual(
        reference.topSongs(since, artist, limit),
      );
    }
    const limit = rng.pick([1, 2, 100]);
    expect(tally.artists({ sinceMinuteMs: since, limit }), `seed ${seed}: artists`).toEqual(
      reference.artists(since, limit),
    );
  }
  for (const bucketSeconds of [60, 300, 900, 3_600]) {
    const bucketMs = bucketSeconds * 1_000;
    // Aligned on the bucket as time-buckets.ts' bucketSpan does, and merely on a minute.
    const aligned = Math.floor((NOW - 3 * 60 * MINUTE) / bucketMs) * bucketMs;
    const minute = NOW - rng.int(1, 200) * MINUTE;
    for (const since of [aligned, minute].filter((since) => tally.covers(since, NOW + MINUTE))) {
      const until = rng.next() < 0.5 ? since + rng.int(1, 12) * bucketMs : since + rng.int(1, 240) * MINUTE;
      for (const artist of [undefined, rng.pick(ARTISTS)]) {
        const songs = rng.int(1, 5);
        expect(
          tally.playsOverTime({ sinceMs: since, untilMs: until, bucketSeconds, songs, artist }),
          `seed ${seed}: plays over time from ${new Date(since).toISOString()} to ${new Date(until).toISOString()} by ${bucketSeconds}s`,
        ).toEqual(reference.playsOverTime(since, until, bucketSeconds, songs, artist));
      }
    }
  }
}

const SEEDS = Array.from({ length: 25 }, (_, i) => 0x9e3779b9 * (i + 1)) // fixed, and varied
  .map((n) => n >>> 0)
  .concat(process.env.LIVE_SEED === undefined ? [] : [Number(process.env.LIVE_SEED)]);

describe('LiveTally merging deltas', () => {
  it.each(SEEDS)(
    'answers as the BigQuery queries over every message covered, each once, however its deltas arrive (seed %i)',
    (seed) => {
      const rng = seededRandom(seed);
      const sources = [
        ['plays', 0],
        ['plays', 1],
        ['plays', 2],
        ['other', 0],
      ].slice(0, rng.int(1, 4)) as [string, number][];
      const messages: Message[] = [];
      const deltas: PlayDelta[] = [];
      for (const [topic, partition] of sources) {
        const plays = messagesOf(rng, rng.int(50, 400));
        plays.forEach((play, offset) => messages.push({ source: `${topic}/${partition}`, offset, play }));
        deltas.push(...deltasOf(rng, topic, partition, plays));
      }
      for (let i = deltas.length - 1; i > 0; i--) {
        const j = rng.int(0, i);
        [deltas[i], deltas[j]] = [deltas[j]!, deltas[i]!];
      }

      // Now and then too small a tally, so minutes are dropped while deltas still arrive for them.
      const maxEntries = rng.next() < 0.3 ? rng.int(20, 300) : undefined;
      const tally = new LiveTally({ maxEntries });
      const covered = new Set<string>();
      let counted = 0;
      const checkpoints = new Set([
        1,
        Math.floor(deltas.length / 3),
        Math.floor((2 * deltas.length) / 3),
        deltas.length,
      ]);
      deltas.forEach((delta, i) => {
        // Over the wire and back, as a replica reads it.
        counted += tally.apply(parsePlayDelta(JSON.parse(JSON.stringify(delta))), NOW + MINUTE);
        for (let offset = delta.from; offset < delta.from + delta.groups.length; offset++) {
          covered.add(`${delta.topic}/${delta.partition}/${offset}`);
        }
        if (!checkpoints.has(i + 1)) return;
        const plays = messages
          .filter((m) => m.play !== null && covered.has(`${m.source}/${m.offset}`))
          .map((m) => m.play!);
        if (maxEntries === undefined) {
          expect(counted, `seed ${seed}: plays counted after ${i + 1} of ${deltas.length} deltas`).toBe(plays.length);
        }
        compareAll(rng, tally, new Reference(plays), seed);
      });
      expect(covered.size).toBe(messages.length);
    },
  );
});
