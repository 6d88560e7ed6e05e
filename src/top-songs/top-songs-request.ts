import { BadRequestException, type PipeTransform } from '@nestjs/common';
import { z } from 'zod';
import { MAX_NAME_LENGTH } from '../plays/play.js';

/** A window of time up to now, as asked (`15m`) and in seconds. */
export interface PlayWindow {
  /** The window as given, normalised (e.g. `15m`). */
  window: string;
  windowSeconds: number;
  /** One artist's plays only; undefined: every artist's. */
  artist?: string;
}

/** GET /api/top-songs: plays in the last `windowSeconds`, the `limit` most played songs. */
export interface TopSongsRequest extends PlayWindow {
  limit: number;
}

/** GET /api/artists: the `limit` most played artists of the window. */
export interface ArtistsRequest extends Omit<PlayWindow, 'artist'> {
  limit: number;
}

/** GET /api/plays-over-time: plays per time bucket of the window's `songs` most played songs. */
export interface PlaysOverTimeRequest extends PlayWindow {
  songs: number;
}

export const DEFAULT_WINDOW = '15m';
export const DEFAULT_LIMIT = 10;
export const MAX_LIMIT = 100;
export const DEFAULT_ARTISTS = 100;
export const MAX_ARTISTS = 1_000;
export const DEFAULT_SONGS = 5;
export const MAX_SONGS = 10;
const UNIT_SECONDS = { s: 1, m: 60, h: 3_600, d: 86_400 } as const;
// Anyone can ask, and a window's day partitions are what a query bills: a month (the dashboard offers
// up to 30 days) bounds the scan, 31 partitions, not the 366 of a year.
export const MAX_WINDOW_DAYS = 31;
const MAX_WINDOW_SECONDS = MAX_WINDOW_DAYS * UNIT_SECONDS.d;

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
      ctx.addIssue({ code: 'custom', message: `window must be from 1s to ${MAX_WINDOW_DAYS}d; got "${value}"` });
      return z.NEVER;
    }
    return { window: `${Number(match[1])}${match[2]}`, windowSeconds };
  });

const wholeParameter = (parameter: string, max: number, fallback: number) =>
  once(parameter)
    .default(String(fallback))
    .transform((value, ctx) => {
      const number = /^\d{1,5}$/.test(value.trim()) ? Number(value) : NaN;
      if (!(number >= 1 && number <= max)) {
        ctx.addIssue({
          code: 'custom',
          message: `${parameter} must be a whole number from 1 to ${max}; got "${value}"`,
        });
        return z.NEVER;
      }
      return number;
    });

// An artist's exact name, as the plays carry it (the ingest keeps names of 1 to 1,024 characters).
const artistParameter = once('artist')
  .optional()
  .superRefine((value, ctx) => {
    if (value === undefined) return;
    if (value.trim().length === 0 || value.length > MAX_NAME_LENGTH) {
      ctx.addIssue({
        code: 'custom',
        message: `artist must be an artist's exact name, 1 to ${MAX_NAME_LENGTH} characters; got ${value.length} characters`,
      });
    }
  });

// Other query parameters (a cache buster, say) are ignored.
const topSongsQuery = z.object({
  window: windowParameter,
  limit: wholeParameter('limit', MAX_LIMIT, DEFAULT_LIMIT),
  artist: artistParameter,
});
const artistsQuery = z.object({
  window: windowParameter,
  limit: wholeParameter('limit', MAX_ARTISTS, DEFAULT_ARTISTS),
});
const playsOverTimeQuery = z.object({
  window: windowParameter,
  songs: wholeParameter('songs', MAX_SONGS, DEFAULT_SONGS),
  artist: artistParameter,
});

/** Validates a query string; every bad parameter is named in one 400 answer. */
function parseQuery<T extends z.ZodType>(schema: T, query: unknown): z.output<T> {
  const parsed = schema.safeParse(query ?? {});
  if (!parsed.success) {
    throw new BadRequestException({
      statusCode: 400,
      error: 'Bad Request',
      message: parsed.error.issues.map((issue) => issue.message).join('; '),
    });
  }
  return parsed.data;
}

/** Drops an absent artist, so equal questions look equal. */
const withArtist = (artist: string | undefined) => (artist === undefined ? {} : { artist });

/** Reads `?window=15m&limit=10&artist=tony-allen`. */
export class ParseTopSongsRequest implements PipeTransform<unknown, TopSongsRequest> {
  transform(query: unknown): TopSongsRequest {
    const { window, limit, artist } = parseQuery(topSongsQuery, query);
    return { ...window, limit, ...withArtist(artist) };
  }
}

/** Reads `?window=15m&limit=100`. */
export class ParseArtistsRequest implements PipeTransform<unknown, ArtistsRequest> {
  transform(query: unknown): ArtistsRequest {
    const { window, limit } = parseQuery(artistsQuery, query);
    return { ...window, limit };
  }
}

/** Reads `?window=1h&songs=5&artist=tony-allen`. */
export class ParsePlaysOverTimeRequest implements PipeTransform<unknown, PlaysOverTimeRequest> {
  transform(query: unknown): PlaysOverTimeRequest {
    const { window, songs, artist } = parseQuery(playsOverTimeQuery, query);
    return { ...window, songs, ...withArtist(artist) };
  }
}
