import type { Logger } from '@nestjs/common';
import type { Offsets } from '@nestjs/microservices/external/kafka.interface.js';
import { errorText } from '../errors.js';
import { classifyKafkaError } from '../kafka/kafka-faults.js';
import { OutageLog } from '../logging/outage-log.js';
import { AssignmentEnded, type OffsetCommit, type PlaySink } from '../sink/sink.contract.js';
import type { GroupMembership } from './group-membership.js';
import type { OffsetLedger } from './offset-ledger.js';

const COMMIT_INTERVAL_MS = 200;
// A commit follows this soon after a batch is wholly written: a drain's last rows are committed at
// once, not up to COMMIT_INTERVAL_MS later, and commits at full speed stay a few per second per
// partition (kafkajs' own autoCommit commits after every batch).
const COMMIT_DELAY_MS = 10;

/** Sends one OffsetCommit request (eachBatch's commitOffsetsIfNecessary with explicit offsets). */
export type CommitRequest = (offsets: Offsets) => Promise<void>;

/**
 * The one way this member commits offsets, in a loop, soon after a commit point moves or the sink
 * asks (Assignment.requestCommit), and once more at a stop: the ledger's commit points of the
 * partitions it owns, as the sink's preCommit agrees to them and with its metadata, and the sink's
 * own commits (an exactly-once sink's stream records), each told back to the sink (committed).
 */
export class OffsetCommitter {
  /**
   * Sends one OffsetCommit as the member kafkajs is at the moment of the call (its current generation),
   * with no retry: eachBatch's commitOffsetsIfNecessary(offsets) of the running consumer. kafkajs'
   * consumer.commitOffsets retries a failed commit for seconds, across a rejoin too, then under the new
   * generation: a commit of an assignment that is over could land after the partition's next owner read
   * its start, and replace that owner's record. One attempt under the generation it was made for is
   * refused by the broker once the group has moved on; the service tries again only while the
   * assignment lasts (the commit loop, the sink asking again for its own).
   */
  private request: CommitRequest | null = null;
  /** Offset commits the broker has not yet answered. */
  private readonly inFlight = new Set<Promise<void>>();
  private committing: Promise<void> | null = null;
  private commitAgain = false;
  private loopTimer: NodeJS.Timeout | undefined;
  private soonTimer: NodeJS.Timeout | undefined;
  private readonly outage: OutageLog;

  constructor(
    private readonly ledger: OffsetLedger,
    private readonly membership: GroupMembership,
    private readonly sink: Pick<PlaySink, 'preCommit' | 'committed'>,
    private readonly topic: string,
    private readonly stopping: () => boolean,
    private readonly logger: Logger,
  ) {
    this.outage = new OutageLog(logger, 'committing offsets');
  }

  /** The running consumer's way to commit (each batch brings it); the sink's commits waiting for one go now. */
  use(request: CommitRequest): void {
    const first = this.request === null;
    this.request = request;
    if (first) void this.commit();
  }

  /** The run ends: its way to commit goes with it (a restarted run is a new member). */
  runEnded(): void {
    this.request = null;
  }

  /** Commits every COMMIT_INTERVAL_MS from now on. */
  start(): void {
    this.loopTimer = setInterval(() => void this.commit(), COMMIT_INTERVAL_MS).unref();
  }

  /** No more commits by themselves (a stop makes its last ones with commit()). */
  stop(): void {
    clearInterval(this.loopTimer);
    clearTimeout(this.soonTimer);
  }

  /** Commits, for the partitions this member owns, every offset whose messages are all written. */
  commit(): Promise<void> {
    if (this.committing !== null) {
      // What moved since the commit in flight was built is committed right after it.
      this.commitAgain = true;
      return this.committing;
    }
    this.committing = (async () => {
      do {
        this.commitAgain = false;
        await this.commitOnce();
      } while (this.commitAgain);
    })().finally(() => (this.committing = null));
    return this.committing;
  }

  commitSoon(): void {
    if (this.stopping() || this.soonTimer !== undefined) return;
    this.soonTimer = setTimeout(() => {
      this.soonTimer = undefined;
      void this.commit();
    }, COMMIT_DELAY_MS);
  }

  private async commitOnce(): Promise<void> {
    const { owned, joined } = this.membership;
    const proposed = new Map<number, bigint>();
    for (const { partition, offset } of this.ledger.committable()) {
      if (owned.has(partition)) proposed.set(partition, BigInt(offset));
    }
    const asked = this.sink.preCommit(proposed);
    // A commit of a partition this member does not own (any more) is refused before anything is sent.
    const ended = asked.filter(({ partition }) => !joined || !owned.has(partition));
    if (ended.length > 0) this.sink.committed(ended, new AssignmentEnded('the assignment is over'));
    const request = this.request;
    // Without a way to commit (before the run's first batch), the sink's own commits wait for one.
    if (request === null) return;
    const commits = asked.filter((commit) => !ended.includes(commit));
    if (commits.length === 0) return;
    try {
      await this.send(request, commits);
      // Only a commit made while this member still owns the partitions counts.
      if (!this.membership.joined) {
        return this.sink.committed(commits, new AssignmentEnded('the assignment ended while committing'));
      }
      for (const { partition, offset } of commits) {
        if (proposed.get(partition) === offset) this.ledger.markCommitted(partition, offset.toString());
      }
      this.sink.committed(commits);
      this.outage.succeeded();
    } catch (error) {
      // Not marked committed: the next round tries again.
      this.sink.committed(commits, error);
      const fault = classifyKafkaError(error, this.topic);
      if (fault.class === 'rebalancing') {
        // The group is moving partitions: commit nothing until this member rejoins and knows what it owns.
        this.logger.log(
          `offsets not committed, the group is rebalancing (${fault.reason}); it redelivers from its last commit`,
        );
        this.membership.lost();
        return;
      }
      this.outage.failed(errorText(error), fault.reason, fault.fix);
    }
  }

  /** Sends one commit (see `request`), keeping it in flight until the broker answers. */
  private send(request: CommitRequest, commits: readonly OffsetCommit[]): Promise<void> {
    const partitions = commits.map(({ partition, offset, metadata }) => ({
      partition,
      offset: offset.toString(),
      metadata,
    }));
    // kafkajs passes each partition's metadata on to the OffsetCommit request (its type leaves it out).
    const commit = request({ topics: [{ topic: this.topic, partitions }] });
    this.inFlight.add(commit);
    void commit.finally(() => this.inFlight.delete(commit)).catch(() => undefined);
    return commit;
  }

  /** Once the commits sent so far have landed or failed. */
  landed(): Promise<unknown> {
    return Promise.allSettled([...this.inFlight]);
  }
}
