import { Inject, Injectable, Logger, type BeforeApplicationShutdown } from '@nestjs/common';
import { ServerKafka } from '@nestjs/microservices';
import type { Admin, Consumer, EachBatchPayload, Offsets } from '@nestjs/microservices/external/kafka.interface.js';
import kafkajs from 'kafkajs';
import { AppConfig } from '../config/config.module.js';
import { DeadLetters } from '../dead-letters/dead-letters.service.js';
import { errorText } from '../errors.js';
import { LiveDeltas } from '../live/live-deltas.js';
import { kafkaClientConfig } from '../kafka/kafka-client-config.js';
import { classifyKafkaError } from '../kafka/kafka-faults.js';
import { OutageLog } from '../logging/outage-log.js';
import { describeKafkaError, type KafkaFailure } from '../kafka/kafka-errors.js';
import { InjectMetric, METRIC, type Counter, type Gauge } from '../metrics/metrics.js';
import type { SourceMessage } from '../plays/source-message.js';
import { AssignmentEnded, PLAY_SINK, type Assignment, type PartitionStart, type PlaySink } from '../sink/play-sink.js';
import { batchCost, MemoryBudget } from './memory-budget.js';
import { OffsetLedger } from './offset-ledger.js';
import {
  deltaOfBatch,
  freeBytes,
  offsetOf,
  packBatch,
  valueOf,
  type BatchPlays,
  type PackedBatch,
} from '../decode/play-batch.js';
import { PlayDecoder } from '../decode/play-decoder.js';

const COMMIT_INTERVAL_MS = 200;
// A commit follows this soon after a batch is wholly written: a drain's last rows are committed at
// once, not up to COMMIT_INTERVAL_MS later, and commits at full speed stay a few per second per
// partition (kafkajs' own autoCommit commits after every batch).
const COMMIT_DELAY_MS = 10;
// Batches taken from kafkajs and not yet in the sink: enough to keep the decoder and the consumer busy.
const MAX_BATCHES_IN_DECODE = 4;
const LAG_INTERVAL_MS = 10_000;
/**
 * A partition whose put has waited this long for room in the sink is stuck (its rows do not go
 * through, e.g. its write stream waits for a dead letter the topic refuses): its batches stop counting
 * against MAX_BATCHES_IN_DECODE and no more are taken from it, so it does not hold up the others.
 */
const STUCK_PUT_MS = 5_000;
/** Backoff cap when taking a batch fails unexpectedly (e.g. a decoder thread died): the batch is retried. */
const TAKE_RETRY_MAX_MS = 5_000;

/** A partition whose commit point has not moved for INGEST_STALL_TIMEOUT_MS while it has lag. */
export interface StalledPartition {
  partition: number;
  /** Since when its commit point has not moved (ISO-8601). */
  since: string;
  /** Messages taken and not yet written or dead-lettered. */
  pending: number;
}

/**
 * A partition this member takes no more from, until its commit point moves: it holds
 * INGEST_PARTITION_MAX_UNCOMMITTED messages past it, or its rows do not go into the sink.
 */
export interface HeldPartition {
  partition: number;
  /** Its uncommitted span reached the limit, or its rows have waited STUCK_PUT_MS for the sink. */
  cause: HoldCause;
  /** Why, for a person. */
  reason: string;
  /** Messages taken past the commit point, finished or not. */
  uncommitted: number;
  /** The first of them, which is not yet written or dead-lettered. */
  from: string;
  /** Since when (ISO-8601). */
  since: string;
}

export type HoldCause = 'uncommitted' | 'sink';

/** What the consumer is doing, for readiness and metrics. */
export interface ConsumerHealth {
  /** In the group (joined, not rebalancing or disconnected). */
  joined: boolean;
  /** The error it crashed with, until it rejoins. */
  crashed: string | null;
  /** Why it could not connect (e.g. authentication, TLS), until it does; main.ts keeps retrying. */
  cannotStart: KafkaFailure | null;
  /** When it last completed a fetch from the broker (epoch ms), or null. */
  lastFetchAt: number | null;
  assigned: number[];
  /** Partitions whose commit point is stuck while they have lag. */
  stalled: StalledPartition[];
  /** Partitions not taken from until their commit point moves. */
  held: HeldPartition[];
  /** Bytes held for messages taken and not yet committed, and the budget. */
  heldBytes: number;
  budgetBytes: number;
}

/**
 * The NestJS Kafka transport for plays: a `ServerKafka` that consumes with kafkajs `eachBatch`
 * instead of one awaited handler call per message. Each message is decoded into a play (or a dead
 * letter) and handed to the sink; offsets are committed only up to the first message that is not
 * yet written or dead-lettered, and only for partitions this member owns.
 *
 * Connect it with `app.connectMicroservice({ strategy: app.get(PlaysServer) })`.
 */
@Injectable()
export class PlaysServer extends ServerKafka implements BeforeApplicationShutdown {
  protected override readonly logger = new Logger(PlaysServer.name);
  private readonly ledger = new OffsetLedger((partition) => {
    this.progressAt.set(partition, Date.now());
    this.resumeIfRoom(partition);
    this.commitSoon();
  });
  /** Partitions paused by onBatch (see holdReason): since when, and how to resume. */
  private readonly held = new Map<number, { since: number; resume: () => void }>();
  /** Partitions with a kafka_partition_stalled_seconds series from this member. */
  private readonly stallReported = new Set<number>();
  private readonly budget: MemoryBudget;
  private readonly commitOutage = new OutageLog(this.logger, 'committing offsets');
  private readonly takeOutage = new OutageLog(this.logger, 'taking a batch');
  private readonly crashOutage = new OutageLog(this.logger, 'the Kafka consumer');
  private readonly topic: string;
  private owned = new Set<number>();
  /** When each owned partition last made progress: assigned, commit point moved, or seen without lag. */
  private readonly progressAt = new Map<number, number>();
  private readonly lagOf = new Map<number, number>();
  private joined = false;
  private crashed: string | null = null;
  private cannotStart: KafkaFailure | null = null;
  private lastFetchAt: number | null = null;
  private stopping = false;
  /** consumer.run was called: there is something to pause, flush and commit at shutdown. */
  private running = false;
  private activeBatches = 0;
  private commitTimer: NodeJS.Timeout | undefined;
  private lagTimer: NodeJS.Timeout | undefined;
  private committing: Promise<void> | null = null;
  private commitAgain = false;
  private commitSoonTimer: NodeJS.Timeout | undefined;
  private readonly inProgress = new Set<Promise<void>>();
  /** Live-view deltas being published: their batches' offsets are committable once each lands. */
  private readonly publishing = new Set<Promise<unknown>>();
  /** Per partition, its batches in inProgress. */
  private readonly inProgressOf = new Map<number, number>();
  /** Per partition, since when its put has been waiting for room in the sink. */
  private readonly putWaitingSince = new Map<number, { since: number }>();
  /** Counts this member's assignments (one per join of the group); chunks carry the one they were taken in. */
  private assignmentId = 0;
  /** Partitions whose last batch taken left messages behind it in the log. */
  private readonly behind = new Set<number>();
  /** Per partition, the last batch's turn to put: a partition's rows reach the sink in offset order. */
  private readonly putTurns = new Map<number, Promise<void>>();
  /** Offset commits the broker has not yet answered. */
  private readonly commitsInFlight = new Set<Promise<void>>();
  /**
   * Sends one OffsetCommit as the member kafkajs is at the moment of the call (its current generation),
   * with no retry: eachBatch's commitOffsetsIfNecessary(offsets) of the running consumer. kafkajs'
   * consumer.commitOffsets retries a failed commit for seconds, across a rejoin too, then under the new
   * generation: a commit of an assignment that is over could land after the partition's next owner read
   * its start, and replace that owner's record. One attempt under the generation it was made for is
   * refused by the broker once the group has moved on; the service tries again only while the
   * assignment lasts (the commit loop, the sink's record retries).
   */
  private committer: CommitRequest | null = null;
  private committerWaiters: (() => void)[] = [];
  /** The admin client withAdmin keeps (of the current Kafka client), while it connects or once connected. */
  private admin: { of: object; connecting: Promise<Admin> } | null = null;

  constructor(
    private readonly config: AppConfig,
    @Inject(PLAY_SINK) private readonly sink: PlaySink,
    private readonly deadLetters: DeadLetters,
    private readonly decoder: PlayDecoder,
    private readonly liveDeltas: LiveDeltas,
    @InjectMetric(METRIC.playsConsumed) private readonly consumed: Counter,
    @InjectMetric(METRIC.consumerLag) private readonly lag: Gauge<'topic' | 'partition'>,
    @InjectMetric(METRIC.partitionStalled) private readonly stalledSeconds: Gauge<'topic' | 'partition'>,
    @InjectMetric(METRIC.heldBytes) private readonly heldBytes: Gauge,
  ) {
    const client = kafkaClientConfig(config, 'ingest', new Logger('Kafka'));
    super({
      client,
      // Keep the ids users configured: no "-server" suffix.
      postfixId: '',
      consumer: {
        groupId: config.KAFKA_GROUP_ID,
        maxWaitTimeInMs: 1_000,
        allowAutoTopicCreation: true,
        // Each fetch's messages (kafkajs' objects and the response they are views of) outlive a
        // scavenge and go only at a full collection: half of the former 256 KB / 2 MB took ~15 MB
        // off the peak RSS of a large backlog's drain (docs/BENCHMARKS.md).
        maxBytesPerPartition: 128 * 1024,
        maxBytes: 1024 * 1024,
      },
      subscribe: { fromBeginning: true },
      run: { autoCommit: false },
      // ServerKafka always connects a producer (for replies); this one never sends.
      producer: { createPartitioner: kafkajs.Partitioners.DefaultPartitioner },
    });
    this.topic = config.KAFKA_TOPIC;
    this.budget = new MemoryBudget(config.INGEST_MEMORY_BUDGET_MB * 1024 * 1024);
  }

  get health(): ConsumerHealth {
    return {
      joined: this.joined,
      crashed: this.crashed,
      cannotStart: this.cannotStart,
      lastFetchAt: this.lastFetchAt,
      assigned: [...this.owned].sort((a, b) => a - b),
      stalled: this.stalledPartitions(),
      held: [...this.held].map(([partition, { since }]) => {
        const { messages = 0, from = 0n } = this.ledger.uncommittedOf(partition) ?? {};
        const why = this.holdReason(partition, Date.now());
        return {
          partition,
          cause: why?.cause ?? 'uncommitted',
          reason: why?.text ?? `partition ${partition} moved on; taken from again at the next fetch`,
          uncommitted: messages,
          from: from.toString(),
          since: new Date(since).toISOString(),
        };
      }),
      heldBytes: this.budget.heldBytes,
      budgetBytes: this.budget.limitBytes,
    };
  }

  /** Owned partitions with lag (messages pending, or behind the end offset) and no progress for the stall timeout. */
  private stalledPartitions(now = Date.now()): StalledPartition[] {
    const stalled: StalledPartition[] = [];
    for (const partition of this.owned) {
      let since = this.progressAt.get(partition);
      if (since === undefined) this.progressAt.set(partition, (since = now));
      const pending = this.ledger.pendingOf(partition);
      const behind = pending > 0 || (this.lagOf.get(partition) ?? 0) > 0;
      if (behind && now - since > this.config.INGEST_STALL_TIMEOUT_MS) {
        stalled.push({ partition, since: new Date(since).toISOString(), pending });
      }
    }
    return stalled;
  }

  /** Remembers why a start failed (Nest's callback gets the error), for readiness and main.ts' log. */
  override async listen(callback: (error?: unknown, ...rest: unknown[]) => void): Promise<void> {
    await super.listen((error?: unknown, ...rest: unknown[]) => {
      this.cannotStart = error ? describeKafkaError(error, this.config.KAFKA_BROKERS) : null;
      callback(error, ...rest);
    });
  }

  override async bindEvents(consumer: Consumer): Promise<void> {
    const { GROUP_JOIN, CRASH, DISCONNECT, REBALANCING, FETCH } = consumer.events;
    // A fetch completes at least every maxWaitTimeInMs while the broker answers, even when idle.
    consumer.on(FETCH, () => (this.lastFetchAt = Date.now()));
    // Connected before the first assignment needs it.
    void this.withAdmin(() => Promise.resolve()).catch(() => undefined);
    consumer.on(GROUP_JOIN, ({ payload }) => {
      // A new generation: the group redelivers from its committed offsets, so what this member
      // took before is forgotten and never committed, whoever owns the partition now.
      this.ledger.clear();
      this.resumeAll();
      this.putTurns.clear();
      this.behind.clear();
      this.owned = new Set(payload.memberAssignment[this.topic] ?? []);
      const now = Date.now();
      this.progressAt.clear();
      for (const partition of this.owned) this.progressAt.set(partition, now);
      this.reportStalls(now);
      this.joined = true;
      this.crashed = null;
      this.crashOutage.succeeded();
      this.assignmentId++;
      this.sink.open(this.assignment(this.assignmentId, [...this.owned]));
      this.logger.log(`joined group ${payload.groupId}; partitions ${[...this.owned].join(', ') || 'none'}`);
    });
    // Until the next join this member owns nothing: nothing may be committed for a partition that may
    // be someone else's by now.
    consumer.on(REBALANCING, () => this.lostGroup());
    // A JoinGroup answered: this member is joining a new generation, so its assignment is over. kafkajs
    // makes the new generation the one commits go out under before it reports the join (GROUP_JOIN), and
    // not every rejoin is reported as REBALANCING first; a commit of the old assignment must not slip in
    // between. (The event fires before kafkajs goes on with the answer.)
    consumer.on(consumer.events.REQUEST, ({ payload }) => {
      if (payload.apiName === 'JoinGroup') this.lostGroup();
    });
    // The run ends: its way to commit goes with it (a restarted run is a new member).
    const runEnded = () => {
      this.lostGroup();
      this.committer = null;
    };
    consumer.on(DISCONNECT, runEnded);
    consumer.on(consumer.events.STOP, runEnded);
    consumer.on(CRASH, ({ payload }) => {
      runEnded();
      // The table says what to do; the description says, for a person, which setting is wrong and with which broker.
      const fault = classifyKafkaError(payload.error, this.topic);
      const described = describeKafkaError(payload.error, this.config.KAFKA_BROKERS);
      this.crashed = `${described.text}${fault.fix && described.kind === 'other' ? `; to fix: ${fault.fix}` : ''}`;
      // kafkajs restarts it with backoff: one line when the crashes start, not one per restart.
      this.crashOutage.failed(
        `${described.text}${payload.restart ? '; kafkajs restarts it' : '; kafkajs does not restart it'}`,
        fault.reason,
        fault.class === 'permanent' ? fault.fix : undefined,
      );
    });

    await consumer.subscribe({ topics: [this.topic], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: (payload) => this.onBatch(payload),
    });
    this.running = true;
    this.commitTimer = setInterval(() => void this.commit(), COMMIT_INTERVAL_MS).unref();
    this.lagTimer = setInterval(() => void this.measureLag(), LAG_INTERVAL_MS).unref();
  }

  private lostGroup(): void {
    this.joined = false;
    this.owned = new Set();
  }

  /** What the sink may ask of Kafka for the partitions of one assignment, while it lasts. */
  private assignment(id: number, partitions: number[]): Assignment {
    const current = () => {
      if (id !== this.assignmentId || !this.joined) throw new AssignmentEnded(`assignment ${id} is over`);
    };
    return {
      id,
      partitions,
      starts: async () => {
        current();
        // kafkajs retries a failed commit, across a rejoin too, under the new generation: one made for
        // an earlier assignment could land after this read and replace the record this one makes.
        // Read once those have landed or failed.
        await Promise.allSettled([...this.commitsInFlight]);
        current();
        const starts = await this.readStarts(partitions);
        current();
        return starts;
      },
      record: async (partition, offset, metadata) => {
        current();
        const committer = await this.currentCommitter();
        // Checked again right before the one attempt: it goes out under this assignment's generation.
        current();
        await this.commitOffsets(committer, [{ partition, offset: offset.toString(), metadata }]);
        current();
      },
    };
  }

  /** Sends one commit (see `committer`), keeping it in commitsInFlight until the broker answers. */
  private commitOffsets(
    committer: CommitRequest,
    offsets: { partition: number; offset: string; metadata: string | null }[],
  ): Promise<void> {
    // kafkajs passes each partition's metadata on to the OffsetCommit request (its type leaves it out).
    const commit = committer({ topics: [{ topic: this.topic, partitions: offsets }] });
    this.commitsInFlight.add(commit);
    void commit.finally(() => this.commitsInFlight.delete(commit)).catch(() => undefined);
    return commit;
  }

  /**
   * The running consumer's way to commit. A (re)started run has one from its first batch on; until
   * then there is nothing to write either (an assignment's record precedes its first append).
   */
  private async currentCommitter(): Promise<CommitRequest> {
    while (this.committer === null) await new Promise<void>((resolve) => this.committerWaiters.push(resolve));
    return this.committer;
  }

  /** The group's committed offsets (the earliest offset where there is none) and their metadata. */
  private async readStarts(partitions: number[]): Promise<Map<number, PartitionStart>> {
    return this.withAdmin(async (admin) => {
      const [[committed], earliest] = await Promise.all([
        admin.fetchOffsets({ groupId: this.config.KAFKA_GROUP_ID, topics: [this.topic] }),
        admin.fetchTopicOffsets(this.topic),
      ]);
      const lowOf = new Map(earliest.map((p) => [p.partition, BigInt(p.low)]));
      const committedOf = new Map(committed?.partitions.map((p) => [p.partition, p]));
      const starts = new Map<number, PartitionStart>();
      for (const partition of partitions) {
        const { offset = '-1', metadata = null } = committedOf.get(partition) ?? {};
        const at = BigInt(offset);
        starts.set(
          partition,
          at >= 0n ? { offset: at, metadata } : { offset: lowOf.get(partition) ?? 0n, metadata: null },
        );
      }
      return starts;
    });
  }

  /**
   * Runs `use` with the service's one admin client (lag, assignment starts, the shutdown report),
   * connected on first use and kept: a new kafkajs admin client finds the group coordinator only
   * after a metadata refresh, ~300 ms of retry backoff, which every assignment would wait out.
   * After a failure the next use connects a new one.
   */
  private async withAdmin<T>(use: (admin: Admin) => Promise<T>): Promise<T> {
    const client = this.client;
    if (client === null) throw new Error('no Kafka client');
    if (this.admin?.of !== client) {
      void this.dropAdmin();
      const connecting = (async () => {
        const admin = client.admin();
        await admin.connect();
        // Learns the brokers' ids, so finding the group coordinator needs no retry.
        await admin.describeCluster();
        return admin;
      })();
      this.admin = { of: client, connecting };
    }
    const kept = this.admin;
    try {
      return await use(await kept.connecting);
    } catch (error) {
      if (this.admin === kept) void this.dropAdmin();
      throw error;
    }
  }

  /** Forgets the kept admin client; resolves once it is disconnected. */
  private async dropAdmin(): Promise<void> {
    const connecting = this.admin?.connecting;
    this.admin = null;
    await connecting?.then((admin) => admin.disconnect()).catch(() => undefined);
  }

  override async close(): Promise<void> {
    await this.dropAdmin();
    await super.close();
  }

  /**
   * Takes a batch: waits while the memory budget is spent or MAX_BATCHES_IN_DECODE batches are in
   * progress (heartbeating, so the group keeps this member), then records it in the ledger (one entry
   * per batch), packs its messages into flat arrays and hands them to the decoder, and returns, so
   * kafkajs fetches the next batch while this one is decoded and put, and kafkajs' message objects die
   * young. A heartbeat that finds the group rebalancing is thrown to kafkajs, which rejoins; a batch
   * not yet taken then is fetched again.
   */
  private async onBatch(payload: EachBatchPayload): Promise<void> {
    // An arrow function of kafkajs' runner, bound to it already.
    // eslint-disable-next-line @typescript-eslint/unbound-method
    this.committer = payload.commitOffsetsIfNecessary;
    if (this.committerWaiters.length > 0) for (const wake of this.committerWaiters.splice(0)) wake();
    const { batch } = payload;
    const { topic, partition } = batch;
    const messages = batch.messages;
    if (messages.length === 0) return;
    // A partition whose commit point is stuck (e.g. behind a dead letter the topic refuses) must not
    // grow its ledger and its writer's checkpoints without bound, nor hold up the others: its batch is
    // not taken (kafkajs fetches it again from the last offset resolved) and the partition is paused
    // until its commit point moves. Waiting here instead would hold up every partition's batches.
    const why = this.holdReason(partition, Date.now());
    if (why !== null) return this.hold(partition, why, () => payload.pause());
    let valueBytes = 0;
    for (const { value } of messages) valueBytes += value?.length ?? 0;
    const cost = batchCost(valueBytes, messages.length);
    while (this.decodingSlotsTaken() >= MAX_BATCHES_IN_DECODE || !this.budget.hasRoomFor(cost)) {
      if (this.stopping || !payload.isRunning() || payload.isStale()) return;
      // It may be the partition whose batches are stuck in the sink.
      const stuck = this.holdReason(partition, Date.now());
      if (stuck !== null) return this.hold(partition, stuck, () => payload.pause());
      await Promise.race([...this.inProgress, this.budget.released(3_000), sleep(3_000)]);
      // A sink that stays full (BigQuery down) must not cost the group membership; a rebalance must not be missed.
      await payload.heartbeat();
    }
    // Checked last: nothing below awaits before the batch is recorded, so none of these can change.
    if (this.stopping || !payload.isRunning() || payload.isStale()) return;
    const last = messages[messages.length - 1]!.offset;
    const lastOffset = BigInt(last);
    const finish = this.ledger.take(partition, lastOffset, messages.length, BigInt(messages[0]!.offset));
    const release = this.budget.charge(cost);
    this.heldBytes.set(this.budget.heldBytes);
    const packed = packBatch(topic, partition, messages, new Date().toISOString());
    const held: HeldBytes = { packed, rows: null, plays: null };
    const { settle, done } = this.outcomes(held, finish, release, messages.length);
    payload.resolveOffset(last);
    this.consumed.inc(messages.length);

    // The sink waits while full, calling this now and then; rebalances are noticed by the loop above.
    const keepAlive = () => payload.heartbeat().catch(() => undefined);
    // The batch reaches the partition's end after batches that did not: a backlog ends here, and its
    // last rows need not wait for more to fill their request (while caught up, rows trickle in and do).
    const atEnd = lastOffset + 1n >= BigInt(batch.highWatermark);
    const endsBacklog = atEnd && this.behind.has(partition);
    if (atEnd) this.behind.delete(partition);
    else this.behind.add(partition);
    const taken: TakenBatch = {
      assignment: this.assignmentId,
      lastOffset,
      endsBacklog,
      done,
      dropped: settle,
    };
    const work = this.putBatch(held, keysAndHeaders(messages), taken, keepAlive);
    this.inProgress.add(work);
    this.inProgressOf.set(partition, (this.inProgressOf.get(partition) ?? 0) + 1);
    void work.finally(() => {
      this.inProgress.delete(work);
      const left = this.inProgressOf.get(partition)! - 1;
      if (left > 0) this.inProgressOf.set(partition, left);
      else this.inProgressOf.delete(partition);
    });
  }

  /**
   * How a taken batch's messages are settled (their memory given back) and done (committable). Made
   * here, not in onBatch: these closures outlive the batch (to its delta's publish), and any closure of
   * onBatch would keep kafkajs' batch, and the fetch response under it, alive with them.
   */
  private outcomes(
    held: HeldBytes,
    finish: (count: number) => void,
    release: () => void,
    count: number,
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
    const assignment = this.assignmentId;
    const done = (finished = 1) => {
      settle(finished);
      if (held.plays === null) return finish(finished);
      // With the live view on, the batch is finished (its offsets committable) once its delta is published.
      unfinished -= finished;
      if (unfinished > 0) return;
      const delta = deltaOfBatch(topic, partition, held.plays);
      const publishing = this.liveDeltas
        .publish(delta, () => this.assignmentId === assignment && this.owned.has(partition))
        .then((published) => published && finish(count));
      this.publishing.add(publishing);
      void publishing.finally(() => this.publishing.delete(publishing));
    };
    return { settle, done };
  }

  /** Batches in progress, less those of partitions stuck in the sink: they need no decoding slot to wait. */
  private decodingSlotsTaken(): number {
    let taken = this.inProgress.size;
    if (taken < MAX_BATCHES_IN_DECODE) return taken;
    const now = Date.now();
    for (const [partition, { since }] of this.putWaitingSince) {
      if (now - since >= STUCK_PUT_MS) taken -= this.inProgressOf.get(partition) ?? 0;
    }
    return taken;
  }

  /** Why no more may be taken from a partition now, or null. */
  private holdReason(partition: number, now: number): { cause: HoldCause; text: string } | null {
    const uncommitted = this.ledger.uncommittedOf(partition);
    if (uncommitted !== null && uncommitted.messages >= this.config.INGEST_PARTITION_MAX_UNCOMMITTED) {
      return {
        cause: 'uncommitted',
        text:
          `partition ${partition} holds ${uncommitted.messages} uncommitted messages from offset ${uncommitted.from}, ` +
          `which is not yet written or dead-lettered (INGEST_PARTITION_MAX_UNCOMMITTED)`,
      };
    }
    const since = this.putWaitingSince.get(partition)?.since;
    if (since !== undefined && now - since >= STUCK_PUT_MS) {
      return {
        cause: 'sink',
        text: `partition ${partition}'s rows have waited ${Math.round((now - since) / 1000)} s for the sink to take them (its writes do not go through)`,
      };
    }
    return null;
  }

  private hold(partition: number, why: { text: string }, pause: () => () => void): void {
    if (this.stopping || this.held.has(partition)) return;
    this.held.set(partition, { since: Date.now(), resume: pause() });
    this.logger.warn(`${why.text}: taking no more from it until it moves on; the other partitions go on`);
  }

  /** Resumes a held partition once it may be taken from again (see holdReason). */
  private resumeIfRoom(partition: number): void {
    const held = this.held.get(partition);
    if (held === undefined || this.holdReason(partition, Date.now()) !== null) return;
    this.held.delete(partition);
    // A stop pauses every partition: resuming one then would take from it again.
    if (!this.stopping) held.resume();
    this.logger.log(`partition ${partition} moved on; taking from it again`);
  }

  /** After a rejoin nothing is held any more (the ledger is cleared), but kafkajs keeps partitions paused. */
  private resumeAll(): void {
    for (const [partition, { resume }] of this.held) {
      this.held.delete(partition);
      if (!this.stopping) resume();
    }
  }

  /**
   * Decodes a taken batch, queues its dead letters and puts its rows in the sink. Decoding never
   * throws for bad input; if it throws anyway (a decoder thread that died), the batch is decoded
   * again with backoff rather than left uncommitted while consumption goes on, and a fault that
   * persists shows as a stalled partition.
   */
  private async putBatch(
    held: HeldBytes,
    extras: Map<number, Pick<SourceMessage, 'key' | 'headers'>> | null,
    { assignment, lastOffset, endsBacklog, done, dropped }: TakenBatch,
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
      // A put of an assignment before may still wait: each put clears only its own mark.
      const waiting = { since: Date.now() };
      this.putWaitingSince.set(partition, waiting);
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
            assignment,
            done,
            dropped,
          },
          keepAlive,
        )
        .finally(() => {
          if (this.putWaitingSince.get(partition) === waiting) this.putWaitingSince.delete(partition);
        });
      this.resumeIfRoom(partition);
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
    for (let attempt = 0; ; attempt++) {
      try {
        const result = await step();
        this.takeOutage.succeeded();
        return result;
      } catch (error) {
        this.takeOutage.failed(`${what}: ${errorText(error)}`, 'unexpected');
        if (this.stopping) return null;
        await sleep(Math.min(TAKE_RETRY_MAX_MS, 100 * 2 ** Math.min(attempt, 10)));
      }
    }
  }

  /** Consumer lag per partition: the broker's end offsets less the group's committed offsets. */
  private async measureLag(): Promise<void> {
    if (this.client === null) return;
    try {
      const [ends, [committed]] = await this.withAdmin((admin) =>
        Promise.all([
          admin.fetchTopicOffsets(this.topic),
          admin.fetchOffsets({ groupId: this.config.KAFKA_GROUP_ID, topics: [this.topic] }),
        ]),
      );
      const committedOf = new Map(committed?.partitions.map((p) => [p.partition, Number(p.offset)]));
      const now = Date.now();
      for (const { partition, high, low } of ends) {
        const from = committedOf.get(partition) ?? -1;
        const lag = Math.max(0, Number(high) - (from >= 0 ? from : Number(low)));
        this.lag.set({ topic: this.topic, partition: String(partition) }, lag);
        this.lagOf.set(partition, lag);
        // Nothing to do is progress too: an idle partition never counts as stalled.
        if (lag === 0 && this.ledger.pendingOf(partition) === 0) this.progressAt.set(partition, now);
      }
      this.reportStalls(now);
    } catch {
      // The broker is out of reach: readiness says so; the last figures stay.
    }
  }

  private reportStalls(now: number): void {
    const stalled = new Map(this.stalledPartitions(now).map((s) => [s.partition, s]));
    // A partition that moved away is its new owner's to report: a last value kept here would say it is still stalled.
    for (const partition of this.stallReported) {
      if (this.owned.has(partition)) continue;
      this.stalledSeconds.remove({ topic: this.topic, partition: String(partition) });
      this.stallReported.delete(partition);
    }
    for (const partition of this.owned) {
      const since = stalled.get(partition);
      const seconds = since === undefined ? 0 : (now - Date.parse(since.since)) / 1000;
      this.stalledSeconds.set({ topic: this.topic, partition: String(partition) }, seconds);
      this.stallReported.add(partition);
    }
  }

  /** Commits, for the partitions this member owns, every offset whose messages are all written. */
  private commit(): Promise<void> {
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

  private commitSoon(): void {
    if (this.stopping || this.commitSoonTimer !== undefined) return;
    this.commitSoonTimer = setTimeout(() => {
      this.commitSoonTimer = undefined;
      void this.commit();
    }, COMMIT_DELAY_MS);
  }

  private async commitOnce(): Promise<void> {
    const committer = this.committer;
    if (committer === null) return;
    const offsets = this.ledger
      .committable()
      .filter(({ partition }) => this.owned.has(partition))
      // With the sink's metadata for each (an exactly-once sink's stream record); undefined: not yet.
      .map(({ partition, offset }) => ({
        partition,
        offset,
        metadata: this.sink.commitMetadata(partition, BigInt(offset)),
      }))
      .filter((o): o is { partition: number; offset: string; metadata: string | null } => o.metadata !== undefined);
    if (offsets.length === 0) return;
    try {
      await this.commitOffsets(committer, offsets);
      // Only a commit made while this member still owns the partitions counts.
      if (!this.joined) return;
      for (const { partition, offset } of offsets) this.ledger.markCommitted(partition, offset);
      this.commitOutage.succeeded();
    } catch (error) {
      // Not marked committed: the next round tries again.
      const fault = classifyKafkaError(error, this.topic);
      if (fault.class === 'rebalancing') {
        // The group is moving partitions: commit nothing until this member rejoins and knows what it owns.
        this.logger.log(
          `offsets not committed, the group is rebalancing (${fault.reason}); it redelivers from its last commit`,
        );
        this.lostGroup();
        return;
      }
      this.commitOutage.failed(errorText(error), fault.reason, fault.fix);
    }
  }

  /**
   * Graceful stop, before Nest disconnects the consumer: stop taking messages, write what is
   * buffered, commit it, all within SHUTDOWN_TIMEOUT_MS (less a margin to leave the group).
   */
  async beforeApplicationShutdown(): Promise<void> {
    // A consumer that never ran (it could not connect) took nothing, and kafkajs refuses to pause it.
    if (this.consumer === null || this.stopping || !this.running) return;
    this.stopping = true;
    const deadline = Date.now() + Math.max(500, this.config.SHUTDOWN_TIMEOUT_MS - 3_000);
    this.consumer.pause([{ topic: this.topic }]);
    while (this.activeBatches > 0 && Date.now() < deadline) await sleep(20);
    const written = (await this.sink.flush(deadline)) && (await this.deadLetters.flush(deadline));
    // What was just written is committable once its delta lands (the live view's publishes).
    const published = await Promise.race([
      Promise.all(this.publishing).then(() => true),
      sleep(Math.max(0, deadline - Date.now())).then(() => false),
    ]);
    clearInterval(this.commitTimer);
    clearInterval(this.lagTimer);
    clearTimeout(this.commitSoonTimer);
    await this.commit();
    await this.commit();
    this.logger.log(await this.shutdownReport(written && published));
  }

  /**
   * The last word on what was committed, read back from the group's offsets (kafkajs may have dropped
   * a commit without saying so): per partition, what is committed and what is left to redeliver.
   */
  private async shutdownReport(written: boolean): Promise<string> {
    const taken = this.ledger.state().filter(({ commitPoint, pending }) => commitPoint !== null || pending > 0);
    if (taken.length === 0) return 'stopped: nothing was taken since the last commit';
    let committedOf = new Map<number, bigint>();
    if (this.client !== null) {
      try {
        const [offsets] = await this.withAdmin((admin) =>
          admin.fetchOffsets({ groupId: this.config.KAFKA_GROUP_ID, topics: [this.topic] }),
        );
        committedOf = new Map(offsets?.partitions.map((p) => [p.partition, BigInt(p.offset)]));
      } catch (error) {
        return `stopped; the group's committed offsets could not be read back (${errorText(error)}): what was written and not committed is redelivered`;
      }
    }
    const short: string[] = [];
    const ok: string[] = [];
    for (const { partition, commitPoint, pending } of taken) {
      const committed = committedOf.get(partition) ?? -1n;
      const wanted = commitPoint ?? committed;
      if (committed < wanted || pending > 0) {
        short.push(
          `partition ${partition} committed up to ${committed < 0n ? 'nothing' : committed}` +
            `${committed < wanted ? ` (written up to ${wanted}: the commit did not land)` : ''}` +
            `${pending > 0 ? `, ${pending} message(s) not yet written` : ''}`,
        );
      } else ok.push(`${partition}@${committed}`);
    }
    if (short.length === 0) return `stopped: everything taken is written and committed (${ok.join(', ')})`;
    return (
      `stopped${written ? '' : ' at the deadline'}: ${short.join('; ')}; these are redelivered to the next owner` +
      (ok.length > 0 ? `; fully committed: ${ok.join(', ')}` : '')
    );
  }
}

/** Sends one OffsetCommit request (eachBatch's commitOffsetsIfNecessary with explicit offsets). */
type CommitRequest = (offsets: Offsets) => Promise<void>;

/** A batch as taken: the assignment it was taken in, its last offset, and how its messages are settled. */
interface TakenBatch {
  assignment: number;
  lastOffset: bigint;
  /** It ends a backlog of its partition (see RowChunk.endsBacklog). */
  endsBacklog: boolean;
  /** That many more messages are written or dead-lettered. */
  done: (finished: number) => void;
  /** That many more rows will not be written by this member: only their memory is released. */
  dropped: (count: number) => void;
}

/** A taken batch's bytes, freed at once when its last message is done (play-batch.ts' freeBytes). */
interface HeldBytes {
  packed: PackedBatch;
  rows: Uint8Array | null;
  /** The live view's count of the batch's plays (null when it is off). */
  plays: BatchPlays | null;
}

/** The keys and headers of a batch's messages that have any (usually none), by index, for dead letters. */
function keysAndHeaders(
  messages: readonly { key: Buffer | null; headers?: SourceMessage['headers'] }[],
): Map<number, Pick<SourceMessage, 'key' | 'headers'>> | null {
  let extras: Map<number, Pick<SourceMessage, 'key' | 'headers'>> | null = null;
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

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
