import { MinuteBuckets } from './minute-buckets.js';
import { byPlaysThenName } from './name-order.js';
import { CountedOffsets } from './counted-offsets.js';
import type { LiveArtists, LivePlaysOverTime, LiveSongPlays, LiveTopSongs } from './tally-answers.js';
import type { PlayDelta } from './play-delta.js';

const MINUTE_MS = 60_000;

/** A song of an artist, held once however many minutes have plays of it. */
interface Song {
  artist: string;
  song_name: string;
  /** How many minutes hold the song: at 0 it is forgotten. */
  minutes: number;
}

/** One (minute, artist, song)'s plays. */
interface Entry {
  song: Song;
  plays: number;
  newestMicros: number;
}

export interface LiveTallyOptions {
  /** How far back from now minutes are kept (ms). Default 24 h. */
  horizonMs?: number;
  /** Most (minute, artist, song) entries held; beyond it the oldest minutes go. Default 500,000. */
  maxEntries?: number;
}

/** A window reaching into minutes the tally no longer holds (or never held); ask BigQuery. */
export class LiveWindowNotHeld extends Error {}

/**
 * Plays per (minute, artist, song) for the last `horizonMs`, merged exactly from deltas: each source
 * message is counted once however often, in whatever pieces and order its deltas arrive. Answers
 * equal topSongsSinceQuery, artistsSinceQuery and playsOverTimeQuery (bigquery/play-queries.ts) for
 * windows of whole minutes that `covers` accepts, counting a play by its minute.
 *
 * Memory: ~110 bytes per entry, measured on Node 24 as the growth of process.memoryUsage().heapUsed
 * (after gc) while 10,000 songs were played every minute for 20 to 288 minutes (93 bytes with 1,000
 * songs a minute: smaller Maps), plus a few hundred bytes per distinct song. So 10,000 songs each
 * played every minute of 24 h, 14.4 M entries, would take ~1.6 GB: hence `maxEntries` (500,000, ~55 MB,
 * by default). Real traffic plays a small part of the catalogue each minute, so a day usually fits.
 */
export class LiveTally {
  private readonly horizonMs: number;
  private readonly maxEntries: number;
  private readonly counted = new CountedOffsets();
  private readonly minutes = new MinuteBuckets<Song, Entry>();
  private readonly songs = new Map<string, Map<string, Song>>();
  private songCount = 0;
  private entryCount = 0;
  /** Minutes before this one (ms) are incomplete or gone: pruned, dropped for memory, or ignored on apply. */
  private heldFrom = -Infinity;
  private readonly listeners = new Set<(plays: number) => void>();

  constructor(options: LiveTallyOptions = {}) {
    this.horizonMs = options.horizonMs ?? 24 * 3_600_000;
    this.maxEntries = options.maxEntries ?? 500_000;
  }

  /** (minute, artist, song) entries held. */
  get entries(): number {
    return this.entryCount;
  }

  /** A rough estimate of the heap the tally holds (bytes). */
  get approxBytes(): number {
    return this.entryCount * BYTES_PER_ENTRY + this.songCount * BYTES_PER_SONG + this.minutes.size * 200;
  }

  /**
   * Counts the delta's messages not counted before; returns how many plays that added. Plays of
   * minutes the tally no longer holds are not counted, but their offsets are marked counted.
   */
  apply(delta: PlayDelta, now: number): number {
    this.prune(now);
    const fresh = this.counted.add(delta.topic, delta.partition, delta.from, delta.from + delta.groups.length);
    if (fresh.length === 0) return 0;
    const newPlays = new Array<number>(delta.keys.length).fill(0);
    for (const [from, to] of fresh) {
      for (let offset = from; offset < to; offset++) {
        const group = delta.groups[offset - delta.from]!;
        if (group >= 0) newPlays[group]!++;
      }
    }
    let added = 0;
    delta.keys.forEach(([minute, artist, songName, newestMicros], index) => {
      const plays = newPlays[index]!;
      const minuteMs = minute * 1_000;
      if (minuteMs < this.heldFrom) return;
      const entries = this.minutes.get(minuteMs);
      const song = this.songs.get(artist)?.get(songName);
      let entry = song === undefined ? undefined : entries?.get(song);
      // An entry already there saw any of this key's messages counted before, so the max of the
      // whole key is exact; with no new play and no entry there is nothing to add.
      if (entry === undefined) {
        if (plays === 0) return;
        entry = { song: song ?? this.songOf(artist, songName), plays: 0, newestMicros };
        entry.song.minutes++;
        this.minutes.bucket(minuteMs).set(entry.song, entry);
        this.entryCount++;
      }
      entry.plays += plays;
      entry.newestMicros = Math.max(entry.newestMicros, newestMicros);
      added += plays;
    });
    this.keepWithinMaxEntries();
    if (added > 0) for (const listener of this.listeners) listener(added);
    return added;
  }

  /** Forgets minutes older than the horizon at `now` (ms). */
  prune(now: number): void {
    const keepFrom = Math.floor((now - this.horizonMs) / MINUTE_MS) * MINUTE_MS;
    while (this.minutes.oldest !== undefined && this.minutes.oldest < keepFrom) this.dropOldestMinute();
    this.heldFrom = Math.max(this.heldFrom, keepFrom);
  }

  /** Whether a window from `sinceMs` (a whole minute) is answered exactly at `now` (ms). */
  covers(sinceMs: number, now: number): boolean {
    const keepFrom = Math.floor((now - this.horizonMs) / MINUTE_MS) * MINUTE_MS;
    return sinceMs % MINUTE_MS === 0 && sinceMs >= Math.max(this.heldFrom, keepFrom);
  }

  /**
   * Holds no window starting before `minuteMs` (a whole minute): plays of earlier minutes may have been
   * written without a delta (before the live view was turned on).
   */
  holdFrom(minuteMs: number): void {
    this.heldFrom = Math.max(this.heldFrom, minuteMs);
  }

  /** Whether every offset of [from, to) of a source partition was counted. */
  hasCounted(topic: string, partition: number, from: number, to: number): boolean {
    if (from >= to) return true;
    return (this.counted.of(topic, partition)?.toArray() ?? []).some(([a, b]) => a <= from && to <= b);
  }

  /** Calls `listener` with the plays a delta added, after it is applied; returns the unsubscribe. */
  onChange(listener: (plays: number) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** As topSongsSinceQuery: plays per song name (of `artist`) since `sinceMinuteMs`, most played first. */
  topSongs(question: { sinceMinuteMs: number; artist?: string; limit: number }): LiveTopSongs {
    const perSong = new Map<string, LiveSongPlays>();
    let total = 0;
    let newest: number | null = null;
    this.eachEntry(question.sinceMinuteMs, Infinity, (entry) => {
      if (question.artist !== undefined && entry.song.artist !== question.artist) return;
      const name = entry.song.song_name;
      const song = perSong.get(name);
      if (song === undefined) {
        perSong.set(name, { song_name: name, total_plays: entry.plays, last_played_at: entry.newestMicros });
      } else {
        song.total_plays += entry.plays;
        song.last_played_at = Math.max(song.last_played_at, entry.newestMicros);
      }
      total += entry.plays;
      newest = Math.max(newest ?? -Infinity, entry.newestMicros);
    });
    const songs = [...perSong.values()].sort(
      byPlaysThenName(
        (s) => s.song_name,
        (s) => s.total_plays,
      ),
    );
    return { total_plays: total, newest_play_at: newest, songs: songs.slice(0, question.limit) };
  }

  /** As artistsSinceQuery: plays per artist since `sinceMinuteMs`, most played first. */
  artists(question: { sinceMinuteMs: number; limit: number }): LiveArtists {
    const perArtist = new Map<string, LiveArtists['artists'][number]>();
    this.eachEntry(question.sinceMinuteMs, Infinity, (entry) => {
      const name = entry.song.artist;
      const artist = perArtist.get(name);
      if (artist === undefined) {
        perArtist.set(name, { artist: name, total_plays: entry.plays, last_played_at: entry.newestMicros });
      } else {
        artist.total_plays += entry.plays;
        artist.last_played_at = Math.max(artist.last_played_at, entry.newestMicros);
      }
    });
    const artists = [...perArtist.values()].sort(
      byPlaysThenName(
        (a) => a.artist,
        (a) => a.total_plays,
      ),
    );
    return { total_artists: artists.length, artists: artists.slice(0, question.limit) };
  }

  /**
   * As playsOverTimeQuery: the `songs` most played song names (of `artist`) in [sinceMs, untilMs), and
   * their plays per bucket of `bucketSeconds` from `sinceMs`; all three whole minutes.
   */
  playsOverTime(question: {
    sinceMs: number;
    untilMs: number;
    bucketSeconds: number;
    songs: number;
    artist?: string;
  }): LivePlaysOverTime {
    const { sinceMs, untilMs, bucketSeconds } = question;
    if (!(bucketSeconds > 0 && bucketSeconds % 60 === 0)) {
      throw new RangeError(`live buckets are whole minutes; got ${bucketSeconds} s`);
    }
    if (untilMs % MINUTE_MS !== 0 || untilMs <= sinceMs) {
      throw new RangeError(`until must be a whole minute after since; got ${untilMs}`);
    }
    const bucketMs = bucketSeconds * 1_000;
    const count = Math.ceil((untilMs - sinceMs) / bucketMs);
    const perSong = new Map<string, { song_name: string; total_plays: number; plays: number[] }>();
    let total = 0;
    this.eachEntry(sinceMs, untilMs, (entry, minuteMs) => {
      if (question.artist !== undefined && entry.song.artist !== question.artist) return;
      const name = entry.song.song_name;
      let song = perSong.get(name);
      if (song === undefined) {
        song = { song_name: name, total_plays: 0, plays: new Array<number>(count).fill(0) };
        perSong.set(name, song);
      }
      song.total_plays += entry.plays;
      // A bucket is whole minutes from a whole minute, so a play's minute decides its bucket.
      song.plays[Math.floor((minuteMs - sinceMs) / bucketMs)]! += entry.plays;
      total += entry.plays;
    });
    const series = [...perSong.values()].sort(
      byPlaysThenName(
        (s) => s.song_name,
        (s) => s.total_plays,
      ),
    );
    return { total_plays: total, series: series.slice(0, question.songs) };
  }

  /** Calls `visit` with each entry of the minutes in [sinceMs, untilMs) and its minute. */
  private eachEntry(sinceMs: number, untilMs: number, visit: (entry: Entry, minuteMs: number) => void): void {
    if (!Number.isSafeInteger(sinceMs) || sinceMs % MINUTE_MS !== 0) {
      throw new RangeError(`a live window starts on a whole minute; got ${sinceMs}`);
    }
    if (sinceMs < this.heldFrom) {
      throw new LiveWindowNotHeld(`minutes before ${new Date(this.heldFrom).toISOString()} are not held`);
    }
    this.minutes.forEachBetween(sinceMs, untilMs, visit);
  }

  private songOf(artist: string, songName: string): Song {
    let byName = this.songs.get(artist);
    if (byName === undefined) this.songs.set(artist, (byName = new Map<string, Song>()));
    const song: Song = { artist, song_name: songName, minutes: 0 };
    byName.set(songName, song);
    this.songCount++;
    return song;
  }

  private keepWithinMaxEntries(): void {
    while (this.entryCount > this.maxEntries && this.minutes.oldest !== undefined) {
      this.heldFrom = Math.max(this.heldFrom, this.minutes.oldest + MINUTE_MS);
      this.dropOldestMinute();
    }
  }

  private dropOldestMinute(): void {
    const entries = this.minutes.dropOldest()!;
    this.entryCount -= entries.size;
    for (const song of entries.keys()) {
      if (--song.minutes > 0) continue;
      const byName = this.songs.get(song.artist)!;
      byName.delete(song.song_name);
      if (byName.size === 0) this.songs.delete(song.artist);
      this.songCount--;
    }
  }
}

// Heap per entry and per distinct song, measured (see the class comment).
const BYTES_PER_ENTRY = 110;
const BYTES_PER_SONG = 300;
