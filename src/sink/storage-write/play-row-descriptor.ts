import type { protos } from './client-parts.js';

/**
 * The proto2 descriptor of a play row: the writer schema of every AppendRows connection, and (through
 * the decoder threads' workerData) what the rows are encoded with. It is exactly what the client's own
 * `adapt` helpers derive from the plays table's schema (PLAY_TABLE_SCHEMA; TIMESTAMP as int64
 * microseconds), as plain JSON: play-row-descriptor.spec.ts derives it with them and fails when the
 * two differ (a changed schema: paste the derived value here).
 *
 * Written out rather than derived at start-up: adapt needs the client's generated protos module,
 * about 24 MB of RSS for the life of the process (measured on Node 24), for this one constant.
 * And plain JSON rather than a DescriptorProto instance: an instance carries prototype defaults
 * (oneof_index 0 on every field) that the request's serializer sends and BigQuery refuses.
 */
export const PLAY_ROW_DESCRIPTOR: protos.google.protobuf.IDescriptorProto = {
  name: 'play_row',
  field: [
    { name: 'user_id', number: 1, label: 'LABEL_REQUIRED', type: 'TYPE_INT64', options: {} },
    { name: 'artist', number: 2, label: 'LABEL_REQUIRED', type: 'TYPE_STRING', options: {} },
    { name: 'song_id', number: 3, label: 'LABEL_REQUIRED', type: 'TYPE_INT64', options: {} },
    { name: 'song_name', number: 4, label: 'LABEL_REQUIRED', type: 'TYPE_STRING', options: {} },
    { name: 'event_type', number: 5, label: 'LABEL_REQUIRED', type: 'TYPE_STRING', options: {} },
    { name: 'timestamp', number: 6, label: 'LABEL_REQUIRED', type: 'TYPE_INT64', options: {} },
    { name: 'event_id', number: 7, label: 'LABEL_OPTIONAL', type: 'TYPE_STRING', options: {} },
    { name: 'kafka_topic', number: 8, label: 'LABEL_REQUIRED', type: 'TYPE_STRING', options: {} },
    { name: 'kafka_partition', number: 9, label: 'LABEL_REQUIRED', type: 'TYPE_INT64', options: {} },
    { name: 'kafka_offset', number: 10, label: 'LABEL_REQUIRED', type: 'TYPE_INT64', options: {} },
    { name: 'ingested_at', number: 11, label: 'LABEL_REQUIRED', type: 'TYPE_INT64', options: {} },
  ],
};
