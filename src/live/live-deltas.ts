import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import kafkajs, { type Admin, type Producer } from 'kafkajs';
import { AppConfig } from '../config/config.module.js';
import { errorText } from '../errors.js';
import { splitPoint } from '../halves.js';
import { kafkaClientConfig } from '../kafka/kafka-client-config.js';
import { classifyKafkaError } from '../kafka/kafka-faults.js';
import { retry } from '../retry/backoff.js';
import { coversHeader, splitDelta, type PlayDelta } from './play-delta.js';
import { LiveView } from './live-view.js';
import { RETENTION_PAST_HORIZON_MS, liveTopicOf, livePartitionOf } from './live-topic.js';
import { SendDeadline } from './send-deadline.js';

/**
 * Where a delta's batch stands in its source partition, which sets how long the delta may wait for
 * others to share its request (see LINGER_MS): 'behind' the partition's end (a backlog is being
 * drained), 'caught-up' with it, or the batch that 'ends-backlog', whose commit the drain's end waits for.
 */
export type BatchPlace = 'behind' | 'caught-up' | 'ends-backlog';

/**
 * How long a delta may wait for others to share its request. Each request costs the broker and this
 * service 1 to 3 ms of CPU whatever its size (measured with kafkajs on a 2-core machine), so a drain
 * sent a request every 20 ms took 10% longer with the live view on. While a partition is behind, the
 * dashboard lags by its backlog anyway, so its deltas wait longer; a caught-up play's delta waits
 * 20 ms, short beside the dashboard's second.
 */
const LINGER_MS: Record<BatchPlace, number> = { behind: 200, 'caught-up': 20, 'ends-backlog': 0 };
/** Most deltas in one request (halved while the broker finds a request too large). */
const MAX_DELTAS_PER_REQUEST = 200;

/** A delta waiting to be sent, and what its publish() resolves to. */
interface Waiting {
  delta: PlayDelta;
  owned: () => boolean;
  resolve: (published: boolean) => void;
  /** When its request must go at the latest (performance.now() time). */
  sendBy: number;
}

/** The broker refuses the delta's message as larger than the topic's max.message.bytes: it is sent in halves. */
class TooLarge extends Error {}
/** The first wait after a failed send; it doubles per failure up to SINK_RETRY_MAX_DELAY_MS. */
const RETRY_MIN_MS = 100;

/**
 * Publishes the live view's deltas: one per written batch, to LIVE_TOPIC, keyed by source partition
 * (so a partition's deltas stay in order), acknowledged by all in-sync replicas. A batch's offsets are
 * committed only after its delta is published: every committed offset has its delta in the topic.
 * Created at start-up when missing: as many partitions as the source topic, kept for the horizon plus
 * an hour (time retention, not compaction: every delta counts).
 */
@Injectable()
export class LiveDeltas implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(LiveDeltas.name);
  readonly enabled: boolean;
  readonly topic: string;
  private readonly producer: Producer | null = null;
  private readonly admin: Admin | null = null;
  private readonly stopping = new AbortController();
  /** Deltas waiting for the next request. */
  private readonly waiting: Waiting[] = [];
  private sending = false;
  /** When the next request goes: the earliest `sendBy` of what waits. */
  private readonly nextSend = new SendDeadline();
  /**
   * The live topic's partition count, once known: each delta then names its partition, so the
   * broker's acknowledgement says exactly where this replica's deltas are (see OwnDeltaPartitions).
   */
  private liveCount: number | null = null;

  constructor(
    private readonly config: AppConfig,
    private readonly view: LiveView,
  ) {
    this.enabled = config.LIVE_ENABLED;
    this.topic = liveTopicOf(config);
    if (!this.enabled) return;
    const kafka = new kafkajs.Kafka(kafkaClientConfig(config, 'live-deltas', this.logger));
    // Idempotent: a retried send lands once; a repeated delta would be harmless anyway (counted by offset).
    this.producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: kafkajs.Partitioners.DefaultPartitioner,
    });
    this.admin = kafka.admin();
  }

  async onApplicationBootstrap(): Promise<void> {
    if (this.producer === null || this.admin === null) return;
    try {
      await Promise.all([this.producer.connect(), this.admin.connect()]);
      await this.createIfMissing(this.admin);
      await this.readPartitionCount();
    } catch (error) {
      this.logger.warn(`live topic ${this.topic} not ready yet: ${errorText(error)}; will retry on first publish`);
    }
  }

  /** The ingest owns these source partitions now (none while it rebalances): the live view's reader is told. */
  owns(owned: ReadonlySet<number>): void {
    if (this.producer !== null) this.view.ownDeltas?.ingestOwns(owned, this.liveCount);
  }

  /**
   * Publishes a delta, retrying with backoff until it is acknowledged (true) or `owned()` says its
   * partition moved on or the service stops (false: the batch stays uncommitted, its next owner
   * publishes it again). Deltas that wait together go in one request, sent when the first of them has
   * waited the linger of its batch's `place` (see LINGER_MS).
   */
  publish(delta: PlayDelta, owned: () => boolean, place: BatchPlace): Promise<boolean> {
    if (this.producer === null) return Promise.resolve(true);
    return new Promise((resolve) => {
      const sendBy = performance.now() + LINGER_MS[place];
      this.waiting.push({ delta, owned, resolve, sendBy });
      this.startSending();
      this.nextSend.bringForward(sendBy);
    });
  }

  private startSending(): void {
    if (this.sending) return;
    this.sending = true;
    void this.sendWaiting().finally(() => {
      this.sending = false;
      // Queued after the loop's last look.
      if (this.waiting.length > 0) this.startSending();
    });
  }

  /** Sends what waits, a request at a time, each when the first of its deltas must go, until nothing waits. */
  private async sendWaiting(): Promise<void> {
    while (this.waiting.length > 0) {
      // A loop, not Math.min(...): thousands may wait while the broker is away.
      let sendBy = Infinity;
      for (const waiting of this.waiting) sendBy = Math.min(sendBy, waiting.sendBy);
      await this.nextSend.wait(sendBy);
      await this.send(this.waiting.splice(0, MAX_DELTAS_PER_REQUEST));
    }
  }

  /** Sends deltas in one request: halves of the list, then halves of a delta, while the broker finds it too large. */
  private async send(deltas: Waiting[]): Promise<void> {
    const producer = this.producer!;
    let pending = deltas;
    try {
      await retry(
        async () => {
          // Given up: their next owner publishes them.
          pending = pending.filter((d) => d.owned() || (d.resolve(false), false));
          if (pending.length === 0) return;
          if (this.liveCount === null) await this.readPartitionCount().catch(() => undefined);
          const liveCount = this.liveCount;
          const partitions = pending.map(({ delta }) =>
            liveCount === null ? undefined : livePartitionOf(delta.partition, liveCount),
          );
          try {
            const written = await producer.send({
              topic: this.topic,
              acks: -1,
              // Not compressed: kafkajs has only gzip, whose CPU on every write and on every replica's
              // read showed in the drain rate; deltas are a few kB.
              messages: pending.map(({ delta }, i) => ({
                key: String(delta.partition),
                partition: partitions[i],
                value: JSON.stringify(delta),
                headers: { covers: coversHeader(delta) },
              })),
            });
            // Counted here at once: this replica reads its own deltas back only to skip them (see LiveView.read).
            for (const d of pending) this.view.counted(d.delta);
            if (liveCount !== null)
              for (const { partition, baseOffset } of written)
                this.view.ownDeltas?.published(
                  partition,
                  Number(baseOffset),
                  partitions.filter((p) => p === partition).length,
                );
          } catch (error) {
            const fault = classifyKafkaError(error, this.topic);
            if (fault.class === 'too-large' && (pending.length > 1 || pending[0]!.delta.groups.length > 1))
              throw new TooLarge(fault.reason);
            throw error;
          }
        },
        {
          policy: { minMs: RETRY_MIN_MS, maxMs: this.config.SINK_RETRY_MAX_DELAY_MS },
          signal: this.stopping.signal,
          // A TypeError is a fault of ours, which no retry mends: given up, as the stop is.
          retryable: (error) => !(error instanceof TooLarge) && !(error instanceof TypeError),
          failed: (error, attempt) => {
            if (attempt === 1 || attempt % 10 === 0)
              this.logger.warn(
                `publishing ${pending.length} live delta(s) failed (attempt ${attempt}): ${errorText(error)}; their offsets wait`,
              );
          },
        },
      );
      for (const d of pending) d.resolve(true);
    } catch (error) {
      if (!(error instanceof TooLarge)) {
        for (const d of pending) d.resolve(false);
        return;
      }
      const middle = splitPoint(pending.length);
      if (middle !== null) {
        await this.send(pending.slice(0, middle));
        await this.send(pending.slice(middle));
        return;
      }
      // One delta too large alone: its halves, in order (one key: one partition of the live topic).
      const [{ delta, owned, resolve }] = pending as [Waiting];
      this.logger.warn(
        `a live delta of partition ${delta.partition} (${delta.groups.length} messages) is too large for ${this.topic} (${error.message}); publishing it in halves`,
      );
      let published = true;
      // Never null: TooLarge is thrown only when there is something to cut, here one delta of several messages.
      for (const half of splitDelta(delta)!)
        await this.send([{ delta: half, owned, sendBy: 0, resolve: (ok) => void (published &&= ok) }]);
      resolve(published);
    }
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopping.abort();
    if (this.producer === null || this.admin === null) return;
    await Promise.all([this.producer.disconnect(), this.admin.disconnect()].map((p) => p.catch(() => undefined)));
  }

  private async readPartitionCount(): Promise<void> {
    const [live] = (await this.admin!.fetchTopicMetadata({ topics: [this.topic] })).topics;
    if (live !== undefined && live.partitions.length > 0) this.liveCount = live.partitions.length;
  }

  private async createIfMissing(admin: Admin): Promise<void> {
    const topics = await admin.listTopics();
    if (topics.includes(this.topic)) return;
    const [source] = topics.includes(this.config.KAFKA_TOPIC)
      ? (await admin.fetchTopicMetadata({ topics: [this.config.KAFKA_TOPIC] })).topics
      : [];
    const created = await admin.createTopics({
      waitForLeaders: true,
      topics: [
        {
          topic: this.topic,
          numPartitions: source?.partitions.length ?? -1,
          configEntries: [
            { name: 'cleanup.policy', value: 'delete' },
            { name: 'retention.ms', value: String(this.config.LIVE_HORIZON + RETENTION_PAST_HORIZON_MS) },
          ],
        },
      ],
    });
    if (created)
      this.logger.log(`created live topic ${this.topic} (${source?.partitions.length ?? 'default'} partitions)`);
  }
}
