import type { Client } from '@grpc/grpc-js';
import { Logger } from '@nestjs/common';
import type { Counter } from '../../../metrics/metrics.js';
import type { OffsetCommit, PartitionStart } from '../../sink.contract.js';
import {
  WriteFault,
  type AppendResult,
  type PlayWriter,
  type WriteReporter,
  type WriterAssignment,
} from '../../writer.contract.js';
import type { Segment } from '../../rows.js';
import type { BigQueryWriteClient } from '../client-parts.js';
import type { LaneContext } from './lane-context.js';
import { OwnCommits } from './own-commits.js';
import { PartitionLane } from './partition-lane.js';

/** The first wait before trying again what failed; it doubles per attempt, up to `retryMaxDelayMs`. */
const RETRY_MIN_DELAY_MS = 200;

export interface ExactlyOnceSettings {
  /** projects/P/datasets/D/tables/T */
  table: string;
  retryMaxDelayMs: number;
}

/**
 * Exactly-once writes with the Storage Write API: each owned partition gets its own COMMITTED write
 * stream, created when the partition is assigned, and its rows are appended in Kafka offset order at
 * stream offsets, so BigQuery refuses a repeat (ALREADY_EXISTS) instead of writing it twice. Every
 * offset commit records the stream and how many of its rows come before the committed offset
 * (StreamRecord), and the next owner of the partition finalizes that stream (which also refuses any
 * later append of an old owner, frozen or not) and skips the plays its final row count says are
 * written. Rows must come from messages deterministically: same messages, same rows, same order.
 *
 * The partition's lane retries on its own and in order: a later append must never land before an
 * earlier one, or the row count would no longer say which plays are written.
 */
export class ExactlyOnceWriter implements PlayWriter {
  readonly api = 'storage-write';
  readonly delivery = 'exactly-once';
  readonly inPartitionOrder = true;
  private readonly logger = new Logger('ExactlyOnceWriter');
  /** The current assignment's commits of the lanes' own, waiting for the consumer's commit path. */
  private ownCommits = new OwnCommits(() => undefined);
  private readonly lanes = new Map<number, PartitionLane>();
  private reporter: WriteReporter = {
    failed: () => undefined,
    succeeded: () => undefined,
    refused: () => Promise.resolve(),
  };

  constructor(
    private readonly client: BigQueryWriteClient,
    private readonly settings: ExactlyOnceSettings,
    private readonly fallbacks: Counter,
  ) {
    // Connects the channel now, not when the first assignment's streams are created (in its critical path).
    void client
      .initialize()
      .then((stub) => (stub as unknown as Partial<Client>).getChannel?.().getConnectivityState(true))
      .catch(() => undefined);
  }

  attach(reporter: WriteReporter): void {
    this.reporter = reporter;
  }

  /** The assignment is over: its partitions' lanes close, and their commits of their own will never land. */
  revoke(partitions: readonly number[]): void {
    for (const partition of partitions) {
      this.lanes.get(partition)?.close(`partition ${partition} was reassigned`);
      this.lanes.delete(partition);
    }
    this.ownCommits.end('the assignment is over');
  }

  open(assignment: WriterAssignment): void {
    // Whatever the assignment before left open (a close not called) ends here too.
    this.revoke([...this.lanes.keys()]);
    const ownCommits = (this.ownCommits = new OwnCommits(() => assignment.requestCommit()));
    let starts: Promise<ReadonlyMap<number, PartitionStart>> | null = null;
    // One read of the group's offsets for all the partitions (and again if it failed).
    const startsOnce = () =>
      (starts ??= assignment.starts().catch((error: unknown) => {
        starts = null;
        throw error;
      }));
    for (const partition of assignment.partitions) {
      this.lanes.set(partition, new PartitionLane(this.context(ownCommits), partition, assignment, startsOnce));
    }
  }

  append(rows: readonly Segment[]): Promise<AppendResult> {
    const { partition } = rows[0]!.chunk;
    const lane = this.lanes.get(partition);
    if (lane === undefined) {
      return Promise.reject(new WriteFault(`partition ${partition} is no longer assigned to this member`, 'abandon'));
    }
    return lane.append(rows);
  }

  /**
   * The lanes' own commits waiting, and each offset the consumer would commit whose partition's lane
   * has a record for it (none while the lane is opening or committing one of its own).
   */
  preCommit(offsets: ReadonlyMap<number, bigint>): OffsetCommit[] {
    const commits = this.ownCommits.pending();
    for (const [partition, offset] of offsets) {
      if (this.ownCommits.has(partition)) continue;
      const metadata = this.recordAt(partition, offset);
      if (metadata !== undefined) commits.push({ partition, offset, metadata });
    }
    return commits;
  }

  committed(commits: readonly OffsetCommit[], failure?: unknown): void {
    this.ownCommits.settle(commits, failure);
  }

  /** The stream record a commit of `partition` at `offset` carries, or undefined while it may not be committed. */
  recordAt(partition: number, offset: bigint): string | undefined {
    return this.lanes.get(partition)?.recordAt(offset);
  }

  async close(): Promise<void> {
    for (const lane of this.lanes.values()) lane.close('the service is stopping');
    this.lanes.clear();
    this.ownCommits.end('the service is stopping');
    await this.client.close();
  }

  private context(ownCommits: OwnCommits): LaneContext {
    return {
      commit: (partition, offset, metadata) => ownCommits.commit(partition, offset, metadata),
      client: this.client,
      table: this.settings.table,
      retry: { minMs: RETRY_MIN_DELAY_MS, maxMs: this.settings.retryMaxDelayMs },
      logger: this.logger,
      fallbacks: this.fallbacks,
      reporter: () => this.reporter,
    };
  }
}
