import { bucketName, type BucketSpan } from './time-buckets.js';
import type { PlaysOverTimeAnswer } from './top-songs-answer.js';
import type { PlaysOverTimeRequest } from './top-songs-request.js';

/** What a plays-over-time answer says whichever path counts it: everything but the counts and their source. */
export function playsOverTimeFrame(
  tableId: string,
  request: PlaysOverTimeRequest,
  span: BucketSpan,
  now: number,
): Omit<PlaysOverTimeAnswer, 'total_plays' | 'series' | 'source'> {
  return {
    table: tableId,
    artist: request.artist ?? null,
    window: request.window,
    window_seconds: request.windowSeconds,
    songs: request.songs,
    bucket: bucketName(span.bucketSeconds),
    bucket_seconds: span.bucketSeconds,
    since: new Date(span.since).toISOString(),
    until: new Date(span.until).toISOString(),
    buckets: Array.from({ length: span.count }, (_, i) =>
      new Date(span.since + i * span.bucketSeconds * 1_000).toISOString(),
    ),
    queried_at: new Date(now).toISOString(),
  };
}
