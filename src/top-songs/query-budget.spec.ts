import { QueryBudget, QueryBudgetExceeded } from './query-budget.js';

describe('QueryBudget', () => {
  let now = 0;
  const clock = () => now;
  beforeEach(() => (now = 10_000));

  it('lets a burst of perSecond queries run at once, then spaces the next ones 1/perSecond apart', () => {
    const budget = new QueryBudget(4, 2_000, clock);
    expect([budget.reserve(), budget.reserve(), budget.reserve(), budget.reserve()]).toEqual([0, 0, 0, 0]);
    // The next ones wait their turn, in order: 250 ms, 500 ms, 750 ms...
    expect([budget.reserve(), budget.reserve(), budget.reserve()]).toEqual([250, 500, 750]);
  });

  it('refuses a query whose wait would exceed maxWaitMs, says when to retry, and reserves nothing for it', () => {
    const budget = new QueryBudget(2, 1_000, clock);
    budget.reserve();
    budget.reserve(); // the burst
    expect(budget.reserve()).toBe(500);
    expect(budget.reserve()).toBe(1_000);
    let refused: unknown;
    try {
      budget.reserve();
    } catch (error) {
      refused = error;
    }
    expect(refused).toBeInstanceOf(QueryBudgetExceeded);
    expect((refused as QueryBudgetExceeded).retryAfterSeconds).toBe(1);
    // Refusals did not push the queue further back: a second after, one more fits again.
    now += 500;
    expect(budget.reserve()).toBe(1_000);
  });

  it('never runs more than perSecond queries in any second after the burst, however many ask', () => {
    const budget = new QueryBudget(5, 60_000, clock);
    const starts = Array.from({ length: 100 }, () => now + budget.reserve());
    for (let second = 0; second < 20; second++) {
      const from = 10_000 + 1_000 + second * 1_000; // past the first second's burst
      expect(starts.filter((start) => start >= from && start < from + 1_000).length).toBeLessThanOrEqual(5);
    }
    expect(starts.at(-1)).toBe(10_000 + 19_000); // 95 queued behind the burst of 5, 200 ms apart
  });

  it('refills with time, up to the burst and no further', () => {
    const budget = new QueryBudget(3, 0, clock);
    for (let i = 0; i < 3; i++) budget.reserve();
    expect(() => budget.reserve()).toThrow(QueryBudgetExceeded);
    now += 60_000; // a long quiet spell refills at most 3
    for (let i = 0; i < 3; i++) expect(budget.reserve()).toBe(0);
    expect(() => budget.reserve()).toThrow(QueryBudgetExceeded);
  });
});
