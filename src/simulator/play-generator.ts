import { Faker, en } from '@faker-js/faker';
import type { Env } from '../config/env.schema.js';
import type { SimulatedArtist } from '../config/simulator-env.js';
import type { Play } from '../plays/play.js';

/**
 * A simulated play: exactly the payload the original Python producer emits (user_id, artist, song_id,
 * song_name, event_type, timestamp), in its key order, with its `YYYY-MM-DD HH:MM:SS` UTC timestamp,
 * plus an event_id that the sink uses as BigQuery's insertId.
 */
export type SimulatedPlay = Omit<Play, 'event_id'> & { event_id: string };

export type PlayGeneratorOptions = Pick<
  Env,
  | 'SIMULATOR_ARTIST'
  | 'SIMULATOR_SONGS'
  | 'SIMULATOR_CATALOG'
  | 'SIMULATOR_TIMESTAMPS'
  | 'SIMULATOR_DISTRIBUTION'
  | 'SIMULATOR_SEED'
>;

/** The simulated artists and their songs: SIMULATOR_CATALOG, else the one SIMULATOR_ARTIST with SIMULATOR_SONGS. */
export function simulatedArtists(options: PlayGeneratorOptions): SimulatedArtist[] {
  return options.SIMULATOR_CATALOG ?? [{ artist: options.SIMULATOR_ARTIST, songs: options.SIMULATOR_SONGS }];
}

/** An artist with the cumulative weights of its songs (null: uniform). */
interface ArtistPicker extends SimulatedArtist {
  cumulative: Float64Array | null;
}

// The original producer's range of listeners.
const USER_ID_MIN = 20_000;
const USER_ID_MAX = 100_000;

/**
 * Makes plays from the simulator settings. Pure apart from its own seeded Faker: the same seed and the
 * same `now` give the same plays, so a seeded run repeats (timestamps aside, which follow the clock).
 */
export class PlayGenerator {
  private readonly faker = new Faker({ locale: en });
  private readonly artists: readonly ArtistPicker[];
  /** Cumulative artist weights, ending at 1; null for a uniform pick. */
  private readonly artistCumulative: Float64Array | null;
  private readonly thisMonth: boolean;

  constructor(options: PlayGeneratorOptions) {
    const skewed = options.SIMULATOR_DISTRIBUTION === 'skewed';
    // Artists, like songs, are skewed by their order: the first is the most played.
    this.artists = simulatedArtists(options).map((artist) => ({
      ...artist,
      cumulative: skewed ? zipfCumulative(artist.songs.length) : null,
    }));
    this.artistCumulative = skewed ? zipfCumulative(this.artists.length) : null;
    this.thisMonth = options.SIMULATOR_TIMESTAMPS === 'this-month';
    // Unseeded, Faker seeds itself randomly.
    if (options.SIMULATOR_SEED !== undefined) this.faker.seed(options.SIMULATOR_SEED);
  }

  /** The next play, timed `now` (or earlier in the month of `now`, with SIMULATOR_TIMESTAMPS=this-month). */
  next(now: number = Date.now()): SimulatedPlay {
    // With one artist, no draw for it, so a seeded run makes the same plays as before several artists.
    const artist =
      this.artists.length === 1
        ? this.artists[0]!
        : this.artists[this.pick(this.artists.length, this.artistCumulative)]!;
    const songId = this.pick(artist.songs.length, artist.cumulative);
    const time = this.thisMonth ? this.faker.number.int({ min: startOfMonth(now), max: now }) : now;
    return {
      user_id: this.faker.number.int({ min: USER_ID_MIN, max: USER_ID_MAX }),
      artist: artist.artist,
      song_id: songId,
      song_name: artist.songs[songId]!,
      event_type: 'song_completed',
      timestamp: formatTimestamp(time),
      event_id: this.faker.string.uuid(),
    };
  }

  /** `count` plays at once, all timed `now`. */
  batch(count: number, now: number = Date.now()): SimulatedPlay[] {
    return Array.from({ length: count }, () => this.next(now));
  }

  /** An index below `count`: by the cumulative weights, or uniform when there are none. */
  private pick(count: number, cumulative: Float64Array | null): number {
    if (cumulative === null) return this.faker.number.int({ min: 0, max: count - 1 });
    const x = this.faker.number.float({ min: 0, max: 1 });
    // Binary search: the first song whose cumulative weight exceeds x.
    let low = 0;
    let high = cumulative.length - 1;
    while (low < high) {
      const mid = (low + high) >> 1;
      if (x < cumulative[mid]!) high = mid;
      else low = mid + 1;
    }
    return low;
  }
}

/**
 * Zipf weights (1, 1/2, 1/3, ...) as a cumulative distribution: the first songs are the hits. With the
 * original ten, the first is played about 34% of the time and the last about 3%.
 */
export function zipfCumulative(count: number): Float64Array {
  const weights = Array.from({ length: count }, (_, rank) => 1 / (rank + 1));
  const total = weights.reduce((sum, weight) => sum + weight, 0);
  const cumulative = new Float64Array(count);
  let running = 0;
  weights.forEach((weight, i) => (cumulative[i] = running += weight / total));
  cumulative[count - 1] = 1; // no rounding gap at the top
  return cumulative;
}

/** `YYYY-MM-DD HH:MM:SS` in UTC: the original payload's timestamp. */
export function formatTimestamp(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
}

function startOfMonth(ms: number): number {
  const date = new Date(ms);
  return Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), 1);
}
