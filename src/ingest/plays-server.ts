import { Inject, Injectable, Logger, type BeforeApplicationShutdown } from '@nestjs/common';
import { ServerKafka } from '@nestjs/microservices';
import type { Consumer, EachBatchPayload } from '@nestjs/microservices/external/kafka.interface.js';
import kafkajs from 'kafkajs';
import { AppConfig } from '../config/config.module.js';
import { DeadLetters } from '../dead-letters/dead-letters.service.js';
import { errorText } from '../errors.js';
import { kafkaClientConfig } from '../kafka/kafka-client-config.js';
import { describeKafkaError, type KafkaFailure } from '../kafka/kafka-errors.js';
import { InjectMetric, METRIC, type Counter, type Gauge } from '../metrics/metrics.js';
import type { SourceMessage } from '../plays/source-message.js';
import { PLAY_SINK, type PlaySink } from '../sink/play-sink.js';
import { OffsetLedger } from './offset-ledger.js';
import { offsetOf, packBatch, valueOf, type PackedBatch } from './play-batch.js';
import { PlayDecoder } from './play-decoder.js';

const COMMIT_INTERVAL_MS = 200;
// A commit follows this soon after a batch is wholly written: a drain's last rows are committed at
// once, not up to COMMIT_INTERVAL_MS later, and commits at full speed stay a few per second per
// partition (kafkajs' own autoCommit commits after every batch).
const COMMIT_DELAY_MS = 10;
// Batches taken from kafkajs and not yet in the sink: enough to keep the decoder and the consumer busy.
const MAX_BATCHES_IN_DECODE = 4;
const LAG_INTERVAL_MS = 10_000;

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
  private readonly ledger = new OffsetLedger(() => this.commitSoon());
  private readonly topic: string;
  private owned = new Set<number>();
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

  constructor(
    private readonly config: AppConfig,
    @Inject(PLAY_SINK) private readonly sink: PlaySink,
    private readonly deadLetters: DeadLetters,
    private readonly decoder: PlayDecoder,
    @InjectMetric(METRIC.playsConsumed) private readonly consumed: Counter,
    @InjectMetric(METRIC.consumerLag) private readonly lag: Gauge<'topic' | 'partition'>,
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
        maxBytesPerPartition: 256 * 1024,
        maxBytes: 2 * 1024 * 1024,
      },
      subscribe: { fromBeginning: true },
      run: { autoCommit: false },
      // ServerKafka always connects a producer (for replies); this one never sends.
      producer: { createPartitioner: kafkajs.Partitioners.DefaultPartitioner },
    });
    this.topic = config.KAFKA_TOPIC;
  }

  get health(): ConsumerHealth {
    return {
      joined: this.joined,
      crashed: this.crashed,
      cannotStart: this.cannotStart,
      lastFetchAt: this.lastFetchAt,
      assigned: [...this.owned].sort((a, b) => a - b),
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
    consumer.on(GROUP_JOIN, ({ payload }) => {
      // A new generation: the group redelivers from its committed offsets, so what this member
      // took before is forgotten and never committed, whoever owns the partition now.
      this.ledger.clear();
      this.owned = new Set(payload.memberAssignment[this.topic] ?? []);
      this.joined = true;
      this.crashed = null;
      this.logger.log(`joined group ${payload.groupId}; partitions ${[...this.owned].join(', ') || 'none'}`);
    });
    consumer.on(REBALANCING, () => (this.joined = false));
    consumer.on(DISCONNECT, () => (this.joined = false));
    consumer.on(CRASH, ({ payload }) => {
      this.joined = false;
      this.crashed = describeKafkaError(payload.error, this.config.KAFKA_BROKERS).text;
      this.logger.error(`consumer crashed (${this.crashed}); restart: ${payload.restart}`);
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

  /**
   * Takes a batch: records it in the ledger (one entry per batch), packs its messages into flat
   * arrays and hands them to the decoder, then returns, so kafkajs fetches the next batch while this
   * one is decoded and put, and kafkajs' message objects die young. At most MAX_BATCHES_IN_DECODE
   * are in progress; beyond that, and while the sink is full, it waits.
   */
  private async onBatch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    const { topic, partition } = batch;
    // Checked once: nothing below awaits before the batch is recorded, so none of these can change.
    if (this.stopping || !payload.isRunning() || payload.isStale()) return;
    const messages = batch.messages;
    if (messages.length === 0) return;
    const last = messages[messages.length - 1]!.offset;
    const done = this.ledger.take(partition, BigInt(last), messages.length);
    payload.resolveOffset(last);
    this.consumed.inc(messages.length);

    const packed = packBatch(topic, partition, messages, new Date().toISOString());
    const work = this.putBatch(packed, keysAndHeaders(messages), done, () => payload.heartbeat());
    this.inProgress.add(work);
    void work.finally(() => this.inProgress.delete(work));
    while (this.inProgress.size >= MAX_BATCHES_IN_DECODE) {
      await Promise.race([...this.inProgress, sleep(3_000)]);
      // A sink that stays full (BigQuery down) must not cost the group membership.
      await payload.heartbeat().catch(() => undefined);
    }
  }

  private async putBatch(
    packed: PackedBatch,
    extras: Map<number, Pick<SourceMessage, 'key' | 'headers'>> | null,
    done: (finished: number) => void,
    keepAlive: () => Promise<void>,
  ): Promise<void> {
    const { topic, partition } = packed;
    this.activeBatches++;
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
      const { rows, rowEnds, rowMessages, invalid } = await this.decoder.decode(packed);
      this.deadLetters.put(
        invalid.map(({ index, reason, detail }) => ({ source: sourceOf(index), reason, detail, done: () => done(1) })),
      );
      if (rowEnds.length === 0) return;
      await this.sink.put(
        {
          rows: Buffer.from(rows.buffer, rows.byteOffset, rows.byteLength),
          ends: rowEnds,
          source: (row) => sourceOf(rowMessages[row]!),
          done,
        },
        keepAlive,
      );
    } catch (error) {
      // Not expected (decoding never throws for bad input); the messages stay uncommitted, so a
      // restart or rebalance redelivers them rather than losing them.
      this.logger.error(`unexpected error while taking a batch of ${topic}/${partition}: ${errorText(error)}`);
    } finally {
      this.activeBatches--;
    }
  }

  /** Consumer lag per partition: the broker's end offsets less the group's committed offsets. */
  private async measureLag(): Promise<void> {
    if (this.client === null) return;
    const admin = this.client.admin();
    try {
      await admin.connect();
      const [ends, [committed]] = await Promise.all([
        admin.fetchTopicOffsets(this.topic),
        admin.fetchOffsets({ groupId: this.config.KAFKA_GROUP_ID, topics: [this.topic] }),
      ]);
      const committedOf = new Map(committed?.partitions.map((p) => [p.partition, Number(p.offset)]));
      for (const { partition, high, low } of ends) {
        const from = committedOf.get(partition) ?? -1;
        const lag = Number(high) - (from >= 0 ? from : Number(low));
        this.lag.set({ topic: this.topic, partition: String(partition) }, Math.max(0, lag));
      }
    } catch {
      // The broker is out of reach: readiness says so; the last figures stay.
    } finally {
      await admin.disconnect().catch(() => undefined);
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
    const consumer = this.consumer;
    if (consumer === null) return;
    const offsets = this.ledger.committable().filter(({ partition }) => this.owned.has(partition));
    if (offsets.length === 0) return;
    try {
      await consumer.commitOffsets(offsets.map(({ partition, offset }) => ({ topic: this.topic, partition, offset })));
      for (const { partition, offset } of offsets) this.ledger.markCommitted(partition, offset);
    } catch (error) {
      // Not marked committed: the next round tries again.
      this.logger.warn(`committing offsets failed: ${errorText(error)}`);
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
    clearInterval(this.commitTimer);
    clearInterval(this.lagTimer);
    clearTimeout(this.commitSoonTimer);
    await this.commit();
    await this.commit();
    const left = this.ledger.pending;
    this.logger.log(
      written
        ? 'stopped: everything taken is written and committed'
        : `stopped at the deadline: ${left} message(s) not yet written stay uncommitted and will be redelivered`,
    );
  }
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
