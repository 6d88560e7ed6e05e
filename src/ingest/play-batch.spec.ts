import { badPlays, ORIGINAL_PLAY } from '../../test/support/bad-plays.js';
import { decodePlay } from '../plays/play.js';
import { encodePlayRow } from '../sink/play-row.js';
import { decodeBatch, packBatch } from './play-batch.js';

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
  const messages = values.map((value, i) => ({ offset: String(1_000 + i), value }));
  const ingestedAt = '2026-11-25T07:00:00.000Z';

  it('gives each message the row encodePlayRow makes of it, or decodePlay’s reason', () => {
    const decoded = decodeBatch(packBatch('plays', 4, messages, ingestedAt));
    const rows = Buffer.from(decoded.rows);
    const invalid = new Map(decoded.invalid.map((entry) => [entry.index, entry]));
    let start = 0;
    let valid = 0;
    messages.forEach(({ offset, value }, i) => {
      const expected = decodePlay(value);
      const end = decoded.rowEnds[i]!;
      if (!expected.ok) {
        expect(end, `message ${i}`).toBe(-1);
        expect(invalid.get(i)).toEqual({ index: i, reason: expected.reason, detail: expected.detail });
        return;
      }
      valid++;
      expect(invalid.has(i)).toBe(false);
      const row = rows.subarray(start, end).toString();
      expect(row).toBe(encodePlayRow(expected.play, { topic: 'plays', partition: 4, offset }, ingestedAt));
      expect(JSON.parse(row)).toMatchObject({ json: { kafka_partition: 4, kafka_offset: Number(offset) } });
      start = end;
    });
    expect(valid).toBe(3);
    expect(decoded.invalid).toHaveLength(messages.length - 3);
    expect(start).toBe(rows.length);
  });

  it('keeps multi-byte characters whole across row boundaries', () => {
    const decoded = decodeBatch(packBatch('plays', 0, messages, ingestedAt));
    const ends = [...decoded.rowEnds].filter((end) => end !== -1);
    const rows = Buffer.from(decoded.rows);
    const names = ends.map(
      (end, i) =>
        (JSON.parse(rows.subarray(i === 0 ? 0 : ends[i - 1], end).toString()) as { json: { song_name: string } }).json
          .song_name,
    );
    expect(names).toEqual(['kindness', 'ünïcødé "quoted" \\ name', 'upside-down']);
  });
});
