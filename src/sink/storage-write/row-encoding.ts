import { adapt, protos } from '@google-cloud/bigquery-storage';
import protobuf from 'protobufjs';
// Adds Type.fromDescriptor (as the client's own encoder uses it).
import 'protobufjs/ext/descriptor/index.js';
import type { Play } from '../../plays/play.js';
import { PLAY_TABLE_SCHEMA } from '../play-schema.js';
import type { RowEncoder, RowEncoding } from '../play-writer.js';

/**
 * The proto2 descriptor of a play row, derived from the plays table's schema by the client's own
 * `adapt` helpers (as its JSONWriter does): what the writer sends as its writer schema, and what
 * the rows below are encoded with.
 */
export const PLAY_ROW_DESCRIPTOR: protos.google.protobuf.IDescriptorProto = adapt
  .normalizeDescriptor(
    new protos.google.protobuf.DescriptorProto(
      adapt.convertStorageSchemaToProto2Descriptor(
        adapt.convertBigQuerySchemaToStorageTableSchema({ fields: PLAY_TABLE_SCHEMA }),
        'play_row',
      ),
    ),
  )
  // Plain JSON, as the managed writer sends it: message instances carry prototype defaults (e.g.
  // oneof_index 0) that the request's serializer would send, and BigQuery would refuse.
  .toJSON();

const PlayRow = (protobuf.Type as unknown as { fromDescriptor(descriptor: unknown): protobuf.Type }).fromDescriptor(
  protos.google.protobuf.DescriptorProto.fromObject(PLAY_ROW_DESCRIPTOR),
);

/** A TIMESTAMP column's value: microseconds since the epoch, from play.ts' `YYYY-MM-DDTHH:MM:SS.ffffffZ`. */
export function timestampMicros(iso: string): number {
  const micros = iso.length > 20 ? Number(iso.slice(20, 26).padEnd(6, '0')) : 0;
  return Date.parse(`${iso.slice(0, 19)}Z`) * 1000 + micros;
}

/**
 * A play as one protobuf row of an AppendRows request, in the plays table's columns. A pure
 * function of its inputs, so it runs on a decoder thread; protobufjs' generated encoder does the
 * bytes (no hand-written encoding).
 */
export class ProtoRowEncoder implements RowEncoder {
  private readonly ingestedAt: number;

  constructor(
    private readonly topic: string,
    private readonly partition: number,
    ingestedAt: string,
  ) {
    this.ingestedAt = Date.parse(ingestedAt) * 1000;
  }

  row(play: Play, offset: string): Uint8Array {
    return PlayRow.encode({
      user_id: play.user_id,
      artist: play.artist,
      song_id: play.song_id,
      song_name: play.song_name,
      event_type: play.event_type,
      timestamp: timestampMicros(play.timestamp),
      event_id: play.event_id,
      kafka_topic: this.topic,
      kafka_partition: this.partition,
      kafka_offset: Number(offset),
      ingested_at: this.ingestedAt,
    }).finish();
  }

  /** A row read back (for tests): int64 columns as numbers. */
  static decode(bytes: Uint8Array): Record<string, unknown> {
    return PlayRow.toObject(PlayRow.decode(bytes), { longs: Number });
  }
}

/** Storage Write rows: serialized protobuf messages, each appended as one of ProtoRows' serialized_rows. */
export const rowEncoding: RowEncoding = {
  // Never read: a request lists its rows one by one.
  separator: 0,
  createEncoder: (topic, partition, ingestedAt) => new ProtoRowEncoder(topic, partition, ingestedAt),
};
