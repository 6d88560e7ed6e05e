import { batchCost, MemoryBudget } from './memory-budget.js';

describe('MemoryBudget', () => {
  it('has room until the charges reach the limit, and again once they are given back', () => {
    const budget = new MemoryBudget(1_000);
    expect(budget.hasRoomFor(600)).toBe(true);
    const first = budget.charge(600);
    expect(budget.hasRoomFor(400)).toBe(true);
    expect(budget.hasRoomFor(401)).toBe(false);
    const second = budget.charge(400);
    expect(budget.heldBytes).toBe(1_000);
    expect(budget.hasRoomFor(1)).toBe(false);
    first();
    expect(budget.heldBytes).toBe(400);
    expect(budget.hasRoomFor(600)).toBe(true);
    second();
    expect(budget.heldBytes).toBe(0);
  });

  it('gives a charge back once, however often its release is called', () => {
    const budget = new MemoryBudget(1_000);
    const release = budget.charge(300);
    budget.charge(200);
    release();
    release();
    expect(budget.heldBytes).toBe(200);
  });

  it('takes a batch larger than the whole budget when nothing is held, so consumption never blocks for good', () => {
    const budget = new MemoryBudget(1_000);
    expect(budget.hasRoomFor(5_000)).toBe(true);
    const release = budget.charge(5_000);
    expect(budget.hasRoomFor(1)).toBe(false);
    release();
    expect(budget.hasRoomFor(5_000)).toBe(true);
  });

  it('wakes a waiter when room is given back, before its timeout', async () => {
    const budget = new MemoryBudget(100);
    const release = budget.charge(100);
    const started = Date.now();
    const waiting = budget.released(10_000);
    setTimeout(release, 10);
    await waiting;
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('costs a batch at twice its bytes plus bookkeeping per message', () => {
    expect(batchCost(5_000, 1)).toBe(10_128);
    expect(batchCost(0, 10)).toBe(1_280);
  });
});
