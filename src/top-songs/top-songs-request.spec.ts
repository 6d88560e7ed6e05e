import { BadRequestException } from '@nestjs/common';
import { ParseArtistsRequest, ParsePlaysOverTimeRequest, ParseTopSongsRequest } from './top-songs-request.js';

const parse = (query: Record<string, unknown>) => new ParseTopSongsRequest().transform(query);

/** The 400 answer's message for a query. */
function rejection(query: Record<string, unknown>): string {
  try {
    parse(query);
  } catch (error) {
    expect(error).toBeInstanceOf(BadRequestException);
    const exception = error as BadRequestException;
    expect(exception.getStatus()).toBe(400);
    return (exception.getResponse() as { message: string }).message;
  }
  throw new Error(`accepted ${JSON.stringify(query)}`);
}

describe('ParseTopSongsRequest', () => {
  it('defaults to the last 15 minutes and 10 songs', () => {
    expect(parse({})).toEqual({ window: '15m', windowSeconds: 900, limit: 10 });
  });

  it.each([
    ['30s', 30, '30s'],
    ['15m', 900, '15m'],
    ['24h', 86_400, '24h'],
    ['7d', 604_800, '7d'],
    ['31d', 31 * 86_400, '31d'],
    ['744h', 31 * 86_400, '744h'],
    ['015m', 900, '15m'],
    [' 2h ', 7_200, '2h'],
  ])('reads window=%s as %i seconds', (window, seconds, normal) => {
    expect(parse({ window })).toMatchObject({ window: normal, windowSeconds: seconds });
  });

  it.each(['1', '100'])('reads limit=%s', (limit) => {
    expect(parse({ limit }).limit).toBe(Number(limit));
  });

  it.each(['32d', '366d', '745h', '2678401s', '0s'])('refuses window=%s: at most a month, 31 days', (window) => {
    expect(rejection({ window })).toBe(`window must be from 1s to 31d; got "${window}"`);
  });

  it('ignores parameters it does not know', () => {
    expect(parse({ window: '1h', t: '123' })).toEqual({ window: '1h', windowSeconds: 3_600, limit: 10 });
  });

  it.each(['', '15', 'm', '15 m', '1.5h', '-5m', '15min', '2w', 'all', '0s', '32d', '366d', '745h', '9999999999d'])(
    'refuses window=%j with a message saying what it takes',
    (window) => {
      expect(rejection({ window })).toMatch(/^window must be /);
      expect(rejection({ window })).toContain(`"${window}"`);
    },
  );

  it.each(['0', '101', '-1', '1.5', 'ten', '', '1e2'])('refuses limit=%j', (limit) => {
    expect(rejection({ limit })).toBe(`limit must be a whole number from 1 to 100; got "${limit}"`);
  });

  it('refuses a parameter given twice', () => {
    expect(rejection({ window: ['1h', '2h'] })).toBe('window must be given once');
    expect(rejection({ limit: ['1', '2'] })).toBe('limit must be given once');
  });

  it('names every bad parameter in one answer', () => {
    expect(rejection({ window: 'soon', limit: '0' })).toMatch(/^window must be .*; limit must be /);
  });
});

describe('the artist parameter', () => {
  it('takes an exact name, spaces and all, and leaves it out when absent', () => {
    expect(parse({ artist: ' Fela Kuti ' })).toMatchObject({ artist: ' Fela Kuti ' });
    expect(parse({ artist: 'x'.repeat(1024) }).artist).toHaveLength(1024);
    expect(parse({})).not.toHaveProperty('artist');
  });

  it.each([
    ['x'.repeat(1025), 1025],
    ['', 0],
    ['   ', 3],
  ])('refuses an artist of %#', (artist, length) => {
    expect(rejection({ artist })).toBe(
      `artist must be an artist's exact name, 1 to 1024 characters; got ${length} characters`,
    );
  });

  it('refuses an artist given twice, with the other bad parameters', () => {
    expect(rejection({ artist: ['a', 'b'], limit: '0' })).toBe(
      'limit must be a whole number from 1 to 100; got "0"; artist must be given once',
    );
  });
});

describe('ParseArtistsRequest', () => {
  const artists = (query: Record<string, unknown>) => new ParseArtistsRequest().transform(query);

  it('defaults to the last 15 minutes and 100 artists, up to 1000', () => {
    expect(artists({})).toEqual({ window: '15m', windowSeconds: 900, limit: 100 });
    expect(artists({ window: '7d', limit: '1000' })).toEqual({ window: '7d', windowSeconds: 604_800, limit: 1000 });
    expect(() => artists({ limit: '1001' })).toThrow('limit must be a whole number from 1 to 1000; got "1001"');
  });
});

describe('ParsePlaysOverTimeRequest', () => {
  const overTime = (query: Record<string, unknown>) => new ParsePlaysOverTimeRequest().transform(query);

  it('defaults to the last 15 minutes and the top 5 songs of every artist', () => {
    expect(overTime({})).toEqual({ window: '15m', windowSeconds: 900, songs: 5 });
    expect(overTime({ window: '1h', songs: '10', artist: 'tony-allen' })).toEqual({
      window: '1h',
      windowSeconds: 3_600,
      songs: 10,
      artist: 'tony-allen',
    });
  });

  it('names each bad parameter: window, songs (1 to 10) and artist', () => {
    expect(() => overTime({ window: '1y', songs: '11', artist: 'x'.repeat(2000) })).toThrow(
      /^window must be a whole number and a unit.*; songs must be a whole number from 1 to 10; got "11"; artist must be an artist's exact name, 1 to 1024 characters; got 2000 characters$/,
    );
    expect(() => overTime({ songs: '0' })).toThrow('songs must be a whole number from 1 to 10; got "0"');
  });
});
