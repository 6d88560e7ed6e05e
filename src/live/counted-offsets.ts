/** Half-open [from, to). */
export type OffsetRange = [from: number, to: number];

/**
 * The offsets of one source partition already counted, as sorted, disjoint, non-adjacent half-open
 * intervals. Deltas arrive in order nearly always, so this is one interval; a late or lost delta
 * leaves a gap until a delta covering it arrives.
 */
export class OffsetRanges {
  private readonly ranges: OffsetRange[] = [];

  /** Adds [from, to) and returns the parts of it that were not in the set before, in order. */
  add(from: number, to: number): OffsetRange[] {
    if (!(Number.isSafeInteger(from) && Number.isSafeInteger(to) && from >= 0 && from <= to)) {
      throw new RangeError(`not an offset range: [${from}, ${to})`);
    }
    if (from === to) return [];
    // The first range that overlaps or touches [from, to): its end is at or after `from`.
    let first = 0;
    let high = this.ranges.length;
    while (first < high) {
      const middle = (first + high) >>> 1;
      if (this.ranges[middle]![1] < from) first = middle + 1;
      else high = middle;
    }
    const fresh: OffsetRange[] = [];
    let cursor = from;
    let last = first;
    let start = from;
    let end = to;
    // Every range from `first` that starts at or before `to` merges with [from, to).
    for (; last < this.ranges.length && this.ranges[last]![0] <= to; last++) {
      const [rangeFrom, rangeTo] = this.ranges[last]!;
      if (rangeFrom > cursor) fresh.push([cursor, Math.min(rangeFrom, to)]);
      cursor = Math.max(cursor, rangeTo);
      start = Math.min(start, rangeFrom);
      end = Math.max(end, rangeTo);
    }
    if (cursor < to) fresh.push([cursor, to]);
    this.ranges.splice(first, last - first, [start, end]);
    return fresh;
  }

  /** Whether `offset` was counted. */
  has(offset: number): boolean {
    return this.ranges.some(([from, to]) => from <= offset && offset < to);
  }

  /** The set, as sorted disjoint intervals (a copy). */
  toArray(): OffsetRange[] {
    return this.ranges.map(([from, to]) => [from, to]);
  }
}

/** The offsets counted per source partition (topic, partition). */
export class CountedOffsets {
  private readonly byTopic = new Map<string, Map<number, OffsetRanges>>();

  /** Marks [from, to) of a partition counted; returns the parts that were not counted before. */
  add(topic: string, partition: number, from: number, to: number): OffsetRange[] {
    let partitions = this.byTopic.get(topic);
    if (partitions === undefined) this.byTopic.set(topic, (partitions = new Map<number, OffsetRanges>()));
    let ranges = partitions.get(partition);
    if (ranges === undefined) partitions.set(partition, (ranges = new OffsetRanges()));
    return ranges.add(from, to);
  }

  /** A partition's counted offsets, or undefined when none were. */
  of(topic: string, partition: number): OffsetRanges | undefined {
    return this.byTopic.get(topic)?.get(partition);
  }
}
