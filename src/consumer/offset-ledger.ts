/**
 * Which Kafka offsets are safe to commit. A partition's messages are taken in order, a batch at a
 * time, but finish out of order (a play waits for its insertAll, a dead letter for its produce), so
 * a partition's commit point is just past the last of the longest run of wholly finished batches
 * from the start: never past a message that is not yet in BigQuery or in the dead-letter topic.
 * Bookkeeping is one entry per batch and a count, not one per message.
 */
export class OffsetLedger {
  private readonly partitions = new Map<number, PartitionLedger>();

  /** @param onProgress called whenever a partition's commit point moves (e.g. to commit soon). */
  constructor(private readonly onProgress: (partition: number) => void = () => undefined) {}

  /**
   * Records that `count` messages from `firstOffset` to `lastOffset` were taken; returns the call that
   * marks `finished` (default 1) more of them finished. Finishes beyond `count` are ignored.
   */
  take(
    partition: number,
    lastOffset: bigint,
    count = 1,
    firstOffset = lastOffset - BigInt(count) + 1n,
  ): (finished?: number) => void {
    let ledger = this.partitions.get(partition);
    if (ledger === undefined) {
      ledger = new PartitionLedger(() => this.onProgress(partition));
      this.partitions.set(partition, ledger);
    }
    return ledger.take(firstOffset, lastOffset, count);
  }

  /**
   * What one partition holds past its commit point: messages taken (finished or not, as none can be
   * committed before the oldest unfinished one), the batches they came in (the ledger's entries), and
   * the first offset of the oldest; null when it holds nothing.
   */
  uncommittedOf(partition: number): Uncommitted | null {
    return this.partitions.get(partition)?.uncommitted() ?? null;
  }

  /** Partitions whose commit point moved past what was last committed, with the offset to commit. */
  committable(): { partition: number; offset: string }[] {
    const moved: { partition: number; offset: string }[] = [];
    for (const [partition, ledger] of this.partitions) {
      const offset = ledger.committable();
      if (offset !== null) moved.push({ partition, offset: offset.toString() });
    }
    return moved;
  }

  /** Records a successful commit, so it is not sent again. */
  markCommitted(partition: number, offset: string): void {
    this.partitions.get(partition)?.markCommitted(BigInt(offset));
  }

  /** Forgets everything, e.g. after a rebalance: the group will redeliver from its committed offsets. */
  clear(): void {
    this.partitions.clear();
  }

  /** Messages taken but not finished in one partition. */
  pendingOf(partition: number): number {
    return this.partitions.get(partition)?.pending ?? 0;
  }

  /**
   * Per partition: the offset everything before which is finished (null until something finished),
   * the last offset committed (null if none), and messages taken but not finished.
   */
  state(): { partition: number; commitPoint: bigint | null; committed: bigint | null; pending: number }[] {
    return [...this.partitions].map(([partition, ledger]) => ({ partition, ...ledger.state() }));
  }

  /** Messages taken but not finished, over all partitions. */
  get pending(): number {
    let pending = 0;
    for (const ledger of this.partitions.values()) pending += ledger.pending;
    return pending;
  }
}

export interface Uncommitted {
  messages: number;
  batches: number;
  from: bigint;
}

interface Taken {
  first: bigint;
  /** One past the last offset of the batch: the commit point once it and all before it finished. */
  next: bigint;
  count: number;
  unfinished: number;
}

class PartitionLedger {
  // Batches in the order taken; those before `head` are finished and are dropped now and then.
  private readonly taken: Taken[] = [];
  private head = 0;
  private unfinished = 0;
  /** Messages of the batches from `head` on. */
  private uncommittedMessages = 0;
  /** The next offset to commit (one past the last finished run); null until something finished. */
  private commitPoint: bigint | null = null;
  private committed: bigint | null = null;

  constructor(private readonly onProgress: () => void) {}

  get pending(): number {
    return this.unfinished;
  }

  uncommitted(): Uncommitted | null {
    const oldest = this.taken[this.head];
    if (oldest === undefined) return null;
    return { messages: this.uncommittedMessages, batches: this.taken.length - this.head, from: oldest.first };
  }

  take(firstOffset: bigint, lastOffset: bigint, count: number): (finished?: number) => void {
    const entry: Taken = { first: firstOffset, next: lastOffset + 1n, count, unfinished: count };
    this.taken.push(entry);
    this.unfinished += count;
    this.uncommittedMessages += count;
    if (count <= 0) this.advance();
    return (finished = 1) => {
      const n = Math.min(finished, entry.unfinished);
      if (n <= 0) return;
      entry.unfinished -= n;
      this.unfinished -= n;
      if (entry.unfinished === 0) this.advance();
    };
  }

  private advance(): void {
    const before = this.commitPoint;
    while (this.head < this.taken.length && this.taken[this.head]!.unfinished === 0) {
      this.commitPoint = this.taken[this.head]!.next;
      this.uncommittedMessages -= this.taken[this.head]!.count;
      this.head++;
    }
    if (this.commitPoint !== before) this.onProgress();
    // Drop the finished prefix now and then, so a long-lived partition does not grow forever.
    if (this.head > 1024 && this.head * 2 > this.taken.length) {
      this.taken.splice(0, this.head);
      this.head = 0;
    }
  }

  state(): { commitPoint: bigint | null; committed: bigint | null; pending: number } {
    return { commitPoint: this.commitPoint, committed: this.committed, pending: this.unfinished };
  }

  committable(): bigint | null {
    return this.commitPoint === null || this.commitPoint === this.committed ? null : this.commitPoint;
  }

  markCommitted(offset: bigint): void {
    if (this.committed === null || offset > this.committed) this.committed = offset;
  }
}
