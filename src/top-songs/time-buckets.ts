/**
 * Bucket sizes a window's plays are counted in, smallest first (seconds). A minute at least: the live
 * view counts plays by the minute, and both paths must cut a window alike.
 */
const BUCKET_SECONDS = [60, 300, 900, 3_600, 21_600, 86_400, 604_800] as const;
/** Enough points for a readable line per song, few enough for one small answer. */
export const MAX_BUCKETS = 180;
const MINUTE_MS = 60_000;

/** A window's start: `windowSeconds` before `now`, down to a whole minute, the same on both paths. */
export const windowStart = (now: number, windowSeconds: number): number =>
  Math.floor((now - windowSeconds * 1_000) / MINUTE_MS) * MINUTE_MS;

/**
 * The bucket size for a window: the smallest of 1 min, 5 min, 15 min, 1 h, 6 h, 1 d, 7 d that cuts it
 * in at most MAX_BUCKETS (up to 3 hours: 1 min; 24 hours: 15 min; a week: 1 h).
 */
export function bucketSecondsFor(windowSeconds: number): number {
  return BUCKET_SECONDS.find((size) => windowSeconds / size <= MAX_BUCKETS) ?? BUCKET_SECONDS.at(-1)!;
}

/** A bucket size as the API states it: `10s`, `1m`, `15m`, `1h`, `6h`, `1d`, `7d`. */
export function bucketName(seconds: number): string {
  for (const [unit, size] of [
    ['d', 86_400],
    ['h', 3_600],
    ['m', 60],
  ] as const) {
    if (seconds % size === 0) return `${seconds / size}${unit}`;
  }
  return `${seconds}s`;
}

/** The buckets a window falls in at `now` (ms): from the start of the one that holds its first instant to the end of the one that holds now. */
export interface BucketSpan {
  /** Start of the first bucket (ms since the epoch). */
  since: number;
  /** End of the last bucket, exclusive (ms). */
  until: number;
  bucketSeconds: number;
  count: number;
}

/**
 * Buckets aligned on multiples of their size since 1970-01-01 UTC, so a bucket keeps its bounds from
 * one refresh to the next: the first holds `now − window`, the last holds `now`.
 */
export function bucketSpan(now: number, windowSeconds: number): BucketSpan {
  const bucketSeconds = bucketSecondsFor(windowSeconds);
  const size = bucketSeconds * 1_000;
  const since = Math.floor((now - windowSeconds * 1_000) / size) * size;
  const until = (Math.floor(now / size) + 1) * size;
  return { since, until, bucketSeconds, count: (until - since) / size };
}
