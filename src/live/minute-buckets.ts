/** Per-minute maps kept in minute order, for the window questions' "minutes in [since, until)". */
export class MinuteBuckets<K, V> {
  /** Minute starts (ms) with a bucket, ascending. */
  private readonly starts: number[] = [];
  private readonly byMinute = new Map<number, Map<K, V>>();

  /** Minutes held. */
  get size(): number {
    return this.starts.length;
  }

  /** The oldest minute held (ms), or undefined. */
  get oldest(): number | undefined {
    return this.starts[0];
  }

  get(minuteMs: number): Map<K, V> | undefined {
    return this.byMinute.get(minuteMs);
  }

  /** The minute's bucket, made if it has none. */
  bucket(minuteMs: number): Map<K, V> {
    let bucket = this.byMinute.get(minuteMs);
    if (bucket === undefined) {
      bucket = new Map();
      this.byMinute.set(minuteMs, bucket);
      // Deltas come mostly in time order: search from the end.
      let at = this.starts.length;
      while (at > 0 && this.starts[at - 1]! > minuteMs) at--;
      this.starts.splice(at, 0, minuteMs);
    }
    return bucket;
  }

  /** Removes and returns the oldest minute's bucket. */
  dropOldest(): Map<K, V> | undefined {
    const minuteMs = this.starts.shift();
    if (minuteMs === undefined) return undefined;
    const bucket = this.byMinute.get(minuteMs)!;
    this.byMinute.delete(minuteMs);
    return bucket;
  }

  /** Calls `visit` with each value of the minutes in [sinceMs, untilMs) and its minute. */
  forEachBetween(sinceMs: number, untilMs: number, visit: (value: V, minuteMs: number) => void): void {
    let index = 0;
    let high = this.starts.length;
    while (index < high) {
      const middle = (index + high) >>> 1;
      if (this.starts[middle]! < sinceMs) index = middle + 1;
      else high = middle;
    }
    for (; index < this.starts.length && this.starts[index]! < untilMs; index++) {
      const minuteMs = this.starts[index]!;
      for (const value of this.byMinute.get(minuteMs)!.values()) visit(value, minuteMs);
    }
  }
}
