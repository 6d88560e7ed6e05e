import { BadRequestException } from '@nestjs/common';
import { ParseTopSongsRequest } from './top-songs-request.js';

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
    ['366d', 366 * 86_400, '366d'],
    ['015m', 900, '15m'],
    [' 2h ', 7_200, '2h'],
  ])('reads window=%s as %i seconds', (window, seconds, normal) => {
    expect(parse({ window })).toMatchObject({ window: normal, windowSeconds: seconds });
  });

  it.each(['1', '100'])('reads limit=%s', (limit) => {
    expect(parse({ limit }).limit).toBe(Number(limit));
  });

  it('ignores parameters it does not know', () => {
    expect(parse({ window: '1h', t: '123' })).toEqual({ window: '1h', windowSeconds: 3_600, limit: 10 });
  });

  it.each(['', '15', 'm', '15 m', '1.5h', '-5m', '15min', '2w', 'all', '0s', '367d', '9999999999d'])(
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
