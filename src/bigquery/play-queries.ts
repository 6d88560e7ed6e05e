// Standard SQL over the plays table, shared by the table's top-songs view (sink) and the top-songs API.
// Identifiers come from validated configuration (project, dataset and table ids); every value a
// caller supplies is a query parameter.

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

const PER_SONG = `song_name, COUNT(DISTINCT ${DISTINCT_PLAY}) AS total_plays, MAX(timestamp) AS last_played_at`;

/** All-time plays per song, for Looker Studio: `song_name`, `total_plays`, `last_played_at`. */
export function topSongsViewQuery(table: string): string {
  return `SELECT ${PER_SONG} FROM ${table} GROUP BY song_name`;
}

/** Plays per song since `@since` (TIMESTAMP), most played first, at most `@limit` (INT64) songs. */
export function topSongsSinceQuery(table: string): string {
  return (
    `SELECT ${PER_SONG} FROM ${table} WHERE timestamp >= @since ` +
    'GROUP BY song_name ORDER BY total_plays DESC, song_name LIMIT @limit'
  );
}

/** All plays since `@since` (TIMESTAMP) and the newest one's time: `total_plays`, `newest_play_at`. */
export function playTotalsSinceQuery(table: string): string {
  return (
    `SELECT COUNT(DISTINCT ${DISTINCT_PLAY}) AS total_plays, MAX(timestamp) AS newest_play_at ` +
    `FROM ${table} WHERE timestamp >= @since`
  );
}
