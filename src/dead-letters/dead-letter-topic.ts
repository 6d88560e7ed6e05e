import type { Logger } from '@nestjs/common';
import kafkajs, { type Admin, type Message, type Producer } from 'kafkajs';
import type { AppConfig } from '../config/config.module.js';
import { errorText } from '../errors.js';
import { kafkaClientConfig } from '../kafka/kafka-client-config.js';

/** Where dead letters go: the produce and the topic's size limit, apart from the queue that uses them. */
export interface DeadLetterTopic {
  readonly name: string;
  /** Connects in the background; resolves once connected or failed (never throws). */
  start(): Promise<void>;
  /** Sends one batch, compressed, acknowledged by all in-sync replicas. Throws kafkajs' error. */
  send(messages: Message[]): Promise<void>;
  /** The topic's `max.message.bytes` as the broker has it now, or null when it cannot be read. */
  maxMessageBytes(): Promise<number | null>;
  readonly connected: boolean;
  stop(): Promise<void>;
}

const MAX_MESSAGE_BYTES = 'max.message.bytes';

/** The dead-letter topic on the service's Kafka cluster, created at start-up with the source topic's size limit. */
export class KafkaDeadLetterTopic implements DeadLetterTopic {
  readonly name: string;
  private readonly sourceTopic: string;
  private readonly producer: Producer;
  private readonly admin: Admin;
  private producerConnected = false;

  constructor(
    config: AppConfig,
    private readonly logger: Logger,
  ) {
    this.name = config.KAFKA_DLQ_TOPIC;
    this.sourceTopic = config.KAFKA_TOPIC;
    const kafka = new kafkajs.Kafka(kafkaClientConfig(config, 'dead-letters', logger));
    // Not idempotent: the queue retries failed sends itself, so a retry may repeat a letter, never lose one.
    this.producer = kafka.producer({
      maxInFlightRequests: 1,
      allowAutoTopicCreation: true,
      createPartitioner: kafkajs.Partitioners.DefaultPartitioner,
    });
    this.admin = kafka.admin();
    this.producer.on(this.producer.events.CONNECT, () => (this.producerConnected = true));
    this.producer.on(this.producer.events.DISCONNECT, () => (this.producerConnected = false));
  }

  get connected(): boolean {
    return this.producerConnected;
  }

  async start(): Promise<void> {
    try {
      await this.producer.connect();
      await this.admin.connect();
      await this.createIfMissing();
    } catch (error) {
      this.logger.warn(`dead-letter topic ${this.name} not ready yet: ${errorText(error)}; will retry on first use`);
    }
  }

  async send(messages: Message[]): Promise<void> {
    await this.producer.send({
      topic: this.name,
      acks: -1,
      compression: kafkajs.CompressionTypes.GZIP,
      messages,
    });
  }

  async maxMessageBytes(): Promise<number | null> {
    try {
      return await this.topicLimit(this.name);
    } catch {
      return null;
    }
  }

  async stop(): Promise<void> {
    await Promise.all([this.producer.disconnect(), this.admin.disconnect()].map((p) => p.catch(() => undefined)));
  }

  /** Creates the topic when it does not exist, taking the source topic's limit so any source message fits. */
  private async createIfMissing(): Promise<void> {
    const topics = await this.admin.listTopics();
    if (topics.includes(this.name)) return;
    const sourceLimit = topics.includes(this.sourceTopic) ? await this.topicLimit(this.sourceTopic) : null;
    const created = await this.admin.createTopics({
      waitForLeaders: true,
      topics: [
        {
          topic: this.name,
          configEntries: sourceLimit === null ? [] : [{ name: MAX_MESSAGE_BYTES, value: String(sourceLimit) }],
        },
      ],
    });
    if (created) {
      this.logger.log(
        `created dead-letter topic ${this.name}${sourceLimit === null ? '' : ` (max.message.bytes ${sourceLimit}, as ${this.sourceTopic})`}`,
      );
    }
  }

  private async topicLimit(topic: string): Promise<number | null> {
    const { resources } = await this.admin.describeConfigs({
      includeSynonyms: false,
      resources: [{ type: kafkajs.ConfigResourceTypes.TOPIC, name: topic, configNames: [MAX_MESSAGE_BYTES] }],
    });
    const value = resources[0]?.configEntries.find((entry) => entry.configName === MAX_MESSAGE_BYTES)?.configValue;
    const limit = Number(value);
    return Number.isFinite(limit) && limit > 0 ? limit : null;
  }
}
