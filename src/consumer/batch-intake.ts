import type { EachBatchPayload } from '@nestjs/microservices/external/kafka.interface.js';
import { deltaOfBatch, freeBytes, packBatch } from '../decode/play-batch.js';
import type { BatchPlace, LiveDeltas } from '../live/live-deltas.js';
import type { Counter, Gauge } from '../metrics/metrics.js';
import type { SourceMessage } from '../plays/source-message.js';
import { sleep } from '../retry/backoff.js';
import type { BatchPuts, HeldBytes, KeysAndHeaders, TakenBatch } from './batch-puts.js';
import type { GroupMembership } from './group-membership.js';
import { batchCost, MemoryBudget } from './memory-budget.js';
import type { OffsetLedger } from './offset-ledger.js';
import type { PartitionHolds } from './partition-holds.js';

/**
 * Takes batches from kafkajs' eachBatch into the ledger, the memory budget and the puts, as far as
 * there is room: a partition that may not be taken from now is paused instead (PartitionHolds).
 */
export class BatchIntake {
  readonly budget: MemoryBudget;
  /** Partitions whose last batch taken left messages behind it in the log. */
  private readonly behind = new Set<number>();
  /** Live-view deltas being published: their batches' offsets are committable once each lands. */
  private readonly publishing = new Set<Promise<unknown>>();

  constructor(
    private readonly ledger: OffsetLedger,
    private readonly membership: GroupMembership,
    private readonly holds: PartitionHolds,
    private readonly puts: BatchPuts,
    private readonly liveDeltas: Pick<LiveDeltas, 'publish'>,
    private readonly consumed: Counter,
    private readonly heldBytes: Gauge,
    budgetBytes: number,
    private readonly stopping: () => boolean,
  ) {
    this.budget = new MemoryBudget(budgetBytes);
  }

  /** A new generation: what was taken before is forgotten (the ledger is cleared), so nothing is held. */
  rejoined(): void {
    this.holds.resumeAll();
    this.puts.rejoined();
    this.behind.clear();
  }

  /** Once the deltas being published now have landed. */
  published(): Promise<unknown> {
    return Promise.all(this.publishing);
  }

  /**
   * Takes a batch: waits while the memory budget is spent or MAX_BATCHES_IN_DECODE batches are in
   * progress (heartbeating, so the group keeps this member), then records it in the ledger (one entry
   * per batch), packs its messages into flat arrays and hands them to the decoder, and returns, so
   * kafkajs fetches the next batch while this one is decoded and put, and kafkajs' message objects die
   * young. A heartbeat that finds the group rebalancing is thrown to kafkajs, which rejoins; a batch
   * not yet taken then is fetched again.
   */
  async take(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    const { topic, partition } = batch;
    const messages = batch.messages;
    if (messages.length === 0) return;
    // A partition whose commit point is stuck (e.g. behind a dead letter the topic refuses) must not
    // grow its ledger and its writer's checkpoints without bound, nor hold up the others: its batch is
    // not taken (kafkajs fetches it again from the last offset resolved) and the partition is paused
    // until its commit point moves. Waiting here instead would hold up every partition's batches.
    const why = this.holds.reason(partition, Date.now());
    if (why !== null) return this.holds.hold(partition, why, () => payload.pause());
    let valueBytes = 0;
    for (const { value } of messages) valueBytes += value?.length ?? 0;
    const cost = batchCost(valueBytes, messages.length);
    while (!this.puts.hasFreeSlot() || !this.budget.hasRoomFor(cost)) {
      if (this.stopping() || !payload.isRunning() || payload.isStale()) return;
      // It may be the partition whose batches are stuck in the sink.
      const stuck = this.holds.reason(partition, Date.now());
      if (stuck !== null) return this.holds.hold(partition, stuck, () => payload.pause());
      await Promise.race([...this.puts.inProgress, this.budget.released(3_000), sleep(3_000)]);
      // A sink that stays full (BigQuery down) must not cost the group membership; a rebalance must not be missed.
      await payload.heartbeat();
    }
    // Checked last: nothing below awaits before the batch is recorded, so none of these can change.
    if (this.stopping() || !payload.isRunning() || payload.isStale()) return;
    const last = messages[messages.length - 1]!.offset;
    const lastOffset = BigInt(last);
    const finish = this.ledger.take(partition, lastOffset, messages.length, BigInt(messages[0]!.offset));
    const release = this.budget.charge(cost);
    this.heldBytes.set(this.budget.heldBytes);
    const packed = packBatch(topic, partition, messages, new Date().toISOString());
    const held: HeldBytes = { packed, rows: null, plays: null };
    // The batch reaches the partition's end after batches that did not: a backlog ends here, and its
    // last rows need not wait for more to fill their request (while caught up, rows trickle in and do).
    const atEnd = lastOffset + 1n >= BigInt(batch.highWatermark);
    const endsBacklog = atEnd && this.behind.has(partition);
    if (atEnd) this.behind.delete(partition);
    else this.behind.add(partition);
    const place: BatchPlace = endsBacklog ? 'ends-backlog' : atEnd ? 'caught-up' : 'behind';
    const { settle, done } = this.outcomes(held, finish, release, messages.length, place);
    payload.resolveOffset(last);
    this.consumed.inc(messages.length);

    // The sink waits while full, calling this now and then; rebalances are noticed by the loop above.
    const keepAlive = () => payload.heartbeat().catch(() => undefined);
    const assignment = this.membership.assignmentId;
    const taken: TakenBatch = {
      current: () => this.membership.assignmentId === assignment,
      lastOffset,
      endsBacklog,
      done,
      dropped: settle,
    };
    this.puts.start(held, keysAndHeaders(messages), taken, keepAlive);
  }

  /**
   * How a taken batch's messages are settled (their memory given back) and done (committable). Made
   * here, not in take: these closures outlive the batch (to its delta's publish), and any closure of
   * take would keep kafkajs' batch, and the fetch response under it, alive with them.
   */
  private outcomes(
    held: HeldBytes,
    finish: (count: number) => void,
    release: () => void,
    count: number,
    place: BatchPlace,
  ): { settle: (count: number) => void; done: (finished?: number) => void } {
    const { topic, partition } = held.packed;
    let unsettled = count;
    // Memory is held until each message is written, dead-lettered or dropped (its partition moved on).
    const settle = (settled: number) => {
      unsettled -= settled;
      if (unsettled <= 0) {
        release();
        this.heldBytes.set(this.budget.heldBytes);
        // Every message is written (its append answered) or dead-lettered (its source copied):
        // nothing reads the batch's bytes any more.
        freeBytes(held.packed.values);
        if (held.rows !== null) freeBytes(held.rows);
      }
    };
    let unfinished = count;
    const assignment = this.membership.assignmentId;
    const done = (finished = 1) => {
      settle(finished);
      if (held.plays === null) return finish(finished);
      // With the live view on, the batch is finished (its offsets committable) once its delta is published.
      unfinished -= finished;
      if (unfinished > 0) return;
      const delta = deltaOfBatch(topic, partition, held.plays);
      const publishing = this.liveDeltas
        .publish(
          delta,
          () => this.membership.assignmentId === assignment && this.membership.owned.has(partition),
          place,
        )
        .then((published) => published && finish(count));
      this.publishing.add(publishing);
      void publishing.finally(() => this.publishing.delete(publishing));
    };
    return { settle, done };
  }
}

/** The keys and headers of a batch's messages that have any (usually none), by index, for dead letters. */
function keysAndHeaders(
  messages: readonly { key: Buffer | null; headers?: SourceMessage['headers'] }[],
): KeysAndHeaders {
  let extras: KeysAndHeaders = null;
  for (let i = 0; i < messages.length; i++) {
    const { key, headers } = messages[i]!;
    if (key === null && (headers === undefined || isEmpty(headers))) continue;
    (extras ??= new Map()).set(i, { key, headers: headers ?? {} });
  }
  return extras;
}

function isEmpty(object: object): boolean {
  for (const _ in object) return false;
  return true;
}
