import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import kafkajs, { type Admin, type Producer } from 'kafkajs';
import pRetry, { AbortError } from 'p-retry';
import { AppConfig } from '../config/config.module.js';
import { errorText } from '../errors.js';
import { kafkaClientConfig } from '../kafka/kafka-client-config.js';
import type { PlayDelta } from './play-delta.js';
import { RETENTION_PAST_HORIZON_MS, liveTopicOf } from './live-topic.js';

/** The source partition a delta's publish is for is no longer this member's: its next owner publishes it. */
class NoLongerOwned extends Error {}

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

  constructor(private readonly config: AppConfig) {
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
    } catch (error) {
      this.logger.warn(`live topic ${this.topic} not ready yet: ${errorText(error)}; will retry on first publish`);
    }
  }

  /**
   * Publishes a delta, retrying with backoff until it is acknowledged (true) or `owned()` says its
   * partition moved on or the service stops (false: the batch stays uncommitted, its next owner
   * publishes it again).
   */
  async publish(delta: PlayDelta, owned: () => boolean): Promise<boolean> {
    const producer = this.producer;
    if (producer === null) return true;
    try {
      await pRetry(
        async () => {
          if (!owned()) throw new AbortError(new NoLongerOwned());
          await producer.send({
            topic: this.topic,
            acks: -1,
            compression: kafkajs.CompressionTypes.GZIP,
            messages: [{ key: String(delta.partition), value: JSON.stringify(delta) }],
          });
        },
        {
          retries: Number.POSITIVE_INFINITY,
          factor: 2,
          minTimeout: 100,
          maxTimeout: this.config.SINK_RETRY_MAX_DELAY_MS,
          randomize: true,
          signal: this.stopping.signal,
          onFailedAttempt: ({ error, attemptNumber }) => {
            if (attemptNumber === 1 || attemptNumber % 10 === 0)
              this.logger.warn(
                `publishing a live delta of partition ${delta.partition} failed (attempt ${attemptNumber}): ${errorText(error)}; its offsets wait`,
              );
          },
        },
      );
      return true;
    } catch {
      return false;
    }
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopping.abort();
    if (this.producer === null || this.admin === null) return;
    await Promise.all([this.producer.disconnect(), this.admin.disconnect()].map((p) => p.catch(() => undefined)));
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
