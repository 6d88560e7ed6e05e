import type { Admin, Consumer } from 'kafkajs';
import { OwnDeltaPartitions, type OwnershipChange, type ResumeAt } from './own-delta-partitions.js';

/**
 * Applies OwnDeltaPartitions' decisions to the live view's reader: pauses the live partitions only
 * this replica publishes to once they are read, seeks and resumes them when that may no longer hold.
 * Does nothing until the reader runs (kafkajs pauses, seeks and resumes only a running consumer).
 */
export class OwnDeltaPauses {
  private readonly own = new OwnDeltaPartitions();
  private running = false;
  /** Counts the ingest's assignment changes: an answer about an older one is dropped. */
  private ownership = 0;
  /** The ingest's last assignment, applied again once the reader runs. */
  private lastOwned: { owned: ReadonlySet<number>; liveCount: number | null } | null = null;

  constructor(
    private readonly consumer: Consumer,
    private readonly admin: Admin,
    private readonly topic: string,
    private readonly sourceTopic: string,
  ) {}

  /** Live partitions paused now. */
  get paused(): number[] {
    return this.own.pausedPartitions;
  }

  /** The reader runs, set to read each live partition from its `starts` offset. */
  started(starts: readonly { partition: number; offset: string }[]): void {
    for (const { partition, offset } of starts) this.own.startsAt(partition, Number(offset));
    this.running = true;
    if (this.lastOwned !== null) this.ingestOwns(this.lastOwned.owned, this.lastOwned.liveCount);
  }

  /** The reader's group started over: it reads from where kafkajs puts it, every partition. */
  rejoined(): void {
    this.resume(this.own.reset());
  }

  /** The reader read a live partition to `next` (exclusive) of `highWatermark`. */
  read(partition: number, next: number, highWatermark: number): void {
    if (this.running && this.own.read(partition, next, highWatermark))
      this.consumer.pause([{ topic: this.topic, partitions: [partition] }]);
  }

  /** The broker acknowledged `count` of this replica's deltas (counted already) at `baseOffset` of a live partition. */
  published(partition: number, baseOffset: number, count: number): void {
    if (!this.running) return;
    const resume = this.own.published(partition, baseOffset, count);
    if (resume !== null) this.resume([resume]);
  }

  /**
   * The ingest owns `owned` source partitions now (none while it rebalances), publishing to a live
   * topic of `liveCount` partitions (null: unknown). A partition no longer only ours is read again at
   * once; which are ours is settled once the topics' partition counts and ends are read.
   */
  ingestOwns(owned: ReadonlySet<number>, liveCount: number | null): void {
    this.lastOwned = { owned, liveCount };
    if (!this.running) return;
    const asked = ++this.ownership;
    this.apply(this.own.owns(new Set(), null, null));
    if (owned.size === 0 || liveCount === null) return;
    // Read after the assignment began: the ends cover every delta a former owner published before it committed.
    void Promise.all([
      this.admin.fetchTopicMetadata({ topics: [this.sourceTopic] }),
      this.admin.fetchTopicOffsets(this.topic),
    ]).then(
      ([metadata, ends]) => {
        if (asked !== this.ownership) return;
        const sourceCount = metadata.topics[0]?.partitions.length ?? null;
        const endOf = new Map(ends.map(({ partition, offset }) => [partition, Number(offset)]));
        this.apply(this.own.owns(owned, sourceCount, liveCount, endOf));
      },
      // Not known: every partition stays read.
      () => undefined,
    );
  }

  private apply({ resume, pause }: OwnershipChange): void {
    this.resume(resume);
    if (pause.length > 0) this.consumer.pause([{ topic: this.topic, partitions: pause }]);
  }

  /** Reads paused live partitions again, each from its first offset neither read nor counted. */
  private resume(partitions: readonly ResumeAt[]): void {
    for (const { partition, from } of partitions) {
      if (from !== null) this.consumer.seek({ topic: this.topic, partition, offset: String(from) });
      this.consumer.resume([{ topic: this.topic, partitions: [partition] }]);
    }
  }
}
