import protobuf from 'protobufjs';
// Adds Type.fromDescriptor (as the client's own JSON encoder uses it).
import descriptor from 'protobufjs/ext/descriptor/index.js';
import { timestampMicros, type Play } from '../../plays/play.js';
import type { RowEncoder, RowEncoding } from '../writer.contract.js';

type Descriptor = Record<string, unknown>;

/**
 * A play as one protobuf row of an AppendRows request, in the plays table's columns. A pure
 * function of its inputs, so it runs on a decoder thread; protobufjs' generated encoder makes the
 * bytes from the writer's descriptor (no hand-written encoding).
 */
export class ProtoRowEncoder implements RowEncoder {
  private readonly ingestedAt: number;

  constructor(
    private readonly type: protobuf.Type,
    private readonly topic: string,
    private readonly partition: number,
    ingestedAt: string,
  ) {
    this.ingestedAt = Date.parse(ingestedAt) * 1000;
  }

  row(play: Play, offset: string): Uint8Array {
    return this.type
      .encode({
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
      })
      .finish();
  }
}

/** The protobufjs type of a row, from the descriptor (as JSON) the writer sends as its writer schema. */
export function rowType(rowDescriptor: Descriptor): protobuf.Type {
  const proto = descriptor.DescriptorProto.fromObject(rowDescriptor);
  return (protobuf.Type as unknown as { fromDescriptor(proto: protobuf.Message): protobuf.Type }).fromDescriptor(proto);
}

/**
 * Storage Write rows: serialized protobuf messages, each one of ProtoRows' serialized_rows. Made
 * from the writer's descriptor (play-row-descriptor.ts, passed here as JSON), so a decoder thread
 * loads protobufjs only, not the client library.
 */
export function createRowEncoding(rowDescriptor: unknown): RowEncoding {
  const type = rowType(rowDescriptor as Descriptor);
  return {
    // Never read: a request lists its rows one by one.
    separator: 0,
    createEncoder: (topic, partition, ingestedAt) => new ProtoRowEncoder(type, topic, partition, ingestedAt),
  };
}
