import type { InvalidReason } from '../../src/plays/play.js';

/** The original payload, byte for byte as the original producer sent it. */
export const ORIGINAL_PLAY = {
  user_id: 45213,
  artist: 'tony-allen',
  song_id: 3,
  song_name: 'kindness',
  event_type: 'song_completed',
  timestamp: '2022-11-03 07:22:13',
};

const good = (overrides: Record<string, unknown>, now: Date): Record<string, unknown> => ({
  ...ORIGINAL_PLAY,
  timestamp: now.toISOString().slice(0, 19).replace('T', ' '),
  ...overrides,
});
const json = (value: unknown) => Buffer.from(JSON.stringify(value));
const without = (field: string, now: Date) => {
  const play = good({}, now);
  delete play[field];
  return json(play);
};

export interface BadPlay {
  name: string;
  value: Buffer | null;
  reason: InvalidReason;
}

/**
 * Kinds of bad input a producer can send, each with the reason it must be dead-lettered for.
 * Shared by the unit tests and the end-to-end dead-letter test.
 */
export function badPlays(now: Date = new Date()): BadPlay[] {
  const year = 365 * 86_400_000;
  const iso = (ms: number) => new Date(ms).toISOString();
  return [
    { name: 'tombstone (null value)', value: null, reason: 'tombstone' },
    { name: 'invalid UTF-8', value: Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]), reason: 'not_utf8' },
    { name: 'empty value', value: Buffer.alloc(0), reason: 'not_json' },
    { name: 'truncated JSON', value: Buffer.from('{"user_id": 45213, "artist": "tony-al'), reason: 'not_json' },
    { name: 'plain text', value: Buffer.from('song_completed kindness'), reason: 'not_json' },
    { name: 'JSON array', value: json([good({}, now)]), reason: 'not_object' },
    { name: 'JSON string', value: json('kindness'), reason: 'not_object' },
    { name: 'JSON null', value: Buffer.from('null'), reason: 'not_object' },
    { name: 'missing user_id', value: without('user_id', now), reason: 'missing_field' },
    { name: 'missing song_name', value: without('song_name', now), reason: 'missing_field' },
    { name: 'missing timestamp', value: without('timestamp', now), reason: 'missing_field' },
    { name: 'user_id as a string', value: json(good({ user_id: '45213' }, now)), reason: 'wrong_type' },
    { name: 'song_id null', value: json(good({ song_id: null }, now)), reason: 'wrong_type' },
    { name: 'artist as a number', value: json(good({ artist: 42 }, now)), reason: 'wrong_type' },
    { name: 'timestamp as epoch number', value: json(good({ timestamp: now.getTime() }, now)), reason: 'wrong_type' },
    { name: 'event_id as a number', value: json(good({ event_id: 7 }, now)), reason: 'wrong_type' },
    {
      name: 'event_type song_skipped',
      value: json(good({ event_type: 'song_skipped' }, now)),
      reason: 'bad_event_type',
    },
    { name: 'negative user_id', value: json(good({ user_id: -1 }, now)), reason: 'bad_id' },
    { name: 'fractional song_id', value: json(good({ song_id: 2.5 }, now)), reason: 'bad_id' },
    {
      name: 'user_id beyond 2^53',
      value: Buffer.from(JSON.stringify(good({}, now)).replace('45213', '9007199254740993')),
      reason: 'bad_id',
    },
    { name: 'empty artist', value: json(good({ artist: '' }, now)), reason: 'empty_string' },
    { name: 'blank song_name', value: json(good({ song_name: '   ' }, now)), reason: 'empty_string' },
    { name: 'overlong song_name', value: json(good({ song_name: 'x'.repeat(1025) }, now)), reason: 'string_too_long' },
    { name: 'overlong event_id', value: json(good({ event_id: 'e'.repeat(129) }, now)), reason: 'string_too_long' },
    { name: 'unparseable timestamp', value: json(good({ timestamp: 'yesterday' }, now)), reason: 'bad_timestamp' },
    { name: 'impossible date', value: json(good({ timestamp: '2026-02-30 10:00:00' }, now)), reason: 'bad_timestamp' },
    {
      name: 'ISO timestamp without a zone',
      value: json(good({ timestamp: '2026-11-03T07:22:13' }, now)),
      reason: 'bad_timestamp',
    },
    {
      name: 'timestamp 6 years ago',
      value: json(good({ timestamp: iso(now.getTime() - 6 * year) }, now)),
      reason: 'timestamp_out_of_range',
    },
    {
      name: 'timestamp 2 years ahead',
      value: json(good({ timestamp: iso(now.getTime() + 2 * year) }, now)),
      reason: 'timestamp_out_of_range',
    },
  ];
}
