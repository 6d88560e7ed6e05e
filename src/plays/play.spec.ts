import { badPlays, ORIGINAL_PLAY } from '../../test/support/bad-plays.js';
import { decodePlay, parseTimestamp, timestampMicros, utcMillis } from './play.js';

const now = Date.parse('2022-11-20T00:00:00Z');
const bytes = (value: unknown) => Buffer.from(JSON.stringify(value));

describe('decodePlay', () => {
  it('accepts the original payload unchanged and reads its timestamp as UTC', () => {
    expect(decodePlay(bytes(ORIGINAL_PLAY), now)).toEqual({
      ok: true,
      play: { ...ORIGINAL_PLAY, timestamp: '2022-11-03T07:22:13.000000Z' },
      micros: Date.UTC(2022, 10, 3, 7, 22, 13) * 1_000,
    });
  });

  it('keeps an event_id and ignores unknown fields', () => {
    const decoded = decodePlay(bytes({ ...ORIGINAL_PLAY, event_id: 'e-1', device: 'phone' }), now);
    expect(decoded).toEqual({
      ok: true,
      play: { ...ORIGINAL_PLAY, event_id: 'e-1', timestamp: '2022-11-03T07:22:13.000000Z' },
      micros: Date.UTC(2022, 10, 3, 7, 22, 13) * 1_000,
    });
  });

  it.each([
    ['2022-11-03T07:22:13Z', '2022-11-03T07:22:13.000000Z'],
    ['2022-11-03T08:22:13+01:00', '2022-11-03T07:22:13.000000Z'],
    ['2022-11-03T02:22:13.5-0500', '2022-11-03T07:22:13.500000Z'],
    ['2022-11-03 07:22:13.123456789', '2022-11-03T07:22:13.123456Z'],
    ['2022-11-03T00:30:00+05:30', '2022-11-02T19:00:00.000000Z'],
  ])('accepts the timestamp %s as %s', (timestamp, utc) => {
    const decoded = decodePlay(bytes({ ...ORIGINAL_PLAY, timestamp }), now);
    // The time read once for the live view is the one the row's column gets.
    expect(decoded).toMatchObject({ ok: true, play: { timestamp: utc }, micros: timestampMicros(utc) });
  });

  describe('judges the timestamp against the message’s Kafka timestamp, never the clock', () => {
    const year = 365 * 86_400_000;
    const played = Date.parse('2022-11-03T07:22:13Z');
    const original = bytes(ORIGINAL_PLAY);
    afterEach(() => vi.useRealTimers());

    it('within 5 years before and 1 year after the message’s timestamp, to the millisecond', () => {
      expect(decodePlay(original, played + 5 * year).ok).toBe(true);
      expect(decodePlay(original, played + 5 * year + 1)).toMatchObject({
        ok: false,
        reason: 'timestamp_out_of_range',
      });
      expect(decodePlay(original, played - year).ok).toBe(true);
      expect(decodePlay(original, played - year - 1)).toMatchObject({ ok: false, reason: 'timestamp_out_of_range' });
    });

    it('gives the same answer for the same message as the clock crosses either edge', () => {
      const sentAt = [played, played + 4 * year, played + 5 * year + 1];
      const answers = () => sentAt.map((ms) => decodePlay(original, ms));
      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(played);
      const first = answers();
      expect(first.map((decoded) => decoded.ok)).toEqual([true, true, false]);
      for (const clock of [played + 5 * year + 1, played + 30 * year, played - year - 1, played - 30 * year]) {
        vi.setSystemTime(clock);
        expect(answers(), new Date(clock).toISOString()).toEqual(first);
      }
    });

    it('says which message time the play was judged against', () => {
      const decoded = decodePlay(original, Date.parse('2028-01-01T00:00:00Z'));
      expect(decoded.ok || decoded.detail).toMatch(/Kafka timestamp 2028-01-01T00:00:00\.000Z/);
      // A producer's absurd timestamp still makes a detail, not an exception.
      const absurd = decodePlay(original, 9.2e18);
      expect(absurd.ok || absurd.detail).toMatch(/Kafka timestamp 9200000000000000000 ms/);
    });

    it('checks no window for a message without a timestamp (-1, or none), whatever the play’s time', () => {
      for (const time of ['1900-01-01 00:00:00', '2022-11-03 07:22:13', '9999-12-31 23:59:59'])
        for (const messageTime of [-1, Number.NaN])
          expect(
            decodePlay(bytes({ ...ORIGINAL_PLAY, timestamp: time }), messageTime).ok,
            `${time} ${messageTime}`,
          ).toBe(true);
    });
  });

  const cases = badPlays(new Date(now));
  it('covers at least 25 kinds of bad input', () => {
    expect(new Set(cases.map((c) => c.name)).size).toBeGreaterThanOrEqual(25);
  });

  it.each(cases.map((c) => [c.name, c] as const))('rejects %s with its reason and a detail', (_name, c) => {
    const decoded = decodePlay(c.value, now);
    expect(decoded).toMatchObject({ ok: false, reason: c.reason });
    if (!decoded.ok) expect(decoded.detail.length).toBeGreaterThan(5);
  });
});

describe('parseTimestamp', () => {
  it.each([
    '2022-13-01 00:00:00',
    '2022-11-03 24:00:00',
    '2022-11-03 07:60:00',
    '2022-11-03T07:22:13+25:00',
    '2022-11-03',
    ' 2022-11-03 07:22:13',
    '2022-1a-03 07:22:13',
    '2022/11/03 07:22:13',
    '2022-11-03 07-22-13',
    '2023-02-29 00:00:00',
    '2022-04-31 00:00:00',
    '0099-01-01 00:00:00',
  ])('rejects %s', (text) => {
    expect(parseTimestamp(text)).toBeNull();
  });

  it('reads the original form exactly as the same time in ISO form', () => {
    const pad = (n: number, width = 2) => String(n).padStart(width, '0');
    let compared = 0;
    for (const year of [1, 99, 100, 1900, 2000, 2023, 2024, 2100, 9999])
      for (let month = 0; month <= 13; month++)
        for (let day = 0; day <= 32; day++)
          for (const [hour, minute, second] of [
            [0, 0, 0],
            [23, 59, 59],
            [24, 0, 0],
            [12, 60, 0],
            [12, 0, 60],
          ] as const) {
            const date = `${pad(year, 4)}-${pad(month)}-${pad(day)}`;
            const time = `${pad(hour)}:${pad(minute)}:${pad(second)}`;
            expect(parseTimestamp(`${date} ${time}`), `${date} ${time}`).toEqual(parseTimestamp(`${date}T${time}Z`));
            compared++;
          }
    expect(compared).toBe(9 * 14 * 33 * 5);
    expect(parseTimestamp('2024-02-29 23:59:59')).toEqual({
      ms: Date.UTC(2024, 1, 29, 23, 59, 59),
      micros: Date.UTC(2024, 1, 29, 23, 59, 59) * 1_000,
      iso: '2024-02-29T23:59:59.000000Z',
    });
  });

  it('gives milliseconds since the epoch', () => {
    expect(parseTimestamp('1970-01-01T00:00:01.250Z')).toEqual({
      ms: 1250,
      micros: 1_250_000,
      iso: '1970-01-01T00:00:01.250000Z',
    });
  });
});

describe('timestampMicros', () => {
  // The plain reading: what the digit-by-digit one must equal.
  const reference = (iso: string) =>
    Date.parse(`${iso.slice(0, 19)}Z`) * 1000 + (iso.length > 20 ? Number(iso.slice(20, 26).padEnd(6, '0')) : 0);

  it('reads the canonical form exactly, from year 1 to 9999, before and after 1970', () => {
    const isos = [
      '0001-01-01T00:00:00.000000Z',
      '0099-12-31T23:59:59.999999Z',
      '0100-01-01T00:00:00.000001Z',
      '1969-12-31T23:59:59.999999Z',
      '1970-01-01T00:00:00.000000Z',
      '2024-02-29T12:34:56.123456Z',
      '9999-12-31T23:59:59.999999Z',
    ];
    for (let i = 0; i < 2_000; i++) {
      const ms = Math.floor(Math.random() * 253_402_300_799_999) - 62_135_596_800_000 * Math.round(Math.random());
      const micros = String(Math.floor(Math.random() * 1e6)).padStart(6, '0');
      const iso = `${new Date(ms).toISOString().slice(0, 19)}.${micros}Z`;
      if (/^\d{4}-/.test(iso)) isos.push(iso);
    }
    for (const iso of isos) expect(timestampMicros(iso), iso).toBe(reference(iso));
    expect(timestampMicros('1970-01-01T00:00:01.000002Z')).toBe(1_000_002);
  });

  it('reads the other forms the long way', () => {
    for (const iso of ['2026-12-05T12:00:00Z', '2026-12-05T12:00:00.5Z'])
      expect(timestampMicros(iso), iso).toBe(reference(iso));
  });
});

describe('utcMillis', () => {
  it('equals Date.UTC on every day of leap and common years, centuries included', () => {
    for (const year of [100, 1600, 1899, 1900, 1969, 1970, 2000, 2023, 2024, 2100, 2400, 9999]) {
      for (
        let day = new Date(Date.UTC(year, 0, 1));
        day.getUTCFullYear() === year;
        day.setUTCDate(day.getUTCDate() + 1)
      ) {
        const [month, date] = [day.getUTCMonth() + 1, day.getUTCDate()];
        expect(utcMillis(year, month, date, 23, 59, 58), day.toISOString()).toBe(
          Date.UTC(year, month - 1, date, 23, 59, 58),
        );
      }
    }
  });
});
