import { badPlays, ORIGINAL_PLAY } from '../../test/support/bad-plays.js';
import { decodePlay, type Play } from '../plays/play.js';
import { createRowEncoding as insertAllRows, encodePlayRow } from '../sink/insert-all/row-encoding.js';
import { PLAY_ROW_DESCRIPTOR } from '../sink/storage-write/play-row-descriptor.js';
import { createRowEncoding as storageWriteRows, rowType } from '../sink/storage-write/row-encoding.js';

const jsonRows = insertAllRows();
const protoRows = storageWriteRows(PLAY_ROW_DESCRIPTOR);
const PlayRow = rowType(PLAY_ROW_DESCRIPTOR as Record<string, unknown>);
import { decodeBatch, freeBytes, offsetOf, packBatch, valueOf } from './play-batch.js';

describe('packBatch + decodeBatch (what crosses to the decoder thread and back)', () => {
  const now = new Date();
  const recent = now.toISOString().slice(0, 19).replace('T', ' ');
  const play = (overrides: Record<string, unknown>) =>
    Buffer.from(JSON.stringify({ ...ORIGINAL_PLAY, timestamp: recent, ...overrides }));
  const values: (Buffer | null)[] = [
    play({}),
    ...badPlays(now).map((bad) => bad.value),
    play({ event_id: 'e-1', song_name: 'ünïcødé "quoted" \\ name' }),
    null,
    play({ song_id: 7, song_name: 'upside-down' }),
  ];
  const sentAt = String(now.getTime());
  const messages = values.map((value, i) => ({ offset: String(1_000 + i), timestamp: sentAt, value }));
  const ingestedAt = '2026-11-25T07:00:00.000Z';
  const rowsOf = (decoded: ReturnType<typeof decodeBatch>) => {
    const rows = Buffer.from(decoded.rows);
    return [...decoded.rowEnds].map((end, k) =>
      rows.subarray(k === 0 ? 0 : decoded.rowEnds[k - 1]! + 1, end).toString(),
    );
  };

  it('gives each message the row encodePlayRow makes of it, or decodePlay’s reason', () => {
    const decoded = decodeBatch(packBatch('plays', 4, messages, ingestedAt), jsonRows);
    const rows = rowsOf(decoded);
    const invalid = new Map(decoded.invalid.map((entry) => [entry.index, entry]));
    let k = 0;
    messages.forEach(({ offset, value }, i) => {
      const expected = decodePlay(value, now.getTime());
      if (!expected.ok) {
        expect(invalid.get(i), `message ${i}`).toEqual({ index: i, reason: expected.reason, detail: expected.detail });
        return;
      }
      expect(invalid.has(i)).toBe(false);
      expect(decoded.rowMessages[k]).toBe(i);
      const row = rows[k++]!;
      expect(row).toBe(encodePlayRow(expected.play, { topic: 'plays', partition: 4, offset }, ingestedAt));
      expect(JSON.parse(row)).toMatchObject({ json: { kafka_partition: 4, kafka_offset: Number(offset) } });
    });
    expect(k).toBe(3);
    expect(decoded.invalid).toHaveLength(messages.length - 3);
    // The rows are comma-joined, so a run of them is a piece of an insertAll body as it is.
    expect(JSON.parse(`[${Buffer.from(decoded.rows).toString()}]`)).toHaveLength(3);
    expect(decoded.rowEnds.at(-1)).toBe(decoded.rows.length);
  });

  it("encodes rows in the writer's format: protobuf rows for the Storage Write API, the same plays", () => {
    const decoded = decodeBatch(packBatch('plays', 4, messages, ingestedAt), protoRows);
    const rows = [...decoded.rowEnds].map((end, k) =>
      Buffer.from(decoded.rows).subarray(k === 0 ? 0 : decoded.rowEnds[k - 1]! + 1, end),
    );
    expect([...decoded.rowMessages]).toEqual([0, messages.length - 3, messages.length - 1]);
    const read = rows.map((row) => PlayRow.toObject(PlayRow.decode(row), { longs: Number }));
    expect(read.map((row): unknown[] => [row.song_name, row.event_id, row.kafka_offset])).toEqual([
      ['kindness', undefined, 1_000],
      ['ünïcødé "quoted" \\ name', 'e-1', 1_000 + messages.length - 3],
      ['upside-down', undefined, 1_000 + messages.length - 1],
    ]);
    rows.forEach((row, k) => {
      const expected = decodePlay(messages[decoded.rowMessages[k]!]!.value, now.getTime());
      if (!expected.ok) throw new Error('a row of a message that is not a play');
      const offset = messages[decoded.rowMessages[k]!]!.offset;
      expect(row).toEqual(Buffer.from(protoRows.createEncoder('plays', 4, ingestedAt).row(expected.play, offset)));
    });
  });

  it('keeps multi-byte characters whole across row boundaries', () => {
    const decoded = decodeBatch(packBatch('plays', 0, messages, ingestedAt), jsonRows);
    const names = rowsOf(decoded).map((row) => (JSON.parse(row) as { json: { song_name: string } }).json.song_name);
    expect(names).toEqual(['kindness', 'ünïcødé "quoted" \\ name', 'upside-down']);
  });

  it('gives back each message’s offset and value byte for byte, tombstones as null', () => {
    // As kafkajs gives them (views into one response buffer), and each in a buffer of its own.
    const response = Buffer.concat(values.filter((value) => value !== null));
    let at = 0;
    const views = messages.map(({ offset, value }) => ({
      offset,
      timestamp: sentAt,
      value: value === null ? null : response.subarray(at, (at += value.length)),
    }));
    const separate = messages.map(({ offset, value }) => ({
      offset,
      timestamp: sentAt,
      value: value === null ? null : Buffer.from(new Uint8Array(value).buffer),
    }));
    for (const batch of [views, separate]) {
      const packed = packBatch('plays', 0, batch, ingestedAt);
      messages.forEach(({ offset, value }, i) => {
        expect(offsetOf(packed, i)).toBe(offset);
        const kept = valueOf(packed, i);
        expect(kept === null ? null : Buffer.compare(kept, value!)).toBe(value === null ? null : 0);
      });
      expect(decodeBatch(packed, jsonRows).rowMessages).toEqual(
        decodeBatch(packBatch('plays', 0, messages, ingestedAt), jsonRows).rowMessages,
      );
    }
  });

  it("counts the live view's plays only when asked: per offset of the batch's span, a key of (minute, artist, song) or -1", () => {
    expect(decodeBatch(packBatch('plays', 0, messages, ingestedAt), jsonRows).plays).toBeNull();
    const minute = Math.floor(Date.parse(`${recent.replace(' ', 'T')}Z`) / 60_000) * 60;
    // Offsets with a gap (a transaction marker at 1,001): the span covers it, as not a play.
    const spaced = [
      { offset: '1000', timestamp: sentAt, value: play({}) },
      { offset: '1002', timestamp: sentAt, value: play({ song_name: 'lady' }) },
      { offset: '1003', timestamp: sentAt, value: Buffer.from('not json') },
      { offset: '1004', timestamp: sentAt, value: play({ timestamp: `${recent}.25` }) },
      { offset: '1005', timestamp: sentAt, value: play({ artist: 'fela-kuti' }) },
      // Names that would meet under a separator: still two keys.
      { offset: '1006', timestamp: sentAt, value: play({ artist: 'a\u0000b', song_name: 'c' }) },
      { offset: '1007', timestamp: sentAt, value: play({ artist: 'a', song_name: 'b\u0000c' }) },
    ];
    const { plays } = decodeBatch(packBatch('plays', 0, spaced, ingestedAt), protoRows, { plays: true });
    expect(plays!.first).toBe(1000);
    expect(plays!.keys).toEqual([
      { minute, artist: ORIGINAL_PLAY.artist, song: ORIGINAL_PLAY.song_name },
      { minute, artist: ORIGINAL_PLAY.artist, song: 'lady' },
      { minute, artist: 'fela-kuti', song: ORIGINAL_PLAY.song_name },
      { minute, artist: 'a\u0000b', song: 'c' },
      { minute, artist: 'a', song: 'b\u0000c' },
    ]);
    expect([...plays!.groups]).toEqual([0, -1, 1, -1, 0, 2, 3, 4]);
    const micros = Date.parse(`${recent.replace(' ', 'T')}Z`) * 1000;
    expect([...plays!.micros]).toEqual([micros, 0, micros, 0, micros + 250_000, micros, micros, micros]);
  });

  it('frees a done batch at once, and never reads its values after that', () => {
    const packed = packBatch('plays', 0, messages, ingestedAt);
    const decoded = decodeBatch(packed, jsonRows);
    expect(packed.values.buffer.byteLength).toBeGreaterThan(0);
    freeBytes(packed.values);
    freeBytes(decoded.rows);
    expect(packed.values.buffer.byteLength).toBe(0);
    expect(decoded.rows.byteLength).toBe(0);
    // A dead letter made of a freed batch would carry an empty value: it throws instead.
    expect(() => valueOf(packed, 0)).toThrow(/freed/);
    // Freeing twice does nothing.
    expect(() => freeBytes(packed.values)).not.toThrow();
  });

  it('packs each message’s Kafka timestamp, in the batch’s one buffer, across to the decoder thread', () => {
    const packed = packBatch(
      'plays',
      0,
      [
        { offset: '0', timestamp: '1667460133000', value: play({}) },
        { offset: '1', timestamp: '-1', value: null },
        // A message of the oldest format has no timestamp at all.
        { offset: '2', timestamp: undefined as unknown as string, value: play({}) },
      ],
      ingestedAt,
    );
    expect([...packed.timestamps]).toEqual([1667460133000, -1, Number.NaN]);
    // What a worker thread receives (piscina posts the batch: a structured clone).
    expect([...structuredClone(packed).timestamps]).toEqual([1667460133000, -1, Number.NaN]);
    freeBytes(packed.values);
    expect(packed.timestamps).toHaveLength(0);
  });

  it('judges each play against its own message’s Kafka timestamp, the same whatever the clock says', () => {
    const year = 365 * 86_400_000;
    const played = Date.parse('2022-11-03T07:22:13Z');
    const value = Buffer.from(JSON.stringify(ORIGINAL_PLAY));
    const sent = [
      played + 5 * year, // the play is 5 years old: a play
      played + 5 * year + 1, // a millisecond more: too old
      played - year, // the play is a year ahead: a play
      played - year - 1, // a millisecond more: too far ahead
      -1, // no timestamp: no window check
    ];
    const batch = sent.map((ms, i) => ({ offset: String(i), timestamp: String(ms), value }));
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      for (const clock of [played, played + 5 * year + 86_400_000, played + 10 * year, played - 2 * year]) {
        vi.setSystemTime(clock);
        const decoded = decodeBatch(packBatch('plays', 0, batch, ingestedAt), jsonRows);
        expect([...decoded.rowMessages], new Date(clock).toISOString()).toEqual([0, 2, 4]);
        expect(decoded.invalid.map(({ index, reason }) => [index, reason])).toEqual([
          [1, 'timestamp_out_of_range'],
          [3, 'timestamp_out_of_range'],
        ]);
      }
    } finally {
      vi.useRealTimers();
    }
  });

  it('keeps offsets beyond 2^53 exact (as strings) in rows and sources', () => {
    const big = ['9007199254740993', '9007199254740995'];
    const packed = packBatch(
      'plays',
      1,
      big.map((offset) => ({ offset, timestamp: sentAt, value: play({}) })),
      ingestedAt,
    );
    expect(big.map((_, i) => offsetOf(packed, i))).toEqual(big);
    const rows = rowsOf(decodeBatch(packed, jsonRows)).map((row) => (JSON.parse(row) as { insertId: string }).insertId);
    expect(rows).toEqual(big.map((offset) => `plays/1/${offset}`));
  });
});

describe('encodePlayRow', () => {
  it('is JSON.stringify of the row object, byte for byte', () => {
    const plays: Play[] = [
      { ...ORIGINAL_PLAY, event_type: 'song_completed', timestamp: '2022-11-03T07:22:13.000000Z' },
      {
        user_id: 0,
        artist: 'a "b" \\ c\n\u2028 ü 🎵 \u0001',
        song_id: Number.MAX_SAFE_INTEGER,
        song_name: '</script>',
        event_type: 'song_completed',
        timestamp: '2022-11-03T07:22:13.123456Z',
        event_id: 'id "x" 🎵',
      },
    ];
    for (const play of plays) {
      const source = { topic: 'plays.v1-x', partition: 12, offset: '123456789' };
      expect(encodePlayRow(play, source, '2026-11-25T07:00:00.000Z')).toBe(
        JSON.stringify({
          insertId: play.event_id ?? 'plays.v1-x/12/123456789',
          json: {
            user_id: play.user_id,
            artist: play.artist,
            song_id: play.song_id,
            song_name: play.song_name,
            event_type: play.event_type,
            timestamp: play.timestamp,
            event_id: play.event_id ?? null,
            kafka_topic: source.topic,
            kafka_partition: source.partition,
            kafka_offset: Number(source.offset),
            ingested_at: '2026-11-25T07:00:00.000Z',
          },
        }),
      );
    }
  });
});
