// A play: one `song_completed` event, as the original producers send it (plus an optional event_id).
//
//   {"user_id": 45213, "artist": "tony-allen", "song_id": 3, "song_name": "kindness",
//    "event_type": "song_completed", "timestamp": "2022-11-03 07:22:13"}
//
// Unknown extra fields are ignored, so producers can add fields without breaking the pipeline.

import type { InvalidReason } from '../dead-letters/dead-letter-reason.js';

/** The original producer's songs: song_id is the index into this list. */
export const ORIGINAL_SONGS: readonly string[] = [
  'zombie',
  'lady',
  'secret-agent',
  'kindness',
  'soldiers',
  'asiko',
  'the-same-blood',
  'upside-down',
  'african-man',
  'vip',
];

export interface Play {
  user_id: number;
  artist: string;
  song_id: number;
  song_name: string;
  event_type: 'song_completed';
  /** UTC, ISO-8601 with up to microsecond precision (BigQuery's). */
  timestamp: string;
  event_id?: string;
}

// Why a message is not a play is one of the dead-letter topic's reasons, listed with the others there.
export type { InvalidReason };

/** A play, or why the message is not one; `micros`: the play's timestamp in µs since the epoch, read once here. */
export type Decoded = { ok: true; play: Play; micros: number } | { ok: false; reason: InvalidReason; detail: string };

/** Longest artist or song name kept; longer ones are a producer bug, not a song. */
export const MAX_NAME_LENGTH = 1024;
/** BigQuery's insertId limit; event_id becomes the insertId. */
export const MAX_EVENT_ID_LENGTH = 128;

const DAY_MS = 86_400_000;
// BigQuery streams into a day-partitioned table only rows between ~5 years ago and ~1 year ahead.
// The window is judged around the message's Kafka timestamp, never the clock (see decodePlay).
const STREAMING_PAST_MS = 5 * 365 * DAY_MS;
const STREAMING_FUTURE_MS = 365 * DAY_MS;
/** The largest time a Date can hold (ms), so a detail can always spell the message's time. */
const MAX_DATE_MS = 8.64e15;

const utf8 = new TextDecoder('utf-8', { fatal: true });

const invalid = (reason: InvalidReason, detail: string): Decoded => ({ ok: false, reason, detail });

/**
 * Decodes one Kafka message value into a play, or says precisely why it is not one.
 *
 * `messageTime` is the message's Kafka timestamp (ms since the epoch: kafkajs' `message.timestamp`,
 * CreateTime or LogAppendTime, fixed once the message is stored). The play's timestamp must be
 * within BigQuery's streaming window around it, not around the clock: the answer is then the same
 * whoever decodes the message, whenever, which the exactly-once writer relies on when it counts the
 * plays earlier owners wrote. A message without a timestamp (Kafka's -1, or none at all: NaN) gets
 * no window check here; BigQuery judges its play when it is written.
 */
export function decodePlay(value: Buffer | null, messageTime: number): Decoded {
  if (value === null) return invalid('tombstone', 'the message has no value (a tombstone)');

  let text: string;
  try {
    text = utf8.decode(value);
  } catch {
    return invalid('not_utf8', 'the value is not valid UTF-8');
  }

  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    return invalid('not_json', `the value is not JSON: ${(error as Error).message}`);
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    return invalid(
      'not_object',
      `the value is JSON ${data === null ? 'null' : Array.isArray(data) ? 'array' : typeof data}, not an object`,
    );
  }
  const fields = data as Record<string, unknown>;

  for (const field of ['user_id', 'artist', 'song_id', 'song_name', 'event_type', 'timestamp'] as const) {
    if (fields[field] === undefined) return invalid('missing_field', `"${field}" is missing`);
  }
  const { user_id, artist, song_id, song_name, event_type, timestamp, event_id } = fields;

  for (const [field, id] of [
    ['user_id', user_id],
    ['song_id', song_id],
  ] as const) {
    if (typeof id !== 'number') return invalid('wrong_type', `"${field}" must be a number, got ${describe(id)}`);
    if (!Number.isSafeInteger(id) || id < 0)
      return invalid('bad_id', `"${field}" must be a non-negative whole number, got ${id}`);
  }
  const strings: [string, unknown, number][] = [
    ['artist', artist, MAX_NAME_LENGTH],
    ['song_name', song_name, MAX_NAME_LENGTH],
  ];
  if (event_id !== undefined) strings.push(['event_id', event_id, MAX_EVENT_ID_LENGTH]);
  for (const [field, name, max] of strings) {
    if (typeof name !== 'string') return invalid('wrong_type', `"${field}" must be a string, got ${describe(name)}`);
    if (name.trim().length === 0) return invalid('empty_string', `"${field}" is empty`);
    if (name.length > max) return invalid('string_too_long', `"${field}" is ${name.length} characters; at most ${max}`);
  }
  if (typeof event_type !== 'string')
    return invalid('wrong_type', `"event_type" must be a string, got ${describe(event_type)}`);
  if (event_type !== 'song_completed')
    return invalid(
      'bad_event_type',
      `"event_type" must be "song_completed", got ${JSON.stringify(event_type.slice(0, 64))}`,
    );
  if (typeof timestamp !== 'string')
    return invalid('wrong_type', `"timestamp" must be a string, got ${describe(timestamp)}`);

  const parsed = parseTimestamp(timestamp);
  if (parsed === null) {
    return invalid(
      'bad_timestamp',
      `"timestamp" ${JSON.stringify(timestamp.slice(0, 64))} is not "YYYY-MM-DD HH:MM:SS" (UTC) or ISO-8601 with a zone`,
    );
  }
  if (
    messageTime >= 0 &&
    (parsed.ms < messageTime - STREAMING_PAST_MS || parsed.ms > messageTime + STREAMING_FUTURE_MS)
  ) {
    const sent = messageTime <= MAX_DATE_MS ? new Date(messageTime).toISOString() : `${messageTime} ms`;
    return invalid(
      'timestamp_out_of_range',
      `"timestamp" ${parsed.iso} is outside BigQuery's streaming window (5 years back, 1 year ahead) of the message's Kafka timestamp ${sent}`,
    );
  }

  const play: Play = {
    user_id: user_id as number,
    artist: artist as string,
    song_id: song_id as number,
    song_name: song_name as string,
    event_type,
    timestamp: parsed.iso,
  };
  if (event_id !== undefined) play.event_id = event_id as string;
  return { ok: true, play, micros: parsed.micros };
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'string'
    ? `the string ${JSON.stringify(value.slice(0, 32))}`
    : `${typeof value} ${JSON.stringify(value)}`.slice(0, 64);
}

// "2022-11-03 07:22:13" (the original, UTC) or ISO-8601 with a zone: "2022-11-03T07:22:13.5+01:00".
const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})(?:( )|T)(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:?\d{2})?$/;

/** A parsed play timestamp: ms and µs since the epoch, and its canonical `YYYY-MM-DDTHH:MM:SS.ffffffZ`. */
export interface PlayTime {
  ms: number;
  micros: number;
  iso: string;
}

/** Parses a play timestamp to UTC; null when it is not one of the accepted forms or not a real time. */
export function parseTimestamp(text: string): PlayTime | null {
  return text.length === 19 && text.charCodeAt(10) === SPACE ? parseOriginal(text) : parseGeneral(text);
}

const SPACE = 0x20;
const ZERO = 0x30;
const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * The original producers' "YYYY-MM-DD HH:MM:SS" (nearly every play), read digit by digit: the
 * regular expression and Date objects of the general path cost more than the rest of decoding.
 */
function parseOriginal(text: string): PlayTime | null {
  const digits = (from: number, count: number): number => {
    let value = 0;
    for (let i = from; i < from + count; i++) {
      const digit = text.charCodeAt(i) - ZERO;
      if (digit < 0 || digit > 9) return -1;
      value = value * 10 + digit;
    }
    return value;
  };
  if (text[4] !== '-' || text[7] !== '-' || text[13] !== ':' || text[16] !== ':') return null;
  const [year, month, day] = [digits(0, 4), digits(5, 2), digits(8, 2)];
  const [hour, minute, second] = [digits(11, 2), digits(14, 2), digits(17, 2)];
  if (year < 0 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23 || minute < 0 || minute > 59) return null;
  if (second < 0 || second > 59) return null;
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  if (day > (month === 2 && leap ? 29 : DAYS_IN_MONTH[month - 1]!)) return null;
  // Years 0-99 go the general way, which rejects them (its Date.UTC reads them as 19xx): far older
  // than BigQuery's streaming window anyway.
  if (year < 100) return parseGeneral(text);
  const ms = utcMillis(year, month, day, hour, minute, second);
  return { ms, micros: ms * 1_000, iso: `${text.slice(0, 10)}T${text.slice(11)}.000000Z` };
}

function parseGeneral(text: string): PlayTime | null {
  const match = TIMESTAMP.exec(text);
  if (match === null) return null;
  const [, y, mo, d, space, h, mi, s, fraction = '', zone] = match;
  // The original's space-separated form has no zone and means UTC; the ISO "T" form must carry one.
  if (space === undefined && zone === undefined) return null;
  const [year, month, day, hour, minute, second] = [y, mo, d, h, mi, s].map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const local = Date.UTC(year, month - 1, day, hour, minute, second);
  const check = new Date(local);
  if (
    check.getUTCFullYear() !== year ||
    check.getUTCMonth() !== month - 1 ||
    check.getUTCDate() !== day ||
    hour > 23 ||
    minute > 59 ||
    second > 59
  )
    return null;

  let offsetMinutes = 0;
  if (zone !== undefined && zone !== 'Z') {
    const digits = zone.replace(':', '');
    const zoneHours = Number(digits.slice(1, 3));
    const zoneMinutes = Number(digits.slice(3, 5));
    if (zoneHours > 23 || zoneMinutes > 59) return null;
    offsetMinutes = (zone.startsWith('-') ? -1 : 1) * (zoneHours * 60 + zoneMinutes);
  }
  const ms = local - offsetMinutes * 60_000;
  const micros = fraction.padEnd(6, '0').slice(0, 6);
  const iso = `${new Date(ms).toISOString().slice(0, 19)}.${micros}Z`;
  return { ms: ms + Number(micros.slice(0, 3)), micros: ms * 1_000 + Number(micros), iso };
}

/** A play's time in microseconds since the epoch (a TIMESTAMP column's value), from its `YYYY-MM-DDTHH:MM:SS.ffffffZ`. */
export function timestampMicros(iso: string): number {
  // Read digit by digit: it runs for every row, and Date.parse of a built string was a tenth of the
  // decoder's time. Other forms than the canonical one take the long way.
  if (iso.length === 27) {
    const ms = utcMillis(
      digits(iso, 0, 4),
      digits(iso, 5, 7),
      digits(iso, 8, 10),
      digits(iso, 11, 13),
      digits(iso, 14, 16),
      digits(iso, 17, 19),
    );
    return ms * 1000 + digits(iso, 20, 26);
  }
  const micros = iso.length > 20 ? Number(iso.slice(20, 26).padEnd(6, '0')) : 0;
  return Date.parse(`${iso.slice(0, 19)}Z`) * 1000 + micros;
}

/** The decimal number of iso[from, to) (digits only: the canonical form's fields). */
function digits(iso: string, from: number, to: number): number {
  let value = 0;
  for (let i = from; i < to; i++) value = value * 10 + iso.charCodeAt(i) - 48;
  return value;
}

/**
 * Ms since the epoch of a valid proleptic Gregorian date and time, by arithmetic (days from the civil
 * date, as in Howard Hinnant's algorithm): what Date.UTC(year, month - 1, …) gives from year 100 on
 * (below it Date.UTC reads 19xx), in a fraction of its ~140 ns; every play's time is read with it.
 */
export function utcMillis(
  year: number,
  month: number,
  day: number,
  hour: number,
  minute: number,
  second: number,
): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * ((month + 9) % 12) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  const days = era * 146_097 + dayOfEra - 719_468;
  return ((days * 24 + hour) * 60 + minute) * 60_000 + second * 1_000;
}
