import type { Logger } from '@nestjs/common';
import type { HeldPartition, HoldCause } from './consumer-health.js';
import type { OffsetLedger } from './offset-ledger.js';
import type { StuckPuts } from './stuck-puts.js';

/** Why no more may be taken from a partition now. */
export interface HoldReason {
  cause: HoldCause;
  text: string;
}

/**
 * The partitions this member takes no more from (paused in kafkajs) until they move on: a partition
 * whose commit point is stuck (e.g. behind a dead letter the topic refuses) must not grow its ledger
 * and its writer's checkpoints without bound, nor hold up the others.
 */
export class PartitionHolds {
  /** Partitions paused by the intake (see reason): since when, and how to resume. */
  private readonly held = new Map<number, { since: number; resume: () => void }>();

  constructor(
    private readonly ledger: OffsetLedger,
    private readonly stuckPuts: StuckPuts,
    private readonly maxUncommitted: number,
    private readonly stopping: () => boolean,
    private readonly logger: Logger,
  ) {}

  /** The held partitions, for the health snapshot. */
  snapshot(): HeldPartition[] {
    return [...this.held].map(([partition, { since }]) => {
      const { messages = 0, from = 0n } = this.ledger.uncommittedOf(partition) ?? {};
      const why = this.reason(partition, Date.now());
      return {
        partition,
        cause: why?.cause ?? 'uncommitted',
        reason: why?.text ?? `partition ${partition} moved on; taken from again at the next fetch`,
        uncommitted: messages,
        from: from.toString(),
        since: new Date(since).toISOString(),
      };
    });
  }

  /** Why no more may be taken from a partition now, or null. */
  reason(partition: number, now: number): HoldReason | null {
    const uncommitted = this.ledger.uncommittedOf(partition);
    if (uncommitted !== null && uncommitted.messages >= this.maxUncommitted) {
      return {
        cause: 'uncommitted',
        text:
          `partition ${partition} holds ${uncommitted.messages} uncommitted messages from offset ${uncommitted.from}, ` +
          `which is not yet written or dead-lettered (INGEST_PARTITION_MAX_UNCOMMITTED)`,
      };
    }
    const since = this.stuckPuts.stuckSince(partition, now);
    if (since !== undefined) {
      return {
        cause: 'sink',
        text: `partition ${partition}'s rows have waited ${Math.round((now - since) / 1000)} s for the sink to take them (its writes do not go through)`,
      };
    }
    return null;
  }

  hold(partition: number, why: { text: string }, pause: () => () => void): void {
    if (this.stopping() || this.held.has(partition)) return;
    this.held.set(partition, { since: Date.now(), resume: pause() });
    this.logger.warn(`${why.text}: taking no more from it until it moves on; the other partitions go on`);
  }

  /** Resumes a held partition once it may be taken from again (see reason). */
  resumeIfRoom(partition: number): void {
    const held = this.held.get(partition);
    if (held === undefined || this.reason(partition, Date.now()) !== null) return;
    this.held.delete(partition);
    // A stop pauses every partition: resuming one then would take from it again.
    if (!this.stopping()) held.resume();
    this.logger.log(`partition ${partition} moved on; taking from it again`);
  }

  /** After a rejoin nothing is held any more (the ledger is cleared), but kafkajs keeps partitions paused. */
  resumeAll(): void {
    for (const [partition, { resume }] of this.held) {
      this.held.delete(partition);
      if (!this.stopping()) resume();
    }
  }
}
