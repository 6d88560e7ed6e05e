// Standard SQL over the plays table, shared by the table's top-songs view (sink) and the top-songs API.
// Identifiers come from validated configuration (project, dataset and table ids); every value a
// caller supplies is a query parameter. Each API query filters on `timestamp`, the partitioning
// column, so BigQuery can prune to the window's partitions; an artist filter also uses the clustering
// on `artist`. The forms used are ones the BigQuery emulator runs too (checked by the tests).

/** A table's fully qualified id, `project.dataset.table`. */
export function tableId(projectId: string, dataset: string, table: string): string {
  return `${projectId}.${dataset}.${table}`;
}

/** A table id quoted for standard SQL. */
export const tableRef = (id: string) => `\`${id}\``;

/** The name of the top-songs view that is created beside a plays table. */
export const topSongsViewName = (table: string) => `${table}_top_songs`;

/**
 * One value per play, however often its row was written: the play's event_id, else where it came
 * from in Kafka. This is the row's insertId (plays/source-message.ts insertIdOf), so a row that
 * BigQuery's best-effort de-duplication let through twice (a redelivery after a crash, outside its
 * one-minute window) is still counted once.
 */
const DISTINCT_PLAY =
  "COALESCE(event_id, CONCAT(kafka_topic, '/', CAST(kafka_partition AS STRING), '/', CAST(kafka_offset AS STRING)))";
const PLAYS = `COUNT(DISTINCT ${DISTINCT_PLAY})`;

/**
 * The rows a question reads: the window (`@since`, and `@until` when bounded) and, with `artist`, one
 * artist's plays (`@artist`). The SQL text varies only by which filters apply, never by a value.
 */
function where(filter: { artist: boolean; until?: boolean }): string {
  return [
    'timestamp >= @since',
    ...(filter.until === true ? ['timestamp < @until'] : []),
    ...(filter.artist ? ['artist = @artist'] : []),
  ].join(' AND ');
}

/**
 * All-time plays per artist and song, for Looker Studio: `artist`, `song_name`, `total_plays`,
 * `last_played_at`. The same song name under two artists stays two rows.
 */
export function topSongsViewQuery(table: string): string {
  return (
    `SELECT artist, song_name, ${PLAYS} AS total_plays, MAX(timestamp) AS last_played_at ` +
    `FROM ${table} GROUP BY artist, song_name`
  );
}

/**
 * Plays per song since `@since` (TIMESTAMP), of `@artist` (STRING) when `artist`, most played first,
 * at most `@limit` (INT64) songs; each row also carries the window's totals over every song
 * (`all_plays`, `newest_play_at`), so one query answers both. No row: no play in the window.
 */
export function topSongsSinceQuery(table: string, filter: { artist: boolean }): string {
  return (
    `SELECT song_name, ${PLAYS} AS total_plays, MAX(timestamp) AS last_played_at, ` +
    `SUM(${PLAYS}) OVER () AS all_plays, MAX(MAX(timestamp)) OVER () AS newest_play_at ` +
    `FROM ${table} WHERE ${where(filter)} ` +
    'GROUP BY song_name ORDER BY total_plays DESC, song_name LIMIT @limit'
  );
}

/**
 * Plays per artist since `@since` (TIMESTAMP), most played first, at most `@limit` (INT64) artists;
 * `artists` on each row counts every artist with plays in the window.
 */
export function artistsSinceQuery(table: string): string {
  return (
    `SELECT artist, ${PLAYS} AS total_plays, MAX(timestamp) AS last_played_at, COUNT(*) OVER () AS artists ` +
    `FROM ${table} WHERE ${where({ artist: false })} ` +
    'GROUP BY artist ORDER BY total_plays DESC, artist LIMIT @limit'
  );
}

/**
 * Plays per time bucket for the `@songs` (INT64) most played songs in [`@since`, `@until`) (TIMESTAMPs),
 * of `@artist` when `artist`: one row per song and bucket that has plays, `bucket` being the bucket's
 * index from `@since` in `@bucket_seconds` (INT64). `song_plays` is the song's plays in the window,
 * `all_plays` every song's. Buckets without plays have no row; the caller fills in the zeros.
 */
export function playsOverTimeQuery(table: string, filter: { artist: boolean }): string {
  // The table is read once: a CTE named twice (the top songs, then their buckets) is run, and billed,
  // twice. So each play is kept once per song with its timestamp (the earliest, should its rows
  // differ), counted per bucket, and the songs' totals and ranks come from window functions over
  // those counts. DIV over TIMESTAMP_DIFF, not TIMESTAMP_BUCKET: both BigQuery and the emulator run it
  // the same (the emulator drops the parentheses of DIV(a - b, c)).
  return (
    `WITH plays AS (SELECT song_name, MIN(timestamp) AS played_at FROM ${table} ` +
    `WHERE ${where({ ...filter, until: true })} GROUP BY song_name, ${DISTINCT_PLAY}), ` +
    'buckets AS (SELECT song_name, DIV(TIMESTAMP_DIFF(played_at, @since, SECOND), @bucket_seconds) AS bucket, ' +
    'COUNT(*) AS plays, SUM(COUNT(*)) OVER (PARTITION BY song_name) AS song_plays, ' +
    'SUM(COUNT(*)) OVER () AS all_plays FROM plays GROUP BY song_name, bucket), ' +
    'ranked AS (SELECT song_name, song_plays, all_plays, bucket, plays, ' +
    'DENSE_RANK() OVER (ORDER BY song_plays DESC, song_name) AS song_rank FROM buckets) ' +
    'SELECT song_name, song_plays, all_plays, bucket, plays FROM ranked WHERE song_rank <= @songs'
  );
}
