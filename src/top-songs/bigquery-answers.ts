import { artistsSinceQuery, playsOverTimeQuery, tableRef, topSongsSinceQuery } from '../bigquery/play-queries.js';
import { compareNames } from '../live/name-order.js';
import { playsOverTimeFrame } from './plays-over-time-frame.js';
import type { BucketSpan } from './time-buckets.js';
import type { TopSongsQueryRunner } from './top-songs-query-runner.js';
import type { ArtistsAnswer, PlaysOverTimeAnswer, SongSeries, TopSongsAnswer } from './top-songs-answer.js';
import type { ArtistsRequest, PlaysOverTimeRequest, TopSongsRequest } from './top-songs-request.js';

type BigQueryTimestamp = { value: string } | null;
const iso = (timestamp: BigQueryTimestamp) => timestamp?.value ?? null;

/** The top-songs API's answers read from the plays table: one parameterised query an answer. */
export class BigQueryAnswers {
  /** The table as the queries name it. */
  private readonly table: string;

  constructor(
    private readonly runner: TopSongsQueryRunner,
    /** `project.dataset.table`, for answers. */
    private readonly tableId: string,
  ) {
    this.table = tableRef(tableId);
  }

  async topSongs(request: TopSongsRequest, sinceMs: number, now: number): Promise<TopSongsAnswer> {
    const since = new Date(sinceMs);
    const artist = request.artist;
    const songs = await this.runner.query<{
      song_name: string;
      total_plays: number;
      last_played_at: BigQueryTimestamp;
      all_plays: number;
      newest_play_at: BigQueryTimestamp;
    }>(topSongsSinceQuery(this.table, { artist: artist !== undefined }), { since, limit: request.limit, artist });
    return {
      table: this.tableId,
      artist: artist ?? null,
      window: request.window,
      window_seconds: request.windowSeconds,
      since: since.toISOString(),
      limit: request.limit,
      total_plays: Number(songs[0]?.all_plays ?? 0),
      newest_play_at: iso(songs[0]?.newest_play_at ?? null),
      songs: songs.map((song) => ({
        song_name: song.song_name,
        total_plays: Number(song.total_plays),
        last_played_at: iso(song.last_played_at),
      })),
      queried_at: new Date(now).toISOString(),
      source: 'bigquery',
    };
  }

  async artists(request: ArtistsRequest, sinceMs: number, now: number): Promise<ArtistsAnswer> {
    const since = new Date(sinceMs);
    const rows = await this.runner.query<{
      artist: string;
      total_plays: number;
      last_played_at: BigQueryTimestamp;
      artists: number;
    }>(artistsSinceQuery(this.table), { since, limit: request.limit });
    return {
      table: this.tableId,
      window: request.window,
      window_seconds: request.windowSeconds,
      since: since.toISOString(),
      limit: request.limit,
      total_artists: Number(rows[0]?.artists ?? 0),
      artists: rows.map((row) => ({
        artist: row.artist,
        total_plays: Number(row.total_plays),
        last_played_at: iso(row.last_played_at),
      })),
      queried_at: new Date(now).toISOString(),
      source: 'bigquery',
    };
  }

  async playsOverTime(request: PlaysOverTimeRequest, span: BucketSpan, now: number): Promise<PlaysOverTimeAnswer> {
    const artist = request.artist;
    const rows = await this.runner.query<{
      song_name: string;
      song_plays: number;
      all_plays: number;
      bucket: number;
      plays: number;
    }>(playsOverTimeQuery(this.table, { artist: artist !== undefined }), {
      since: new Date(span.since),
      until: new Date(span.until),
      songs: request.songs,
      bucket_seconds: span.bucketSeconds,
      artist,
    });
    const series = new Map<string, SongSeries>();
    for (const row of rows) {
      let song = series.get(row.song_name);
      if (song === undefined) {
        song = {
          song_name: row.song_name,
          total_plays: Number(row.song_plays),
          plays: new Array<number>(span.count).fill(0),
        };
        series.set(row.song_name, song);
      }
      song.plays[Number(row.bucket)]! += Number(row.plays);
    }
    return {
      ...playsOverTimeFrame(this.tableId, request, span, now),
      total_plays: Number(rows[0]?.all_plays ?? 0),
      // BigQuery's order: most played first, ties by name in UTF-8 byte order.
      series: [...series.values()].sort(
        (a, b) => b.total_plays - a.total_plays || compareNames(a.song_name, b.song_name),
      ),
      source: 'bigquery',
    };
  }
}
