/**
 * Which Kafka offsets are safe to commit. Messages of a partition are taken in order but finish
 * out of order (a play waits for its batch's insertAll, a dead letter for its produce), so a
 * partition's commit point is the offset just past the longest run of finished messages from the
 * start: never past a message that is not yet in BigQuery or in the dead-letter topic.
 */
export class OffsetLedger {
  private readonly partitions = new Map<number, PartitionLedger>();

  /** Records that the message at `offset` was taken; returns the call that marks it finished. */
  take(partition: number, offset: bigint): () => void {
    let ledger = this.partitions.get(partition);
    if (ledger === undefined) {
      ledger = new PartitionLedger();
      this.partitions.set(partition, ledger);
    }
    return ledger.take(offset);
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

  /** Forgets partitions this member no longer owns: their late finishes must not be committed. */
  retainOnly(owned: ReadonlySet<number>): void {
    for (const partition of this.partitions.keys()) {
      if (!owned.has(partition)) this.partitions.delete(partition);
    }
  }

  /** Forgets everything, e.g. after a rebalance: the group will redeliver from its committed offsets. */
  clear(): void {
    this.partitions.clear();
  }

  /** Messages taken but not finished, over all partitions. */
  get pending(): number {
    let pending = 0;
    for (const ledger of this.partitions.values()) pending += ledger.pending;
    return pending;
  }
}

class PartitionLedger {
  // Offsets in the order taken, with a finished flag each; entries before `head` are finished.
  // `dropped` counts entries removed from the front, so a message's slot is `index - dropped`.
  private readonly offsets: bigint[] = [];
  private readonly finished: boolean[] = [];
  private head = 0;
  private dropped = 0;
  private unfinished = 0;
  /** The next offset to commit (one past the last finished run); null until something finished. */
  private commitPoint: bigint | null = null;
  private committed: bigint | null = null;

  get pending(): number {
    return this.unfinished;
  }

  take(offset: bigint): () => void {
    const index = this.dropped + this.offsets.length;
    this.offsets.push(offset);
    this.finished.push(false);
    this.unfinished++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.unfinished--;
      this.finished[index - this.dropped] = true;
      this.advance();
    };
  }

  private advance(): void {
    while (this.head < this.finished.length && this.finished[this.head]) {
      this.commitPoint = this.offsets[this.head]! + 1n;
      this.head++;
    }
    // Drop the finished prefix now and then, so a long-lived partition does not grow forever.
    if (this.head > 4096 && this.head * 2 > this.offsets.length) {
      this.offsets.splice(0, this.head);
      this.finished.splice(0, this.head);
      this.dropped += this.head;
      this.head = 0;
    }
  }

  committable(): bigint | null {
    return this.commitPoint === null || this.commitPoint === this.committed ? null : this.commitPoint;
  }

  markCommitted(offset: bigint): void {
    if (this.committed === null || offset > this.committed) this.committed = offset;
  }
}
