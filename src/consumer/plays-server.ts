import { Inject, Injectable, Logger, type BeforeApplicationShutdown } from '@nestjs/common';
import { ServerKafka } from '@nestjs/microservices';
import type { Consumer, EachBatchPayload } from '@nestjs/microservices/external/kafka.interface.js';
import kafkajs from 'kafkajs';
import { AppConfig } from '../config/config.module.js';
import { DeadLetters } from '../dead-letters/dead-letters.service.js';
import { PlayDecoder } from '../decode/play-decoder.js';
import { LiveDeltas } from '../live/live-deltas.js';
import { kafkaClientConfig } from '../kafka/kafka-client-config.js';
import { describeKafkaError, type KafkaFailure } from '../kafka/kafka-errors.js';
import { classifyKafkaError } from '../kafka/kafka-faults.js';
import { OutageLog } from '../logging/outage-log.js';
import { InjectMetric, METRIC, type Counter, type Gauge } from '../metrics/metrics.js';
import { sleep } from '../retry/backoff.js';
import { AssignmentEnded, type Assignment, type PlaySink } from '../sink/sink.contract.js';
import { PLAY_SINK } from '../sink/sink.tokens.js';
import { BatchIntake } from './batch-intake.js';
import { BatchPuts } from './batch-puts.js';
import type { ConsumerHealth } from './consumer-health.js';
import { GroupMembership } from './group-membership.js';
import { GroupOffsets } from './group-offsets.js';
import { OffsetCommitter } from './offset-committer.js';
import { OffsetLedger } from './offset-ledger.js';
import { PartitionHolds } from './partition-holds.js';
import { PartitionStalls } from './partition-stalls.js';
import { shutdownReport } from './shutdown-report.js';
import { StuckPuts } from './stuck-puts.js';

const LAG_INTERVAL_MS = 10_000;

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
  private readonly membership: GroupMembership;
  private readonly ledger: OffsetLedger;
  private readonly holds: PartitionHolds;
  private readonly stalls: PartitionStalls;
  private readonly commits: OffsetCommitter;
  private readonly offsets: GroupOffsets;
  private readonly puts: BatchPuts;
  private readonly intake: BatchIntake;
  private readonly crashOutage = new OutageLog(this.logger, 'the Kafka consumer');
  private readonly topic: string;
  private crashed: string | null = null;
  private cannotStart: KafkaFailure | null = null;
  private lastFetchAt: number | null = null;
  /** The graceful stop began: nothing more is taken or resumed, nor a commit scheduled soon. */
  private stopping = false;
  /** consumer.run was called: there is something to pause, flush and commit at shutdown. */
  private running = false;
  private lagTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly config: AppConfig,
    @Inject(PLAY_SINK) private readonly sink: PlaySink,
    private readonly deadLetters: DeadLetters,
    decoder: PlayDecoder,
    liveDeltas: LiveDeltas,
    @InjectMetric(METRIC.playsConsumed) consumed: Counter,
    @InjectMetric(METRIC.consumerLag) private readonly lag: Gauge<'topic' | 'partition'>,
    @InjectMetric(METRIC.partitionStalled) stalledSeconds: Gauge<'topic' | 'partition'>,
    @InjectMetric(METRIC.heldBytes) heldBytes: Gauge,
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
    // The live view stops reading back deltas only this replica publishes (see OwnDeltaPartitions).
    this.membership = new GroupMembership((owned) => liveDeltas.owns(owned));
    // The parts each keep their job's state; they share the ledger, the membership and the stop.
    const stopping = () => this.stopping;
    // A commit point moved: progress, maybe room to take from the partition again, and a commit soon.
    this.ledger = new OffsetLedger((partition) => {
      this.stalls.progressed(partition, Date.now());
      this.holds.resumeIfRoom(partition);
      this.commits.commitSoon();
    });
    const stuckPuts = new StuckPuts();
    const { ledger, membership, topic, logger } = this;
    this.holds = new PartitionHolds(ledger, stuckPuts, config.INGEST_PARTITION_MAX_UNCOMMITTED, stopping, logger);
    this.stalls = new PartitionStalls(membership, ledger, config.INGEST_STALL_TIMEOUT_MS, topic, stalledSeconds);
    this.commits = new OffsetCommitter(ledger, membership, sink, topic, stopping, logger);
    this.offsets = new GroupOffsets(() => this.client, config.KAFKA_GROUP_ID, topic);
    this.puts = new BatchPuts(sink, deadLetters, decoder, this.holds, stuckPuts, stopping, logger);
    const budgetBytes = config.INGEST_MEMORY_BUDGET_MB * 1024 * 1024;
    this.intake = new BatchIntake(
      ledger,
      membership,
      this.holds,
      this.puts,
      liveDeltas,
      consumed,
      heldBytes,
      budgetBytes,
      stopping,
    );
  }

  get health(): ConsumerHealth {
    return {
      joined: this.membership.joined,
      crashed: this.crashed,
      cannotStart: this.cannotStart,
      lastFetchAt: this.lastFetchAt,
      assigned: [...this.membership.owned].sort((a, b) => a - b),
      stalled: this.stalls.stalled(),
      held: this.holds.snapshot(),
      heldBytes: this.intake.budget.heldBytes,
      budgetBytes: this.intake.budget.limitBytes,
    };
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
    void this.offsets.connect().catch(() => undefined);
    consumer.on(GROUP_JOIN, ({ payload }) => {
      // A new generation: the group redelivers from its committed offsets, so what this member
      // took before is forgotten and never committed, whoever owns the partition now.
      this.ledger.clear();
      this.intake.rejoined();
      this.membership.joinedOwning(payload.memberAssignment[this.topic] ?? []);
      const now = Date.now();
      this.stalls.assigned(now);
      this.stalls.report(now);
      this.crashed = null;
      this.crashOutage.succeeded();
      this.sink.close(this.membership.assigned);
      this.membership.assigned = [...this.membership.owned];
      this.sink.open(this.assignment(this.membership.assignmentId, this.membership.assigned));
      this.logger.log(`joined group ${payload.groupId}; partitions ${[...this.membership.owned].join(', ') || 'none'}`);
    });
    // Until the next join this member owns nothing: nothing may be committed for a partition that may
    // be someone else's by now.
    consumer.on(REBALANCING, () => this.membership.lost());
    // A JoinGroup answered: this member is joining a new generation, so its assignment is over. kafkajs
    // makes the new generation the one commits go out under before it reports the join (GROUP_JOIN), and
    // not every rejoin is reported as REBALANCING first; a commit of the old assignment must not slip in
    // between. (The event fires before kafkajs goes on with the answer.)
    consumer.on(consumer.events.REQUEST, ({ payload }) => {
      if (payload.apiName === 'JoinGroup') this.membership.lost();
    });
    // The run ends: its way to commit goes with it (a restarted run is a new member).
    const runEnded = () => {
      this.membership.lost();
      this.commits.runEnded();
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
    this.commits.start();
    this.lagTimer = setInterval(() => void this.measureLag(), LAG_INTERVAL_MS).unref();
  }

  /** Each batch brings the run's way to commit; then it is taken (see BatchIntake.take). */
  private onBatch(payload: EachBatchPayload): Promise<void> {
    // An arrow function of kafkajs' runner, bound to it already.
    // eslint-disable-next-line @typescript-eslint/unbound-method
    this.commits.use(payload.commitOffsetsIfNecessary);
    return this.intake.take(payload);
  }

  /** What the sink may ask of Kafka for the partitions of one assignment, while it lasts. */
  private assignment(id: number, partitions: readonly number[]): Assignment {
    const current = () => {
      if (id !== this.membership.assignmentId || !this.membership.joined) {
        throw new AssignmentEnded(`assignment ${id} is over`);
      }
    };
    return {
      partitions,
      starts: async () => {
        current();
        // kafkajs retries a failed commit, across a rejoin too, under the new generation: one made for
        // an earlier assignment could land after this read and replace the record this one makes.
        // Read once those have landed or failed.
        await this.commits.landed();
        current();
        const starts = await this.offsets.readStarts(partitions);
        current();
        return starts;
      },
      // The committer asks the sink what (preCommit) and commits it only as this member of this
      // generation; it tells the sink how it went (committed).
      requestCommit: () => void this.commits.commit(),
    };
  }

  /** Consumer lag per partition (kafka_consumer_lag), which also tells idle partitions from stalled ones. */
  private async measureLag(): Promise<void> {
    if (this.client === null) return;
    try {
      const lagOf = await this.offsets.lag();
      const now = Date.now();
      for (const [partition, lag] of lagOf) {
        this.lag.set({ topic: this.topic, partition: String(partition) }, lag);
        this.stalls.lagged(partition, lag, now);
      }
      this.stalls.report(now);
    } catch {
      // The broker is out of reach: readiness says so; the last figures stay.
    }
  }

  override async close(): Promise<void> {
    await this.offsets.dropAdmin();
    await super.close();
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
    while (this.puts.active > 0 && Date.now() < deadline) await sleep(20);
    const written = (await this.sink.flush(deadline)) && (await this.deadLetters.flush(deadline));
    // What was just written is committable once its delta lands (the live view's publishes).
    const published = await Promise.race([
      this.intake.published().then(() => true),
      sleep(Math.max(0, deadline - Date.now())).then(() => false),
    ]);
    this.commits.stop();
    clearInterval(this.lagTimer);
    await this.commits.commit();
    await this.commits.commit();
    const readCommitted = this.client === null ? null : () => this.offsets.committed();
    this.logger.log(await shutdownReport(this.ledger, readCommitted, written && published));
  }
}
