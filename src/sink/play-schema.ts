import type { TableField } from '@google-cloud/bigquery';

/**
 * The plays table: the payload's own column names, proper types, and where each row came from.
 * Its own module (types only from the client), so a decoder thread can derive row encodings from it.
 */
export const PLAY_TABLE_SCHEMA: TableField[] = [
  { name: 'user_id', type: 'INT64', mode: 'REQUIRED' },
  { name: 'artist', type: 'STRING', mode: 'REQUIRED' },
  { name: 'song_id', type: 'INT64', mode: 'REQUIRED' },
  { name: 'song_name', type: 'STRING', mode: 'REQUIRED' },
  { name: 'event_type', type: 'STRING', mode: 'REQUIRED' },
  { name: 'timestamp', type: 'TIMESTAMP', mode: 'REQUIRED', description: 'When the play completed (UTC).' },
  { name: 'event_id', type: 'STRING', mode: 'NULLABLE', description: "The producer's event id, when it sent one." },
  { name: 'kafka_topic', type: 'STRING', mode: 'REQUIRED' },
  { name: 'kafka_partition', type: 'INT64', mode: 'REQUIRED' },
  { name: 'kafka_offset', type: 'INT64', mode: 'REQUIRED' },
  { name: 'ingested_at', type: 'TIMESTAMP', mode: 'REQUIRED', description: 'When plays-pipeline wrote the row.' },
];
