import { OffsetLedger } from './offset-ledger.js';

describe('OffsetLedger', () => {
  it('offers nothing to commit until a batch finishes', () => {
    const ledger = new OffsetLedger();
    const done = ledger.take(0, 12n, 3);
    expect(ledger.committable()).toEqual([]);
    expect(ledger.pending).toBe(3);
    done(2);
    expect(ledger.committable()).toEqual([]);
    expect(ledger.pending).toBe(1);
    done();
    expect(ledger.committable()).toEqual([{ partition: 0, offset: '13' }]);
  });

  it('never commits past an unfinished message, even when later batches finished', () => {
    const ledger = new OffsetLedger();
    const [a, b, c] = [10n, 11n, 12n].map((offset) => ledger.take(0, offset)) as [() => void, () => void, () => void];
    c();
    b();
    expect(ledger.committable()).toEqual([]);
    a();
    expect(ledger.committable()).toEqual([{ partition: 0, offset: '13' }]);
    expect(ledger.committable()).toEqual([{ partition: 0, offset: '13' }]);
    ledger.markCommitted(0, '13');
    expect(ledger.committable()).toEqual([]);
    expect(ledger.pending).toBe(0);
  });

  it('keeps partitions apart and offers only those that moved past their last commit', () => {
    const ledger = new OffsetLedger();
    const p0 = ledger.take(0, 5n);
    const p1 = ledger.take(1, 7n);
    ledger.take(1, 8n);
    p1();
    expect(ledger.committable()).toEqual([{ partition: 1, offset: '8' }]);
    ledger.markCommitted(1, '8');
    p0();
    expect(ledger.committable()).toEqual([{ partition: 0, offset: '6' }]);
  });

  it('ignores finishes beyond a batch’s count', () => {
    const ledger = new OffsetLedger();
    const first = ledger.take(0, 2n, 2);
    ledger.take(0, 4n, 2);
    first(2);
    first();
    expect(ledger.pending).toBe(2);
    expect(ledger.committable()).toEqual([{ partition: 0, offset: '3' }]);
  });

  it('says when a commit point moves, and only then', () => {
    let moved = 0;
    const ledger = new OffsetLedger(() => moved++);
    const first = ledger.take(0, 9n, 10);
    const second = ledger.take(0, 19n, 10);
    second(10);
    first(9);
    expect(moved).toBe(0);
    first();
    expect(moved).toBe(1);
    expect(ledger.committable()).toEqual([{ partition: 0, offset: '20' }]);
  });

  it('forgets what was taken (after a rebalance), so its late finishes commit nothing', () => {
    const ledger = new OffsetLedger();
    const revoked = ledger.take(3, 100n);
    ledger.clear();
    revoked();
    expect(ledger.committable()).toEqual([]);
  });

  it('stays correct across its internal compaction of long runs', () => {
    const ledger = new OffsetLedger();
    const finishes = Array.from({ length: 5_000 }, (_, i) => ledger.take(0, BigInt(i * 10 + 9), 10));
    // Finish in a scrambled order that leaves the batch ending at 1_239 for last.
    for (let i = 0; i < finishes.length; i++) if (i !== 123) finishes[i]!(10);
    expect(ledger.committable()).toEqual([{ partition: 0, offset: '1230' }]);
    finishes[123]!(10);
    expect(ledger.committable()).toEqual([{ partition: 0, offset: '50000' }]);
  });

  it('tells per partition what is finished, committed and pending, and calls back with the partition that moved', () => {
    const moved: number[] = [];
    const ledger = new OffsetLedger((partition) => moved.push(partition));
    const a = ledger.take(0, 9n, 10);
    ledger.take(1, 4n, 5);
    a(10);
    ledger.markCommitted(0, '10');
    expect(moved).toEqual([0]);
    expect(ledger.pendingOf(0)).toBe(0);
    expect(ledger.pendingOf(1)).toBe(5);
    expect(ledger.pendingOf(7)).toBe(0);
    expect(ledger.state()).toEqual([
      { partition: 0, commitPoint: 10n, committed: 10n, pending: 0 },
      { partition: 1, commitPoint: null, committed: null, pending: 5 },
    ]);
  });

  it('tells what a partition holds past its commit point: the messages behind an unfinished one count, finished or not', () => {
    const ledger = new OffsetLedger();
    expect(ledger.uncommittedOf(0)).toBeNull();
    const first = ledger.take(0, 9n, 10, 0n);
    const later = Array.from({ length: 5 }, (_, i) => ledger.take(0, BigInt(19 + 10 * i), 10, BigInt(10 + 10 * i)));
    for (const done of later) done(10);
    first(9);
    // One message of the first batch holds back all 60: the ledger keeps an entry for each of their 6 batches.
    expect(ledger.uncommittedOf(0)).toEqual({ messages: 60, batches: 6, from: 0n });
    first();
    expect(ledger.uncommittedOf(0)).toBeNull();
    ledger.take(0, 69n, 10);
    expect(ledger.uncommittedOf(0)).toEqual({ messages: 10, batches: 1, from: 60n });
  });
});
