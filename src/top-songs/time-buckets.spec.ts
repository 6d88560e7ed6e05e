import { bucketName, bucketSecondsFor, bucketSpan, MAX_BUCKETS, windowStart } from './time-buckets.js';

describe('time buckets', () => {
  it.each([
    // A minute at least, as the live view counts.
    [60, 60, '1m'],
    [300, 60, '1m'],
    [900, 60, '1m'],
    [3 * 3_600, 60, '1m'],
    [3_600, 60, '1m'],
    [86_400, 900, '15m'],
    [7 * 86_400, 3_600, '1h'],
    [30 * 86_400, 21_600, '6h'],
    [366 * 86_400, 604_800, '7d'],
  ])('cuts a window of %i s into buckets of %i s (%s)', (window, size, name) => {
    expect(bucketSecondsFor(window)).toBe(size);
    expect(bucketName(size)).toBe(name);
    expect(window / size).toBeLessThanOrEqual(MAX_BUCKETS);
  });

  it('aligns buckets on their size: the first holds now − window, the last holds now', () => {
    const now = Date.UTC(2026, 11, 2, 10, 30, 42, 500);
    const span = bucketSpan(now, 3_600);
    expect(span.bucketSeconds).toBe(60);
    expect(new Date(span.since).toISOString()).toBe('2026-12-02T09:30:00.000Z');
    expect(new Date(span.until).toISOString()).toBe('2026-12-02T10:31:00.000Z');
    expect(span.count).toBe(61);
    expect(span.since).toBeLessThanOrEqual(now - 3_600_000);
    expect(span.until).toBeGreaterThan(now);
  });

  it('keeps a bucket count within the window in buckets plus two, whatever the time', () => {
    for (const window of [1, 7, 59, 300, 901, 86_399, 366 * 86_400]) {
      for (const now of [0, 999, 1_764_670_000_123]) {
        const span = bucketSpan(now, window);
        expect(span.count).toBeLessThanOrEqual(Math.ceil(window / span.bucketSeconds) + 1);
        expect((span.until - span.since) / 1_000).toBe(span.count * span.bucketSeconds);
      }
    }
  });

  it('starts every window on a whole minute', () => {
    expect(windowStart(Date.UTC(2026, 0, 1, 0, 10, 59, 999), 300)).toBe(Date.UTC(2026, 0, 1, 0, 5));
    expect(windowStart(Date.UTC(2026, 0, 1, 0, 10), 300)).toBe(Date.UTC(2026, 0, 1, 0, 5));
  });
});
