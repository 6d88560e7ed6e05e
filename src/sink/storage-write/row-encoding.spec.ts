import { ProtoRowEncoder, timestampMicros } from './row-encoding.js';

describe('ProtoRowEncoder', () => {
  const encoder = new ProtoRowEncoder('tony-allen-plays', 3, '2026-11-25T07:00:00.250Z');
  const play = {
    user_id: 45213,
    artist: 'tony-allen',
    song_id: 3,
    song_name: 'kindness',
    event_type: 'song_completed' as const,
    timestamp: '2022-11-03T07:22:13.123456Z',
  };

  it("encodes a play as the plays table's row, TIMESTAMP columns as microseconds since the epoch", () => {
    expect(ProtoRowEncoder.decode(encoder.row(play, '42'))).toEqual({
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
    });
  });

  it('keeps the event id when the play has one, and leaves it out (NULL) when not', () => {
    expect(ProtoRowEncoder.decode(encoder.row({ ...play, event_id: 'e-1' }, '0')).event_id).toBe('e-1');
    expect(ProtoRowEncoder.decode(encoder.row(play, '0'))).not.toHaveProperty('event_id');
  });

  it('reads timestamps to the microsecond', () => {
    expect(timestampMicros('1970-01-01T00:00:01.000001Z')).toBe(1_000_001);
    expect(timestampMicros('2022-11-03T07:22:13.000000Z')).toBe(Date.UTC(2022, 10, 3, 7, 22, 13) * 1000);
  });
});
