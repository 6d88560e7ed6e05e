import { CountedOffsets, OffsetRanges } from './counted-offsets.js';

/** Ranges after adding each of `adds` in turn, and what each add said was new. */
function afterAdding(...adds: [number, number][]) {
  const ranges = new OffsetRanges();
  const fresh = adds.map(([from, to]) => ranges.add(from, to));
  return { fresh, ranges: ranges.toArray() };
}

describe('OffsetRanges', () => {
  it('says a first range is all new', () => {
    expect(afterAdding([0, 100])).toEqual({ fresh: [[[0, 100]]], ranges: [[0, 100]] });
  });

  it('says a range added again is not new', () => {
    expect(afterAdding([0, 100], [0, 100]).fresh[1]).toEqual([]);
  });

  it('says only the part past an overlap is new', () => {
    expect(afterAdding([0, 100], [50, 150])).toEqual({ fresh: [[[0, 100]], [[100, 150]]], ranges: [[0, 150]] });
  });

  it('says only the part before an overlap is new when a range reaches back', () => {
    expect(afterAdding([50, 150], [0, 100])).toEqual({ fresh: [[[50, 150]], [[0, 50]]], ranges: [[0, 150]] });
  });

  it('says nothing is new for a range inside one already counted', () => {
    expect(afterAdding([0, 200], [50, 150])).toEqual({ fresh: [[[0, 200]], []], ranges: [[0, 200]] });
  });

  it('says both ends are new for a range that contains one already counted', () => {
    expect(afterAdding([50, 150], [0, 200])).toEqual({
      fresh: [
        [[50, 150]],
        [
          [0, 50],
          [150, 200],
        ],
      ],
      ranges: [[0, 200]],
    });
  });

  it('merges adjacent ranges into one, and says the added one was all new', () => {
    expect(afterAdding([0, 10], [10, 20], [30, 40], [20, 30])).toEqual({
      fresh: [[[0, 10]], [[10, 20]], [[30, 40]], [[20, 30]]],
      ranges: [[0, 40]],
    });
  });

  it('keeps gaps between ranges that arrive out of order, in order', () => {
    expect(afterAdding([40, 50], [0, 10], [20, 30]).ranges).toEqual([
      [0, 10],
      [20, 30],
      [40, 50],
    ]);
  });

  it('says only the gaps are new for a range spanning several counted ones', () => {
    expect(afterAdding([10, 20], [30, 40], [50, 60], [0, 70])).toEqual({
      fresh: [
        [[10, 20]],
        [[30, 40]],
        [[50, 60]],
        [
          [0, 10],
          [20, 30],
          [40, 50],
          [60, 70],
        ],
      ],
      ranges: [[0, 70]],
    });
  });

  it('fills one gap among many without touching the others', () => {
    expect(afterAdding([0, 10], [20, 30], [40, 50], [60, 70], [45, 65])).toEqual({
      fresh: [[[0, 10]], [[20, 30]], [[40, 50]], [[60, 70]], [[50, 60]]],
      ranges: [
        [0, 10],
        [20, 30],
        [40, 70],
      ],
    });
  });

  it('ignores an empty range', () => {
    expect(afterAdding([5, 5])).toEqual({ fresh: [[]], ranges: [] });
  });

  it.each([
    [-1, 5],
    [5, 4],
    [0.5, 4],
    [0, 2 ** 53],
  ])('rejects [%d, %d)', (from, to) => {
    expect(() => new OffsetRanges().add(from, to)).toThrow(RangeError);
  });

  it('says whether an offset was counted', () => {
    const ranges = new OffsetRanges();
    ranges.add(10, 20);
    expect([9, 10, 19, 20].map((offset) => ranges.has(offset))).toEqual([false, true, true, false]);
  });
});

describe('CountedOffsets', () => {
  it('keeps each topic’s partitions apart', () => {
    const counted = new CountedOffsets();
    expect(counted.add('plays', 0, 0, 10)).toEqual([[0, 10]]);
    expect(counted.add('plays', 1, 0, 10)).toEqual([[0, 10]]);
    expect(counted.add('other', 0, 0, 10)).toEqual([[0, 10]]);
    expect(counted.add('plays', 0, 5, 15)).toEqual([[10, 15]]);
    expect(counted.of('plays', 1)?.toArray()).toEqual([[0, 10]]);
    expect(counted.of('plays', 2)).toBeUndefined();
  });
});
