import { describe, expect, it } from 'vitest';
import { backoffDelay, retry } from './backoff.js';

describe('backoffDelay', () => {
  it('waits half to all of the delay doubled from the minimum, never more than the cap', () => {
    const policy = { minMs: 100, maxMs: 1_000 };
    for (const [attempt, delay] of [
      [0, 100],
      [1, 200],
      [2, 400],
      [3, 800],
      [4, 1_000],
      [50, 1_000],
    ] as const) {
      const delays = Array.from({ length: 200 }, () => backoffDelay(attempt, policy));
      expect(Math.min(...delays)).toBeGreaterThanOrEqual(delay / 2);
      expect(Math.max(...delays)).toBeLessThanOrEqual(delay);
      expect(new Set(delays).size).toBeGreaterThan(1);
    }
  });
});

describe('retry', () => {
  const policy = { minMs: 1, maxMs: 4 };

  it('runs the attempt until it resolves, saying each failure with its attempt and wait', async () => {
    const failures: [string, number, number][] = [];
    const result = await retry((n) => (n < 3 ? Promise.reject(new Error(`no ${n}`)) : Promise.resolve(n)), {
      policy,
      failed: (error, attempt, delayMs) => failures.push([(error as Error).message, attempt, delayMs]),
    });
    expect(result).toBe(3);
    expect(failures.map(([message, attempt]) => [message, attempt])).toEqual([
      ['no 1', 1],
      ['no 2', 2],
    ]);
    expect(failures[1]![2]).toBeGreaterThanOrEqual(1);
    expect(failures[1]![2]).toBeLessThanOrEqual(2);
  });

  it('rejects at once with an error not retryable, unreported', async () => {
    const failed = vi.fn();
    const fatal = new Error('fatal');
    let attempts = 0;
    await expect(
      retry(() => (attempts++, Promise.reject(fatal)), { policy, retryable: (e) => e !== fatal, failed }),
    ).rejects.toBe(fatal);
    expect(attempts).toBe(1);
    expect(failed).not.toHaveBeenCalled();
  });

  it('stops waiting once aborted, and rejects', async () => {
    const stopping = new AbortController();
    const done = retry(() => Promise.reject(new Error('down')), {
      policy: { minMs: 60_000, maxMs: 60_000 },
      signal: stopping.signal,
      failed: () => stopping.abort(),
    });
    await expect(done).rejects.toMatchObject({ name: 'AbortError' });
  });
});
