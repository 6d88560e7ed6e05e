import encoderModule from '@google-cloud/bigquery-storage/build/src/managedwriter/encoder.js';
import protos from '@google-cloud/bigquery-storage/build/protos/protos.js';
import { PLAY_ROW_DESCRIPTOR } from './play-row-descriptor.js';
import { timestampMicros } from '../../plays/play.js';
import { createRowEncoding, rowType } from './row-encoding.js';

const PlayRow = rowType(PLAY_ROW_DESCRIPTOR as Record<string, unknown>);
const read = (bytes: Uint8Array) => PlayRow.toObject(PlayRow.decode(bytes), { longs: Number });

describe('storage-write row encoding', () => {
  const encoder = createRowEncoding(PLAY_ROW_DESCRIPTOR).createEncoder(
    'tony-allen-plays',
    3,
    '2026-11-25T07:00:00.250Z',
  );
  const play = {
    user_id: 45213,
    artist: 'tony-allen',
    song_id: 3,
    song_name: 'kindness',
    event_type: 'song_completed' as const,
    timestamp: '2022-11-03T07:22:13.123456Z',
  };
  const expected = {
    user_id: 45213,
    artist: 'tony-allen',
    song_id: 3,
    song_name: 'kindness',
    event_type: 'song_completed',
    timestamp: Date.UTC(2022, 10, 3, 7, 22, 13) * 1000 + 123456,
    kafka_topic: 'tony-allen-plays',
    kafka_partition: 3,
    kafka_offset: 42,
    ingested_at: Date.UTC(2026, 10, 25, 7) * 1000 + 250_000,
  };

  it("encodes a play as the plays table's row, TIMESTAMP columns as microseconds since the epoch", () => {
    expect(read(encoder.row(play, '42') as Uint8Array)).toEqual(expected);
  });

  it("makes the same bytes as the client library's own encoder (the managed writer's JSONEncoder)", () => {
    const library = new encoderModule.JSONEncoder({
      protoDescriptor: protos.google.protobuf.DescriptorProto.fromObject(PLAY_ROW_DESCRIPTOR),
    });
    const [theirs] = library.encodeRows([{ ...expected, event_id: 'e-1' }]);
    expect(Buffer.from(encoder.row({ ...play, event_id: 'e-1' }, '42'))).toEqual(Buffer.from(theirs!));
  });

  it('keeps the event id when the play has one, and leaves it out (NULL) when not', () => {
    expect(read(encoder.row({ ...play, event_id: 'e-1' }, '0') as Uint8Array).event_id).toBe('e-1');
    expect(read(encoder.row(play, '0') as Uint8Array)).not.toHaveProperty('event_id');
  });

  it('reads timestamps to the microsecond', () => {
    expect(timestampMicros('1970-01-01T00:00:01.000001Z')).toBe(1_000_001);
    expect(timestampMicros('2022-11-03T07:22:13.000000Z')).toBe(Date.UTC(2022, 10, 3, 7, 22, 13) * 1000);
  });

  it('sends a writer schema with the columns only: no prototype defaults such as oneof_index', () => {
    expect(JSON.stringify(PLAY_ROW_DESCRIPTOR)).not.toMatch(/oneofIndex|defaultValue|extendee/);
    const fields = (PLAY_ROW_DESCRIPTOR.field ?? []).map((f) => [f.name, f.type, f.label]);
    expect(fields).toContainEqual(['timestamp', 'TYPE_INT64', 'LABEL_REQUIRED']);
    expect(fields).toContainEqual(['event_id', 'TYPE_STRING', 'LABEL_OPTIONAL']);
  });
});
