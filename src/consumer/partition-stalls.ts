import type { Gauge } from '../metrics/metrics.js';
import type { StalledPartition } from './consumer-health.js';
import type { GroupMembership } from './group-membership.js';
import type { OffsetLedger } from './offset-ledger.js';

/**
 * Which owned partitions are stalled: they have lag (messages pending, or behind the end offset) and
 * have made no progress for the stall timeout. Reported as kafka_partition_stalled_seconds for the
 * partitions this member owns.
 */
export class PartitionStalls {
  /** When each owned partition last made progress: assigned, commit point moved, or seen without lag. */
  private readonly progressAt = new Map<number, number>();
  private readonly lagOf = new Map<number, number>();
  /** Partitions with a kafka_partition_stalled_seconds series from this member. */
  private readonly reported = new Set<number>();

  constructor(
    private readonly membership: GroupMembership,
    private readonly ledger: OffsetLedger,
    private readonly stallTimeoutMs: number,
    private readonly topic: string,
    private readonly stalledSeconds: Gauge<'topic' | 'partition'>,
  ) {}

  /** The partition's commit point moved. */
  progressed(partition: number, now: number): void {
    this.progressAt.set(partition, now);
  }

  /** A new assignment: each owned partition starts afresh. */
  assigned(now: number): void {
    this.progressAt.clear();
    for (const partition of this.membership.owned) this.progressAt.set(partition, now);
  }

  /** The partition's lag, as just measured. */
  lagged(partition: number, lag: number, now: number): void {
    this.lagOf.set(partition, lag);
    // Nothing to do is progress too: an idle partition never counts as stalled.
    if (lag === 0 && this.ledger.pendingOf(partition) === 0) this.progressAt.set(partition, now);
  }

  /** Owned partitions with lag (messages pending, or behind the end offset) and no progress for the stall timeout. */
  stalled(now = Date.now()): StalledPartition[] {
    const stalled: StalledPartition[] = [];
    for (const partition of this.membership.owned) {
      let since = this.progressAt.get(partition);
      if (since === undefined) this.progressAt.set(partition, (since = now));
      const pending = this.ledger.pendingOf(partition);
      const behind = pending > 0 || (this.lagOf.get(partition) ?? 0) > 0;
      if (behind && now - since > this.stallTimeoutMs) {
        stalled.push({ partition, since: new Date(since).toISOString(), pending });
      }
    }
    return stalled;
  }

  report(now: number): void {
    const stalled = new Map(this.stalled(now).map((s) => [s.partition, s]));
    // A partition that moved away is its new owner's to report: a last value kept here would say it is still stalled.
    for (const partition of this.reported) {
      if (this.membership.owned.has(partition)) continue;
      this.stalledSeconds.remove({ topic: this.topic, partition: String(partition) });
      this.reported.delete(partition);
    }
    for (const partition of this.membership.owned) {
      const since = stalled.get(partition);
      const seconds = since === undefined ? 0 : (now - Date.parse(since.since)) / 1000;
      this.stalledSeconds.set({ topic: this.topic, partition: String(partition) }, seconds);
      this.reported.add(partition);
    }
  }
}
