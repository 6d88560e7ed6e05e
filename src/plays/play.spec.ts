import { badPlays, ORIGINAL_PLAY } from '../../test/support/bad-plays.js';
import { decodePlay, parseTimestamp } from './play.js';

const now = Date.parse('2022-11-20T00:00:00Z');
const bytes = (value: unknown) => Buffer.from(JSON.stringify(value));

describe('decodePlay', () => {
  it('accepts the original payload unchanged and reads its timestamp as UTC', () => {
    expect(decodePlay(bytes(ORIGINAL_PLAY), now)).toEqual({
      ok: true,
      play: { ...ORIGINAL_PLAY, timestamp: '2022-11-03T07:22:13.000000Z' },
    });
  });

  it('keeps an event_id and ignores unknown fields', () => {
    const decoded = decodePlay(bytes({ ...ORIGINAL_PLAY, event_id: 'e-1', device: 'phone' }), now);
    expect(decoded).toEqual({
      ok: true,
      play: { ...ORIGINAL_PLAY, event_id: 'e-1', timestamp: '2022-11-03T07:22:13.000000Z' },
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
    expect(decoded).toMatchObject({ ok: true, play: { timestamp: utc } });
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
  ])('rejects %s', (text) => {
    expect(parseTimestamp(text)).toBeNull();
  });

  it('gives milliseconds since the epoch', () => {
    expect(parseTimestamp('1970-01-01T00:00:01.250Z')).toEqual({ ms: 1250, iso: '1970-01-01T00:00:01.250000Z' });
  });
});
