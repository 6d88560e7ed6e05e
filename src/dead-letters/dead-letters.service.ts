import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import kafkajs, { type IHeaders, type Message, type Producer } from 'kafkajs';
import { AppConfig } from '../config/config.module.js';
import { errorText } from '../errors.js';
import { kafkaClientConfig } from '../kafka/kafka-client-config.js';
import { InjectMetric, METRIC, type Counter } from '../metrics/metrics.js';
import type { SourceMessage } from '../plays/source-message.js';

/** A message that could not become a row, on its way to the dead-letter topic. */
export interface DeadLetter {
  source: SourceMessage;
  /** Machine-readable: an InvalidReason of the decoder, or `bigquery_invalid`. */
  reason: string;
  /** Human-readable: what exactly was wrong. */
  detail: string;
  /** Called once the letter is in the dead-letter topic. */
  done: () => void;
}

/** Headers added to each dead letter, beside the original ones. */
export const DEAD_LETTER_HEADERS = {
  reason: 'dlq.reason',
  detail: 'dlq.detail',
  topic: 'dlq.source.topic',
  partition: 'dlq.source.partition',
  offset: 'dlq.source.offset',
  time: 'dlq.time',
} as const;

const BATCH = 500;
/** Dead letters are summarised in the log at most this often, never one line each. */
const SUMMARY_INTERVAL_MS = 60_000;

/**
 * Writes dead letters to KAFKA_DLQ_TOPIC: the original key, value and headers untouched, plus why.
 * A failed write is retried until it succeeds, so a letter's offset is never committed before the
 * letter is safely in the topic.
 */
@Injectable()
export class DeadLetters implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(DeadLetters.name);
  private readonly producer: Producer;
  private readonly topic: string;
  private readonly retryCapMs: number;
  private queue: DeadLetter[] = [];
  private sending: Promise<void> | null = null;
  private connected = false;
  private stopped = false;
  private failingSince: number | null = null;
  private summary = new Map<string, number>();
  private summaryLoggedAt = 0;

  constructor(
    config: AppConfig,
    @InjectMetric(METRIC.playsDeadLettered) private readonly deadLettered: Counter<'reason'>,
  ) {
    this.topic = config.KAFKA_DLQ_TOPIC;
    this.retryCapMs = config.SINK_RETRY_MAX_DELAY_MS;
    const kafka = new kafkajs.Kafka(kafkaClientConfig(config, 'dead-letters', this.logger));
    // Not idempotent: this class retries failed sends itself, so a retry may repeat a letter, never lose one.
    this.producer = kafka.producer({
      maxInFlightRequests: 1,
      allowAutoTopicCreation: true,
      createPartitioner: kafkajs.Partitioners.DefaultPartitioner,
    });
    this.producer.on(this.producer.events.CONNECT, () => (this.connected = true));
    this.producer.on(this.producer.events.DISCONNECT, () => (this.connected = false));
  }

  onApplicationBootstrap(): void {
    // Connects in the background: a broker outage at start-up must not stop the app.
    void this.producer.connect().catch((error: unknown) => {
      this.logger.warn(`dead-letter producer not connected yet: ${errorText(error)}; will retry on first use`);
    });
  }

  /** Queues letters for the dead-letter topic. Never throws. */
  put(letters: readonly DeadLetter[]): void {
    if (letters.length === 0) return;
    this.queue.push(...letters);
    this.sending ??= this.drain().finally(() => (this.sending = null));
  }

  /** Resolves once every queued letter is written, or false at the deadline. */
  async flush(deadline: number): Promise<boolean> {
    while (this.sending !== null) {
      if (Date.now() >= deadline) return false;
      await Promise.race([this.sending, sleep(Math.max(0, deadline - Date.now()))]);
    }
    return true;
  }

  get health(): { connected: boolean; queued: number; failingSince: number | null } {
    return { connected: this.connected, queued: this.queue.length, failingSince: this.failingSince };
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    this.logSummary(true);
    await this.producer.disconnect().catch(() => undefined);
  }

  private logSummary(force = false): void {
    if (this.summary.size === 0 || (!force && Date.now() - this.summaryLoggedAt < SUMMARY_INTERVAL_MS)) return;
    const counts = [...this.summary].map(([reason, count]) => `${reason}: ${count}`).join(', ');
    const total = [...this.summary.values()].reduce((sum, count) => sum + count, 0);
    this.logger.warn(`dead-lettered ${total} message(s) to ${this.topic} (${counts})`);
    this.summary = new Map();
    this.summaryLoggedAt = Date.now();
  }

  private async drain(): Promise<void> {
    let attempt = 0;
    while (this.queue.length > 0 && !this.stopped) {
      const batch = this.queue.slice(0, BATCH);
      try {
        await this.producer.send({ topic: this.topic, acks: -1, messages: batch.map(toMessage) });
        this.queue.splice(0, batch.length);
        for (const letter of batch) {
          letter.done();
          this.deadLettered.inc({ reason: letter.reason });
          this.summary.set(letter.reason, (this.summary.get(letter.reason) ?? 0) + 1);
        }
        this.logSummary();
        attempt = 0;
        this.failingSince = null;
      } catch (error) {
        this.failingSince ??= Date.now();
        const delay = Math.min(this.retryCapMs, 250 * 2 ** Math.min(attempt++, 16)) * (0.5 + Math.random() / 2);
        this.logger.error(
          `writing ${batch.length} dead letter(s) to ${this.topic} failed (${errorText(error)}); retrying in ${Math.round(delay)} ms`,
        );
        await sleep(delay);
      }
    }
  }
}

function toMessage(letter: DeadLetter): Message {
  const { source } = letter;
  const headers: IHeaders = {
    ...source.headers,
    [DEAD_LETTER_HEADERS.reason]: letter.reason,
    [DEAD_LETTER_HEADERS.detail]: letter.detail,
    [DEAD_LETTER_HEADERS.topic]: source.topic,
    [DEAD_LETTER_HEADERS.partition]: String(source.partition),
    [DEAD_LETTER_HEADERS.offset]: source.offset,
    [DEAD_LETTER_HEADERS.time]: new Date().toISOString(),
  };
  return { key: source.key, value: source.value, headers };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
