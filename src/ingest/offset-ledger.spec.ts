import { OffsetLedger } from './offset-ledger.js';

describe('OffsetLedger', () => {
  it('offers nothing to commit until the first message finishes', () => {
    const ledger = new OffsetLedger();
    ledger.take(0, 10n);
    expect(ledger.committable()).toEqual([]);
    expect(ledger.pending).toBe(1);
  });

  it('never commits past an unfinished message, even when later ones finished', () => {
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

  it('ignores a second finish of the same message', () => {
    const ledger = new OffsetLedger();
    const first = ledger.take(0, 1n);
    ledger.take(0, 2n);
    first();
    first();
    expect(ledger.pending).toBe(1);
  });

  it('forgets partitions it no longer owns, so their late finishes commit nothing', () => {
    const ledger = new OffsetLedger();
    const revoked = ledger.take(3, 100n);
    ledger.retainOnly(new Set([0]));
    revoked();
    expect(ledger.committable()).toEqual([]);
  });

  it('stays correct across its internal compaction of long runs', () => {
    const ledger = new OffsetLedger();
    const finishes = Array.from({ length: 20_000 }, (_, i) => ledger.take(0, BigInt(i)));
    // Finish in a scrambled order that leaves offset 12_345 for last.
    for (let i = 0; i < finishes.length; i++) if (i !== 12_345) finishes[i]!();
    expect(ledger.committable()).toEqual([{ partition: 0, offset: '12345' }]);
    finishes[12_345]!();
    expect(ledger.committable()).toEqual([{ partition: 0, offset: '20000' }]);
  });
});
