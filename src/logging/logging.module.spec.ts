import { isQuiet } from './logging.module.js';

describe('request logging', () => {
  it.each([
    '/health/ready',
    '/metrics',
    '/dashboard',
    '/dashboard/dashboard.js',
    '/api/top-songs?window=15m',
    '/api/artists?window=15m&limit=100',
    '/api/plays-over-time?window=1h&songs=5',
  ])('does not log %s, polled every few seconds', (url) => {
    expect(isQuiet(url)).toBe(true);
  });

  it.each(['/', '/api/other', '/favicon.ico', undefined])('logs %s', (url) => {
    expect(isQuiet(url)).toBe(false);
  });
});
