import { describe, expect, it } from 'vitest';
import { backoffDelay } from './backoff.js';

describe('backoffDelay', () => {
  it('doubles from the minimum and stops at the cap', () => {
    const policy = { minMs: 100, maxMs: 1_000 };
    expect([0, 1, 2, 3, 4, 50].map((attempt) => backoffDelay(attempt, policy))).toEqual([
      100, 200, 400, 800, 1_000, 1_000,
    ]);
  });

  it('jitters between half and all of the delay', () => {
    const delays = Array.from({ length: 200 }, () => backoffDelay(3, { minMs: 100, maxMs: 10_000, jitter: true }));
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(400);
    expect(Math.max(...delays)).toBeLessThanOrEqual(800);
    expect(new Set(delays).size).toBeGreaterThan(1);
  });
});
