import type { Logger } from '@nestjs/common';
import type { DeadLetters } from '../dead-letters/dead-letters.service.js';
import { offsetOf, valueOf, type BatchPlays, type PackedBatch } from '../decode/play-batch.js';
import type { PlayDecoder } from '../decode/play-decoder.js';
import { errorText } from '../errors.js';
import { OutageLog } from '../logging/outage-log.js';
import type { SourceMessage } from '../plays/source-message.js';
import { retry, type BackoffPolicy } from '../retry/backoff.js';
import type { PlaySink } from '../sink/sink.contract.js';
import type { PartitionHolds } from './partition-holds.js';
import type { StuckPuts } from './stuck-puts.js';

// Batches taken from kafkajs and not yet in the sink: enough to keep the decoder and the consumer busy.
const MAX_BATCHES_IN_DECODE = 4;
/** Backoff (capped) when taking a batch fails unexpectedly (e.g. a decoder thread died): the batch is retried. */
const TAKE_RETRY: BackoffPolicy = { minMs: 100, maxMs: 5_000 };

/** A batch as taken: whether its assignment lasts, its last offset, and how its messages are settled. */
export interface TakenBatch {
  /** The assignment it was taken in is still this member's: the sink takes rows of its current assignment only. */
  current: () => boolean;
  lastOffset: bigint;
  /** It ends a backlog of its partition (see RowChunk.endsBacklog). */
  endsBacklog: boolean;
  /** That many more messages are written or dead-lettered. */
  done: (finished: number) => void;
  /** That many more rows will not be written by this member: only their memory is released. */
  dropped: (count: number) => void;
}

/** A taken batch's bytes, freed at once when its last message is done (play-batch.ts' freeBytes). */
export interface HeldBytes {
  packed: PackedBatch;
  rows: Uint8Array | null;
  /** The live view's count of the batch's plays (null when it is off). */
  plays: BatchPlays | null;
}

/** By message index, the keys and headers a batch's dead letters carry (null: no message has any). */
export type KeysAndHeaders = Map<number, Pick<SourceMessage, 'key' | 'headers'>> | null;

/**
 * The taken batches on their way into the sink: each is decoded (in parallel with the others), its
 * bad messages go to the dead letters and its rows into the sink, a partition's in the order taken.
 * At most MAX_BATCHES_IN_DECODE at a time, not counting those of partitions stuck in the sink.
 */
export class BatchPuts {
  /** Batches being decoded or put. */
  readonly inProgress = new Set<Promise<void>>();
  /** Per partition, its batches in inProgress. */
  private readonly inProgressOf = new Map<number, number>();
  /** Per partition, the last batch's turn to put: a partition's rows reach the sink in offset order. */
  private readonly putTurns = new Map<number, Promise<void>>();
  private activeBatches = 0;
  private readonly takeOutage: OutageLog;

  constructor(
    private readonly sink: PlaySink,
    private readonly deadLetters: Pick<DeadLetters, 'put'>,
    private readonly decoder: Pick<PlayDecoder, 'decode'>,
    private readonly holds: PartitionHolds,
    private readonly stuckPuts: StuckPuts,
    private readonly stopping: () => boolean,
    private readonly logger: Logger,
  ) {
    this.takeOutage = new OutageLog(logger, 'taking a batch');
  }

  /** Batches not yet through their put (a stop waits for none to be left). */
  get active(): number {
    return this.activeBatches;
  }

  /** Whether another batch may be taken: fewer than MAX_BATCHES_IN_DECODE take a decoding slot. */
  hasFreeSlot(): boolean {
    return this.slotsTaken() < MAX_BATCHES_IN_DECODE;
  }

  /** Starts decoding and putting a batch just taken. */
  start(held: HeldBytes, extras: KeysAndHeaders, taken: TakenBatch, keepAlive: () => Promise<void>): void {
    const { partition } = held.packed;
    const work = this.putBatch(held, extras, taken, keepAlive);
    this.inProgress.add(work);
    this.inProgressOf.set(partition, (this.inProgressOf.get(partition) ?? 0) + 1);
    void work.finally(() => {
      this.inProgress.delete(work);
      const left = this.inProgressOf.get(partition)! - 1;
      if (left > 0) this.inProgressOf.set(partition, left);
      else this.inProgressOf.delete(partition);
    });
  }

  /** A new generation: the batches taken before it keep no partition's turn. */
  rejoined(): void {
    this.putTurns.clear();
  }

  /** Batches in progress, less those of partitions stuck in the sink: they need no decoding slot to wait. */
  private slotsTaken(): number {
    let taken = this.inProgress.size;
    if (taken < MAX_BATCHES_IN_DECODE) return taken;
    for (const partition of this.stuckPuts.stuck(Date.now())) taken -= this.inProgressOf.get(partition) ?? 0;
    return taken;
  }

  /**
   * Decodes a taken batch, queues its dead letters and puts its rows in the sink. Decoding never
   * throws for bad input; if it throws anyway (a decoder thread that died), the batch is decoded
   * again with backoff rather than left uncommitted while consumption goes on, and a fault that
   * persists shows as a stalled partition.
   */
  private async putBatch(
    held: HeldBytes,
    extras: KeysAndHeaders,
    { current, lastOffset, endsBacklog, done, dropped }: TakenBatch,
    keepAlive: () => Promise<void>,
  ): Promise<void> {
    const { packed } = held;
    const { topic, partition } = packed;
    this.activeBatches++;
    // Batches decode in parallel but reach the sink in the order taken (an exactly-once sink appends in offset order).
    const previousTurn = this.putTurns.get(partition) ?? Promise.resolve();
    let endTurn!: () => void;
    const turn = new Promise<void>((resolve) => (endTurn = resolve));
    this.putTurns.set(partition, turn);
    try {
      // Sources are rebuilt only for the messages that become dead letters.
      const sourceOf = (i: number): SourceMessage => ({
        topic,
        partition,
        offset: offsetOf(packed, i),
        key: extras?.get(i)?.key ?? null,
        value: valueOf(packed, i),
        headers: extras?.get(i)?.headers ?? {},
      });
      const decoded = await this.retryTaking(`decoding ${topic}/${partition}`, () => this.decoder.decode(packed));
      await previousTurn;
      if (decoded === null) return;
      const { rows, rowEnds, rowMessages, invalid, plays } = decoded;
      held.rows = rows;
      held.plays = plays;
      this.deadLetters.put(
        invalid.map(({ index, reason, detail }) => ({ source: sourceOf(index), reason, detail, done: () => done(1) })),
      );
      // A batch of dead letters only may still end a backlog: the sink then sends what it holds.
      if (rowEnds.length === 0 && !endsBacklog) return;
      // Its assignment is over (the sink opened a newer one): not this member's to write, the
      // partition's next owner gets the rows again.
      if (!current()) return dropped(rowEnds.length);
      const putDone = this.stuckPuts.waiting(partition);
      await this.sink
        .put(
          {
            // Without rows, the batch's letters may all be done already, and its bytes freed.
            rows: rowEnds.length === 0 ? Buffer.alloc(0) : Buffer.from(rows.buffer, rows.byteOffset, rows.byteLength),
            ends: rowEnds,
            source: (row) => sourceOf(rowMessages[row]!),
            // Not a play in the table: the live delta counts it as none.
            lettered: (row) => {
              if (plays !== null) plays.groups[Number(packed.offsets[rowMessages[row]!]) - plays.first] = -1;
            },
            partition,
            lastOffset,
            endsBacklog,
            done,
            dropped,
          },
          keepAlive,
        )
        .finally(putDone);
      this.holds.resumeIfRoom(partition);
    } catch (error) {
      // The sink's put does not throw; if it ever does, whether it took the rows is unknown, so they
      // stay uncommitted (redelivered after a restart or rebalance) and the partition shows as stalled.
      this.logger.error(`unexpected error while putting a batch of ${topic}/${partition}: ${errorText(error)}`);
    } finally {
      endTurn();
      if (this.putTurns.get(partition) === turn) this.putTurns.delete(partition);
      this.activeBatches--;
    }
  }

  /** Runs `step` until it succeeds, with capped backoff; null if the service stops first. */
  private async retryTaking<T>(what: string, step: () => Promise<T>): Promise<T | null> {
    try {
      const result = await retry(step, {
        policy: TAKE_RETRY,
        retryable: () => !this.stopping(),
        failed: (error) => this.takeOutage.failed(`${what}: ${errorText(error)}`, 'unexpected'),
      });
      this.takeOutage.succeeded();
      return result;
    } catch {
      return null;
    }
  }
}
