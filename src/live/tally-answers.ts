// What LiveTally answers: the rows of the BigQuery queries it stands in for (bigquery/play-queries.ts),
// timestamps in microseconds since the epoch.

export interface LiveSongPlays {
  song_name: string;
  total_plays: number;
  /** Microseconds since the epoch. */
  last_played_at: number;
}

export interface LiveTopSongs {
  /** Every play of the window (of the artist), not only the listed songs'. */
  total_plays: number;
  /** Newest play of the window (µs), null when it has none. */
  newest_play_at: number | null;
  songs: LiveSongPlays[];
}

export interface LiveArtists {
  total_artists: number;
  artists: { artist: string; total_plays: number; last_played_at: number }[];
}

export interface LivePlaysOverTime {
  /** Every play of [since, until) (of the artist), not only the top songs'. */
  total_plays: number;
  /** The top songs, most played first; `plays` per bucket from `since`, zeros included. */
  series: { song_name: string; total_plays: number; plays: number[] }[];
}
