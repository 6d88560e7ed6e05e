import { LiveTally, LiveWindowNotHeld } from './live-tally.js';
import { deltaOf, type DeltaPlay } from './play-delta.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const NOW = Date.UTC(2026, 11, 5, 12, 0, 0); // a whole minute
const at = (ms: number, extraMicros = 0) => ms * 1_000 + extraMicros;
const play = (artist: string, song_name: string, ms: number, extraMicros = 0): DeltaPlay => ({
  artist,
  song_name,
  timestampMicros: at(ms, extraMicros),
});

/** `count` plays of one song, a second apart from `ms`, as messages from offset 0. */
const plays = (count: number, ms = NOW - 10 * MINUTE) =>
  Array.from({ length: count }, (_, i) => play('fela', 'zombie', ms + (i % 60) * 1_000));

const total = (tally: LiveTally, since = NOW - HOUR) => tally.topSongs({ sinceMinuteMs: since, limit: 10 }).total_plays;

describe('LiveTally', () => {
  it('counts a delta applied twice once', () => {
    const tally = new LiveTally();
    const delta = deltaOf('plays', 0, 0, plays(10));
    expect(tally.apply(delta, NOW)).toBe(10);
    expect(tally.apply(delta, NOW)).toBe(0);
    expect(total(tally)).toBe(10);
  });

  it('counts each offset once when the same messages are re-published with other boundaries', () => {
    const tally = new LiveTally();
    const messages = plays(200);
    const span = (from: number, to: number) => deltaOf('plays', 0, from, messages.slice(from, to));
    expect(tally.apply(span(0, 100), NOW)).toBe(100);
    expect(tally.apply(span(50, 150), NOW)).toBe(50);
    expect(tally.apply(span(0, 200), NOW)).toBe(50);
    expect(total(tally)).toBe(200);
  });

  it('fills a gap left by a delta that arrives late, and counts nothing twice', () => {
    const tally = new LiveTally();
    const messages = plays(30);
    const span = (from: number, to: number) => deltaOf('plays', 0, from, messages.slice(from, to));
    tally.apply(span(20, 30), NOW);
    tally.apply(span(0, 10), NOW);
    expect(total(tally)).toBe(20);
    expect(tally.apply(span(5, 25), NOW)).toBe(10);
    expect(total(tally)).toBe(30);
  });

  it('counts the same offsets of two partitions, or two topics, apart', () => {
    const tally = new LiveTally();
    tally.apply(deltaOf('plays', 0, 0, plays(5)), NOW);
    tally.apply(deltaOf('plays', 1, 0, plays(5)), NOW);
    tally.apply(deltaOf('other', 0, 0, plays(5)), NOW);
    expect(total(tally)).toBe(15);
  });

  it('never counts a message that is not a play', () => {
    const tally = new LiveTally();
    expect(tally.apply(deltaOf('plays', 0, 0, [null, play('a', 's', NOW - MINUTE), null]), NOW)).toBe(1);
    expect(total(tally)).toBe(1);
  });

  it('keeps a key’s newest play, whichever delta brought it', () => {
    const tally = new LiveTally();
    const messages = [play('a', 's', NOW - MINUTE, 5), play('a', 's', NOW - MINUTE, 9)];
    tally.apply(deltaOf('plays', 0, 1, messages.slice(1)), NOW);
    tally.apply(deltaOf('plays', 0, 0, messages), NOW);
    const answer = tally.topSongs({ sinceMinuteMs: NOW - HOUR, limit: 1 });
    expect(answer).toEqual({
      total_plays: 2,
      newest_play_at: at(NOW - MINUTE, 9),
      songs: [{ song_name: 's', total_plays: 2, last_played_at: at(NOW - MINUTE, 9) }],
    });
  });

  it('counts a play by its minute: one at 11:58:59.999999 is in the window from 11:58, not from 11:59', () => {
    const tally = new LiveTally();
    tally.apply(deltaOf('plays', 0, 0, [play('a', 's', NOW - MINUTE - 1, 999)]), NOW);
    expect(total(tally, NOW - 2 * MINUTE)).toBe(1);
    expect(total(tally, NOW - MINUTE)).toBe(0);
  });

  it('forgets minutes older than the horizon, ignores their plays later, and stops covering them', () => {
    const tally = new LiveTally({ horizonMs: HOUR });
    tally.apply(deltaOf('plays', 0, 0, [play('a', 's', NOW - 30 * MINUTE)]), NOW);
    expect(tally.covers(NOW - HOUR, NOW)).toBe(true);
    expect(tally.covers(NOW - HOUR - MINUTE, NOW)).toBe(false);

    const later = NOW + 31 * MINUTE;
    expect(tally.apply(deltaOf('plays', 0, 1, [play('a', 's', NOW - 40 * MINUTE)]), later)).toBe(0);
    expect(tally.entries).toBe(0);
    expect(tally.approxBytes).toBe(0);
    expect(tally.covers(NOW - 30 * MINUTE, later)).toBe(false);
    expect(() => total(tally, NOW - 30 * MINUTE)).toThrow(LiveWindowNotHeld);
    expect(total(tally, later - HOUR)).toBe(0);
  });

  it('keeps plays timed in the future: the BigQuery window has no end either', () => {
    const tally = new LiveTally({ horizonMs: HOUR });
    tally.apply(deltaOf('plays', 0, 0, [play('a', 's', NOW + 5 * HOUR)]), NOW);
    expect(total(tally, NOW)).toBe(1);
  });

  it('drops the oldest minutes beyond maxEntries, and no longer covers a window reaching into them', () => {
    const tally = new LiveTally({ maxEntries: 4 });
    // Two songs in each of minutes -3, -2 and -1: six entries, so minute -3 goes.
    const minutes = [3, 2, 1].flatMap((m) => [play('a', 'x', NOW - m * MINUTE), play('a', 'y', NOW - m * MINUTE)]);
    expect(tally.apply(deltaOf('plays', 0, 0, minutes), NOW)).toBe(6);
    expect(tally.entries).toBe(4);
    expect(tally.covers(NOW - 2 * MINUTE, NOW)).toBe(true);
    expect(tally.covers(NOW - 3 * MINUTE, NOW)).toBe(false);
    expect(() => total(tally, NOW - 3 * MINUTE)).toThrow(LiveWindowNotHeld);
    expect(total(tally, NOW - 2 * MINUTE)).toBe(4);
    // A late play of the dropped minute is not counted into a minute the tally no longer holds.
    expect(tally.apply(deltaOf('plays', 0, 6, [play('b', 'z', NOW - 3 * MINUTE)]), NOW)).toBe(0);
    expect(tally.entries).toBe(4);
  });

  it('estimates its memory from its entries and songs', () => {
    const tally = new LiveTally();
    tally.apply(deltaOf('plays', 0, 0, plays(1)), NOW);
    const one = tally.approxBytes;
    tally.apply(deltaOf('plays', 0, 1, [play('b', 't', NOW - MINUTE)]), NOW);
    expect(one).toBeGreaterThan(0);
    expect(tally.approxBytes).toBeGreaterThan(one);
  });

  it('tells its listeners how many plays a delta added, and only when it added some', () => {
    const tally = new LiveTally();
    const heard: number[] = [];
    const stop = tally.onChange((added) => heard.push(added));
    const delta = deltaOf('plays', 0, 0, plays(3));
    tally.apply(delta, NOW);
    tally.apply(delta, NOW);
    stop();
    tally.apply(deltaOf('plays', 0, 3, plays(2)), NOW);
    expect(heard).toEqual([3]);
  });

  it('rejects windows that do not start on a whole minute, and buckets that are not whole minutes', () => {
    const tally = new LiveTally();
    expect(() => total(tally, NOW - HOUR + 1)).toThrow(RangeError);
    expect(tally.covers(NOW - HOUR + 1, NOW)).toBe(false);
    const window = { sinceMs: NOW - HOUR, untilMs: NOW, songs: 5 };
    expect(() => tally.playsOverTime({ ...window, bucketSeconds: 10 })).toThrow(RangeError);
    expect(() => tally.playsOverTime({ ...window, bucketSeconds: 60, untilMs: NOW - HOUR })).toThrow(RangeError);
  });
});

describe('LiveTally answers', () => {
  const since = NOW - HOUR;
  const tally = new LiveTally();
  tally.apply(
    deltaOf('plays', 0, 0, [
      play('fela', 'zombie', NOW - 50 * MINUTE),
      play('fela', 'zombie', NOW - 50 * MINUTE, 7),
      play('tony', 'zombie', NOW - 5 * MINUTE),
      play('tony', 'asiko', NOW - 20 * MINUTE),
      play('tony', 'asiko', NOW - 20 * MINUTE),
      play('tony', 'Zulu', NOW - 20 * MINUTE),
      play('tony', 'Zulu', NOW - 2 * MINUTE),
      play('ada', 'ｂ', NOW - 2 * MINUTE),
      play('ada', '😀', NOW - 2 * MINUTE),
      play('ada', 'é', NOW - 2 * MINUTE),
      play('old', 'gone', NOW - 2 * HOUR),
    ]),
    NOW,
  );

  it('counts one song name of two artists as one song, as the query groups by song_name', () => {
    expect(tally.topSongs({ sinceMinuteMs: since, limit: 2 })).toEqual({
      total_plays: 10,
      newest_play_at: at(NOW - 2 * MINUTE),
      songs: [
        { song_name: 'zombie', total_plays: 3, last_played_at: at(NOW - 5 * MINUTE) },
        { song_name: 'Zulu', total_plays: 2, last_played_at: at(NOW - 2 * MINUTE) },
      ],
    });
  });

  it('orders ties by name in byte order: capitals first, then é, then ｂ (U+FF42), then 😀 (U+1F600)', () => {
    const names = tally.topSongs({ sinceMinuteMs: since, limit: 10 }).songs.map((song) => song.song_name);
    expect(names).toEqual(['zombie', 'Zulu', 'asiko', 'é', 'ｂ', '😀']);
  });

  it('counts only the artist’s plays when asked about one artist', () => {
    expect(tally.topSongs({ sinceMinuteMs: since, artist: 'tony', limit: 10 })).toEqual({
      total_plays: 5,
      newest_play_at: at(NOW - 2 * MINUTE),
      songs: [
        { song_name: 'Zulu', total_plays: 2, last_played_at: at(NOW - 2 * MINUTE) },
        { song_name: 'asiko', total_plays: 2, last_played_at: at(NOW - 20 * MINUTE) },
        { song_name: 'zombie', total_plays: 1, last_played_at: at(NOW - 5 * MINUTE) },
      ],
    });
  });

  it('answers an empty window with no songs and no newest play', () => {
    expect(tally.topSongs({ sinceMinuteMs: NOW, limit: 10 })).toEqual({
      total_plays: 0,
      newest_play_at: null,
      songs: [],
    });
    expect(tally.topSongs({ sinceMinuteMs: since, artist: 'nobody', limit: 10 }).newest_play_at).toBeNull();
  });

  it('counts plays per artist, and every artist of the window', () => {
    expect(tally.artists({ sinceMinuteMs: since, limit: 2 })).toEqual({
      total_artists: 3,
      artists: [
        { artist: 'tony', total_plays: 5, last_played_at: at(NOW - 2 * MINUTE) },
        { artist: 'ada', total_plays: 3, last_played_at: at(NOW - 2 * MINUTE) },
      ],
    });
  });

  it('counts the top songs’ plays per bucket, zeros included, and every play of the span', () => {
    const answer = tally.playsOverTime({ sinceMs: since, untilMs: NOW, bucketSeconds: 900, songs: 2 });
    expect(answer).toEqual({
      total_plays: 10,
      series: [
        { song_name: 'zombie', total_plays: 3, plays: [2, 0, 0, 1] },
        { song_name: 'Zulu', total_plays: 2, plays: [0, 0, 1, 1] },
      ],
    });
  });

  it('leaves out plays at or after `until`, and a partial last bucket still counts', () => {
    const answer = tally.playsOverTime({ sinceMs: since, untilMs: NOW - 5 * MINUTE, bucketSeconds: 1_800, songs: 1 });
    expect(answer).toEqual({ total_plays: 5, series: [{ song_name: 'asiko', total_plays: 2, plays: [0, 2] }] });
  });
});
