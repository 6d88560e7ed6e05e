import { BadRequestException, type PipeTransform } from '@nestjs/common';
import { z } from 'zod';

/** What a top-songs request asks for: plays in the last `windowSeconds`, the `limit` most played songs. */
export interface TopSongsRequest {
  /** The window as given, normalised (e.g. `15m`). */
  window: string;
  windowSeconds: number;
  limit: number;
}

export const DEFAULT_WINDOW = '15m';
export const DEFAULT_LIMIT = 10;
export const MAX_LIMIT = 100;
const UNIT_SECONDS = { s: 1, m: 60, h: 3_600, d: 86_400 } as const;
// BigQuery keeps streamed plays for as long as the table does; a year bounds the scan a viewer can ask for.
const MAX_WINDOW_SECONDS = 366 * UNIT_SECONDS.d;

const once = (parameter: string) =>
  z.string({ error: (issue) => (issue.input === undefined ? undefined : `${parameter} must be given once`) });

const windowParameter = once('window')
  .default(DEFAULT_WINDOW)
  .transform((value, ctx) => {
    const match = /^(\d{1,9})([smhd])$/.exec(value.trim());
    if (match === null) {
      ctx.addIssue({
        code: 'custom',
        message: `window must be a whole number and a unit, s, m, h or d (e.g. 30s, 15m, 24h, 7d); got "${value}"`,
      });
      return z.NEVER;
    }
    const windowSeconds = Number(match[1]) * UNIT_SECONDS[match[2] as keyof typeof UNIT_SECONDS];
    if (windowSeconds < 1 || windowSeconds > MAX_WINDOW_SECONDS) {
      ctx.addIssue({ code: 'custom', message: `window must be from 1s to 366d; got "${value}"` });
      return z.NEVER;
    }
    return { window: `${Number(match[1])}${match[2]}`, windowSeconds };
  });

const limitParameter = once('limit')
  .default(String(DEFAULT_LIMIT))
  .transform((value, ctx) => {
    const limit = /^\d{1,4}$/.test(value.trim()) ? Number(value) : NaN;
    if (!(limit >= 1 && limit <= MAX_LIMIT)) {
      ctx.addIssue({ code: 'custom', message: `limit must be a whole number from 1 to ${MAX_LIMIT}; got "${value}"` });
      return z.NEVER;
    }
    return limit;
  });

// Other query parameters (a cache buster, say) are ignored.
const topSongsQuery = z.object({ window: windowParameter, limit: limitParameter });

/** Reads `?window=15m&limit=10`; every bad parameter is named in one 400 answer. */
export class ParseTopSongsRequest implements PipeTransform<unknown, TopSongsRequest> {
  transform(query: unknown): TopSongsRequest {
    const parsed = topSongsQuery.safeParse(query ?? {});
    if (!parsed.success) {
      throw new BadRequestException({
        statusCode: 400,
        error: 'Bad Request',
        message: parsed.error.issues.map((issue) => issue.message).join('; '),
      });
    }
    return { ...parsed.data.window, limit: parsed.data.limit };
  }
}
