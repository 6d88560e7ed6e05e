import type { LiveView } from '../live/live-view.js';
import type { BucketSpan } from './time-buckets.js';
import { playsOverTimeFrame } from './plays-over-time-frame.js';
import type { ArtistsAnswer, PlaysOverTimeAnswer, TopSongsAnswer } from './top-songs-answer.js';
import type { ArtistsRequest, PlaysOverTimeRequest, TopSongsRequest } from './top-songs-request.js';

/** Microseconds since the epoch as ISO-8601 with six decimals, as BigQuery writes a TIMESTAMP. */
const isoMicros = (micros: number): string =>
  new Date(Math.floor(micros / 1_000)).toISOString().replace('Z', `${String(micros % 1_000).padStart(3, '0')}Z`);

/**
 * The top-songs API's answers counted from the live view in memory, for windows it holds; shaped as
 * BigQuery's, timestamps to the microsecond as BigQuery writes them.
 */
export class LiveAnswers {
  constructor(
    private readonly live: LiveView,
    /** `project.dataset.table`: the table the answers stand for. */
    private readonly tableId: string,
  ) {}

  topSongs(request: TopSongsRequest, since: number, now: number): TopSongsAnswer {
    const answer = this.live.tally.topSongs({ sinceMinuteMs: since, artist: request.artist, limit: request.limit });
    return {
      table: this.tableId,
      artist: request.artist ?? null,
      window: request.window,
      window_seconds: request.windowSeconds,
      since: new Date(since).toISOString(),
      limit: request.limit,
      total_plays: answer.total_plays,
      newest_play_at: answer.newest_play_at === null ? null : isoMicros(answer.newest_play_at),
      songs: answer.songs.map((song) => ({
        song_name: song.song_name,
        total_plays: song.total_plays,
        last_played_at: isoMicros(song.last_played_at),
      })),
      queried_at: new Date(now).toISOString(),
      source: 'live',
    };
  }

  artists(request: ArtistsRequest, since: number, now: number): ArtistsAnswer {
    const answer = this.live.tally.artists({ sinceMinuteMs: since, limit: request.limit });
    return {
      table: this.tableId,
      window: request.window,
      window_seconds: request.windowSeconds,
      since: new Date(since).toISOString(),
      limit: request.limit,
      total_artists: answer.total_artists,
      artists: answer.artists.map((artist) => ({ ...artist, last_played_at: isoMicros(artist.last_played_at) })),
      queried_at: new Date(now).toISOString(),
      source: 'live',
    };
  }

  playsOverTime(request: PlaysOverTimeRequest, span: BucketSpan, now: number): PlaysOverTimeAnswer {
    const answer = this.live.tally.playsOverTime({
      sinceMs: span.since,
      untilMs: span.until,
      bucketSeconds: span.bucketSeconds,
      songs: request.songs,
      artist: request.artist,
    });
    return {
      ...playsOverTimeFrame(this.tableId, request, span, now),
      total_plays: answer.total_plays,
      series: answer.series,
      source: 'live',
    };
  }
}
