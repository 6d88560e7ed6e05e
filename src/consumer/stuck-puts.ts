/**
 * A partition whose put has waited this long for room in the sink is stuck (its rows do not go
 * through, e.g. its write stream waits for a dead letter the topic refuses): its batches stop counting
 * against MAX_BATCHES_IN_DECODE and no more are taken from it, so it does not hold up the others.
 */
export const STUCK_PUT_MS = 5_000;

/** Per partition, since when its put has been waiting for room in the sink. */
export class StuckPuts {
  private readonly waitingSince = new Map<number, { since: number }>();

  /** Marks a put of `partition` as waiting from now; returns the call that clears this mark. */
  waiting(partition: number): () => void {
    // A put of an assignment before may still wait: each put clears only its own mark.
    const waiting = { since: Date.now() };
    this.waitingSince.set(partition, waiting);
    return () => {
      if (this.waitingSince.get(partition) === waiting) this.waitingSince.delete(partition);
    };
  }

  /** Since when `partition`'s put has waited, if it has waited STUCK_PUT_MS by `now`; else undefined. */
  stuckSince(partition: number, now: number): number | undefined {
    const since = this.waitingSince.get(partition)?.since;
    return since !== undefined && now - since >= STUCK_PUT_MS ? since : undefined;
  }

  /** The partitions whose put has waited STUCK_PUT_MS by `now`. */
  stuck(now: number): number[] {
    const stuck: number[] = [];
    for (const [partition, { since }] of this.waitingSince) if (now - since >= STUCK_PUT_MS) stuck.push(partition);
    return stuck;
  }
}
