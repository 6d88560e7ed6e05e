// Which partitions of the live topic the reader need not fetch: those only this replica publishes to.
//
// A replica counts its own deltas when the broker acknowledges them, so reading them back is pure
// cost (with one replica, every delta is its own: the benchmark's drain lost ~9% to it). A live
// partition is paused once no source partition of another replica publishes there and the reader
// has read past its end as it was after the ingest's assignment began (every delta a former owner
// published before it committed is read: that commit came before this assignment). While paused,
// each acknowledgement of our own deltas there that starts exactly at the reader's next offset
// moves that offset past them: nothing but our own, counted, deltas lies behind it. Anything else
// shows as a gap (an acknowledgement starting later: another replica, a former owner waking up, a
// retried send written twice), and the partition is resumed from the reader's next offset, so
// nothing that was not counted is ever skipped. When the ingest's assignment ends, every partition
// no longer ours is resumed the same way.

import { livePartitionOf } from './live-topic.js';

/** A paused live partition to read again, from `from` (the first offset not read nor counted). */
export interface ResumeAt {
  partition: number;
  from: number | null;
}

/** What the reader does after the ingest's assignment changed. */
export interface OwnershipChange {
  resume: ResumeAt[];
  pause: number[];
}

export class OwnDeltaPartitions {
  /** Per live partition, the next offset to read: past what was read and past our own acknowledged deltas. */
  private readonly next = new Map<number, number>();
  private readonly paused = new Set<number>();
  /**
   * The live partitions only this replica publishes to under the ingest's current assignment ("ours"),
   * each with its end offset read after the assignment began: the reader reads past it before a pause.
   */
  private ours = new Map<number, number>();

  /** Live partitions paused now. */
  get pausedPartitions(): number[] {
    return [...this.paused].sort((a, b) => a - b);
  }

  /** The reader was set to read a live partition from `offset` (nothing of it read yet). */
  startsAt(partition: number, offset: number): void {
    if (!this.next.has(partition)) this.next.set(partition, offset);
  }

  /**
   * The ingest owns `owned` of the source topic's `sourceCount` partitions (none while it rebalances)
   * and publishes to a live topic of `liveCount` (null: unknown, so nothing is ours); `ends` are the
   * live partitions' end offsets read since the assignment began. A live partition is ours when no
   * source partition of another replica publishes there (none may: with more live partitions than
   * source ones, some take nothing). Nothing is ours when `ends` names another partition count than
   * `liveCount`: the topic grew, and replicas may place deltas by different counts until they rejoin.
   * Says which paused partitions are no longer ours (resumed) and which ours the reader has read to
   * those ends (paused).
   */
  owns(
    owned: ReadonlySet<number>,
    sourceCount: number | null,
    liveCount: number | null,
    ends: ReadonlyMap<number, number> = new Map(),
  ): OwnershipChange {
    this.ours = new Map();
    if (owned.size > 0 && sourceCount !== null && liveCount !== null && ends.size === liveCount) {
      const others = new Set<number>();
      for (let source = 0; source < sourceCount; source++)
        if (!owned.has(source)) others.add(livePartitionOf(source, liveCount));
      // A partition without a known end is never paused: what a former owner left there may be unread.
      for (const [live, end] of ends) if (!others.has(live)) this.ours.set(live, end);
    }
    const resume = this.pausedPartitions.filter((live) => !this.ours.has(live)).map((live) => this.resume(live));
    const pause = [...this.ours.keys()].filter((live) => !this.paused.has(live) && this.readTo(live, -1));
    for (const live of pause) this.paused.add(live);
    return { resume, pause };
  }

  /**
   * The reader read a live partition up to `next` (exclusive) of `highWatermark`. True: pause it now
   * (read to its end, and only ours).
   */
  read(partition: number, next: number, highWatermark: number): boolean {
    const known = this.next.get(partition);
    this.next.set(partition, known === undefined ? next : Math.max(known, next));
    if (this.paused.has(partition) || !this.ours.has(partition) || !this.readTo(partition, highWatermark)) return false;
    this.paused.add(partition);
    return true;
  }

  /** Whether the reader is past both `highWatermark` and the partition's end as of the assignment. */
  private readTo(partition: number, highWatermark: number): boolean {
    const next = this.next.get(partition);
    const end = this.ours.get(partition);
    return next !== undefined && end !== undefined && next >= Math.max(end, highWatermark);
  }

  /**
   * The broker acknowledged `count` of our deltas in a live partition from `baseOffset`. Returns the
   * partition to resume when it is paused and something not ours lies before them; else null.
   */
  published(partition: number, baseOffset: number, count: number): ResumeAt | null {
    const next = this.next.get(partition);
    if (next === undefined) return null;
    if (baseOffset === next) {
      this.next.set(partition, next + count);
      return null;
    }
    return baseOffset > next && this.paused.has(partition) ? this.resume(partition) : null;
  }

  /** The reader's group started over (its offsets are its own again): resume all, from where it is. */
  reset(): ResumeAt[] {
    const resumed = this.pausedPartitions.map((partition) => ({ partition, from: null }));
    this.paused.clear();
    // The ends read after the assignment stay: the reader must read past them again before a pause.
    this.next.clear();
    return resumed;
  }

  private resume(partition: number): ResumeAt {
    this.paused.delete(partition);
    return { partition, from: this.next.get(partition) ?? null };
  }
}
