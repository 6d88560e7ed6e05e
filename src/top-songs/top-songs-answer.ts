// The top-songs API's answers, as GET /api/top-songs, /api/artists and /api/plays-over-time return them.

export interface SongPlays {
  song_name: string;
  total_plays: number;
  /** ISO-8601, UTC. */
  last_played_at: string | null;
}

/** What every answer says about the question it answers. */
export interface WindowAnswer {
  table: string;
  window: string;
  window_seconds: number;
  /** When BigQuery was asked (answers are reused for DASHBOARD_CACHE_MS), or when the live view answered. */
  queried_at: string;
  /** `live`: counted from the live view in memory; `bigquery`: a query of the table. */
  source: 'live' | 'bigquery';
}

/** Plays per song over a window, as GET /api/top-songs answers. */
export interface TopSongsAnswer extends WindowAnswer {
  /** The artist asked about; null: every artist. */
  artist: string | null;
  /** The window's start (ISO-8601, UTC), a whole minute: plays whose timestamp is at or after it count. */
  since: string;
  limit: number;
  /** Every play in the window (of the artist), not only the listed songs'. */
  total_plays: number;
  /** The newest play's timestamp in the window, or null when there is none. */
  newest_play_at: string | null;
  /** Most played first; ties by name. */
  songs: SongPlays[];
}

export interface ArtistPlays {
  artist: string;
  total_plays: number;
  last_played_at: string | null;
}

/** Plays per artist over a window, as GET /api/artists answers. */
export interface ArtistsAnswer extends WindowAnswer {
  since: string;
  limit: number;
  /** Every artist with plays in the window, listed or not. */
  total_artists: number;
  /** Most played first; ties by name. */
  artists: ArtistPlays[];
}

/** One song's plays per bucket. */
export interface SongSeries {
  song_name: string;
  /** The song's plays in the whole span: the sum of `plays`. */
  total_plays: number;
  /** Plays per bucket, in the order of `buckets`, zeros included. */
  plays: number[];
}

/** The top songs' plays per time bucket, as GET /api/plays-over-time answers. */
export interface PlaysOverTimeAnswer extends WindowAnswer {
  artist: string | null;
  /** How many top songs were asked for. */
  songs: number;
  /** The bucket size, e.g. `1m`, and in seconds. */
  bucket: string;
  bucket_seconds: number;
  /** Start of the first bucket (ISO-8601, UTC): the buckets are aligned on multiples of their size. */
  since: string;
  /** End of the last bucket, exclusive: the last bucket holds `queried_at`. */
  until: string;
  /** Each bucket's start, oldest first; every bucket of the span is here. */
  buckets: string[];
  /** Every play from `since` to `until` (of the artist), not only the top songs'. */
  total_plays: number;
  /** The span's most played songs, most played first; ties by name. */
  series: SongSeries[];
}
