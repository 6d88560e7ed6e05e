import {
  Inject,
  Injectable,
  Logger,
  Optional,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import type { Message } from 'kafkajs';
import { AppConfig } from '../config/config.module.js';
import { errorText } from '../errors.js';
import { splitPoint } from '../halves.js';
import { classifyKafkaError, faultSummary } from '../kafka/kafka-faults.js';
import { OutageLog } from '../logging/outage-log.js';
import { InjectMetric, METRIC, type Counter } from '../metrics/metrics.js';
import type { SourceMessage } from '../plays/source-message.js';
import type { DeadLetterReason } from './dead-letter-reason.js';
import { backoffDelay, sleep } from '../retry/backoff.js';
import { deadLetterMessage, messageBytes } from './dead-letter-message.js';
import { DeadLetterSummary } from './dead-letter-summary.js';
import { KafkaDeadLetterTopic, type DeadLetterTopic } from './dead-letter-topic.js';
import { DEAD_LETTER_TOPIC } from './dead-letters.tokens.js';

// Readers of the topic (the integration tests among them) import its headers from here.
export { DEAD_LETTER_HEADERS } from './dead-letter-message.js';

/** A message that could not become a row, on its way to the dead-letter topic. */
export interface DeadLetter {
  source: SourceMessage;
  /** Machine-readable: the `dlq.reason` header and the metric's label. */
  reason: DeadLetterReason;
  /** Human-readable: what exactly was wrong. */
  detail: string;
  /** Called once the letter is in the dead-letter topic. */
  done: () => void;
}

/** Letters per produce request at most. */
const MAX_LETTERS_PER_SEND = 500;
/** Kafka's default max.message.bytes, used until the topic's own is read. */
const DEFAULT_MAX_MESSAGE_BYTES = 1_048_588;
/** Room left in a batch for the record batch's header and our estimate's error. */
const BATCH_OVERHEAD_BYTES = 1_024;
/** How often letters the topic refused as too large are tried again (its limit may have been raised). */
const REFUSED_RETRY_MS = 10_000;
/** The first wait after a failed send; it doubles per failure up to SINK_RETRY_MAX_DELAY_MS. */
const RETRY_MIN_MS = 250;

interface Queued {
  letter: DeadLetter;
  message: Message;
  bytes: number;
  sent: boolean;
  /** Refused as too large at least once, and not yet written. */
  refused: boolean;
}

export interface DeadLettersHealth {
  connected: boolean;
  /** Letters waiting to be written, and their size. */
  queued: number;
  queuedBytes: number;
  failingSince: number | null;
  /** Why writes fail now (with what to change when it is permanent), or null. */
  problem: string | null;
  /** The same for anyone to read (readiness): our own words, no broker address nor error text; or null. */
  summary: string | null;
}

/**
 * Writes dead letters to KAFKA_DLQ_TOPIC: the original key, value and headers untouched, plus why.
 * Letters go in gzip-compressed batches bounded by count and by the topic's `max.message.bytes`; a
 * batch the broker still refuses as too large is split. A letter too large for the topic even alone is
 * a configuration error: logged once with the setting to raise, shown by readiness, kept (never
 * dropped, its offset never committed) and tried again every few seconds, so raising the limit is all
 * it takes. Other failures are retried with backoff. A letter's `done` is called only once it is in
 * the topic.
 */
@Injectable()
export class DeadLetters implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(DeadLetters.name);
  private readonly topic: DeadLetterTopic;
  private readonly retryCapMs: number;
  private readonly outage: OutageLog;
  private queue: Queued[] = [];
  private queuedBytes = 0;
  /** Letters the topic refused as too large even alone, waiting for its limit to be raised. */
  private refused: Queued[] = [];
  private refusedTimer: NodeJS.Timeout | undefined;
  /** Letters refused as too large and not yet written, wherever they are (set aside, queued or in flight). */
  private refusedPending = 0;
  private configError: string | null = null;
  private configErrorSince: number | null = null;
  private problem: string | null = null;
  private problemSummary: string | null = null;
  private maxBatchBytes = DEFAULT_MAX_MESSAGE_BYTES - BATCH_OVERHEAD_BYTES;
  private limitKnown = false;
  private sending: Promise<void> | null = null;
  private stopped = false;
  private readonly summary: DeadLetterSummary;

  constructor(
    config: AppConfig,
    @InjectMetric(METRIC.playsDeadLettered) private readonly deadLettered: Counter<'reason'>,
    @Optional() @Inject(DEAD_LETTER_TOPIC) topic?: DeadLetterTopic,
  ) {
    this.topic = topic ?? new KafkaDeadLetterTopic(config, this.logger);
    this.retryCapMs = config.SINK_RETRY_MAX_DELAY_MS;
    this.outage = new OutageLog(this.logger, `writing dead letters to ${this.topic.name}`);
    this.summary = new DeadLetterSummary(this.logger, this.topic.name);
  }

  onApplicationBootstrap(): void {
    // In the background: a broker outage at start-up must not stop the app.
    void this.topic.start().then(() => this.readLimit());
  }

  /** Queues letters for the dead-letter topic. Never throws. */
  put(letters: readonly DeadLetter[]): void {
    if (letters.length === 0) return;
    for (const letter of letters) {
      const message = deadLetterMessage(letter);
      const bytes = messageBytes(message);
      this.queue.push({ letter, message, bytes, sent: false, refused: false });
      this.queuedBytes += bytes;
    }
    this.drainSoon();
  }

  /** Resolves true once every queued letter is written, or false at the deadline or with letters refused. */
  async flush(deadline: number): Promise<boolean> {
    while (this.sending !== null) {
      if (Date.now() >= deadline) return false;
      await Promise.race([this.sending, sleep(Math.max(0, deadline - Date.now()))]);
    }
    return this.queue.length === 0 && this.refusedPending === 0;
  }

  get health(): DeadLettersHealth {
    return {
      connected: this.topic.connected,
      queued: this.queue.length + this.refused.length,
      queuedBytes: this.queuedBytes,
      failingSince: this.configErrorSince ?? this.outage.failingSince,
      problem: this.configError ?? this.problem,
      // The configuration error is in our words already: sizes, the topic and the setting to raise.
      summary: this.configError ?? this.problemSummary,
    };
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.refusedTimer);
    this.summary.log(true);
    await this.topic.stop();
  }

  private drainSoon(): void {
    if (this.stopped) return;
    this.sending ??= this.drain().finally(() => (this.sending = null));
  }

  private async readLimit(): Promise<void> {
    const limit = await this.topic.maxMessageBytes();
    if (limit === null) return;
    this.limitKnown = true;
    this.maxBatchBytes = Math.max(1, limit - BATCH_OVERHEAD_BYTES);
  }

  private async drain(): Promise<void> {
    let attempt = 0;
    while (this.queue.length > 0 && !this.stopped) {
      if (!this.limitKnown) await this.readLimit();
      const batch = this.takeBatch();
      try {
        await this.sendSplitting(batch);
        attempt = 0;
        this.problem = null;
        this.problemSummary = null;
        this.outage.succeeded();
      } catch (error) {
        // A fault for the whole request: what was not sent goes back to the front, in order.
        this.queue.unshift(...batch.filter((q) => !q.sent && !this.refused.includes(q)));
        const fault = classifyKafkaError(error, this.topic.name);
        this.problem = `${errorText(error)}${fault.fix ? `; to fix: ${fault.fix}` : ''}`;
        this.problemSummary = faultSummary(error, fault);
        this.outage.failed(`${batch.length} letter(s): ${errorText(error)}`, fault.reason, fault.fix);
        await sleep(backoffDelay(attempt++, { minMs: RETRY_MIN_MS, maxMs: this.retryCapMs }));
        // The limit may have changed with whatever went wrong (a recreated topic).
        if (fault.class === 'permanent') this.limitKnown = false;
      }
    }
  }

  /** The oldest letters, at most MAX_LETTERS_PER_SEND and (unless it is one letter) the topic's limit. */
  private takeBatch(): Queued[] {
    let bytes = 0;
    let count = 0;
    while (count < this.queue.length && count < MAX_LETTERS_PER_SEND) {
      const next = this.queue[count]!.bytes;
      if (count > 0 && bytes + next > this.maxBatchBytes) break;
      bytes += next;
      count++;
    }
    return this.queue.splice(0, count);
  }

  /** Sends letters; a batch refused as too large is halved, a single letter refused is set aside. */
  private async sendSplitting(batch: Queued[]): Promise<void> {
    try {
      await this.topic.send(batch.map((q) => q.message));
    } catch (error) {
      const fault = classifyKafkaError(error, this.topic.name);
      if (fault.class !== 'too-large') throw error;
      const half = splitPoint(batch.length);
      if (half === null) return this.refuse(batch[0]!, fault.fix);
      await this.readLimit();
      await this.sendSplitting(batch.slice(0, half));
      await this.sendSplitting(batch.slice(half));
      return;
    }
    this.written(batch);
  }

  private written(batch: Queued[]): void {
    let refusedWritten = false;
    for (const queued of batch) {
      queued.sent = true;
      if (queued.refused) {
        queued.refused = false;
        this.refusedPending--;
        refusedWritten = true;
      }
      this.queuedBytes -= queued.bytes;
      queued.letter.done();
      this.deadLettered.inc({ reason: queued.letter.reason });
      this.summary.written(queued.letter.reason);
    }
    // One refused letter went through (the limit was raised): the others are tried at once.
    if (refusedWritten && this.refused.length > 0) {
      this.queue.unshift(...this.refused);
      this.refused = [];
    }
    if (this.refusedPending === 0 && this.configError !== null) {
      this.logger.log(`dead-letter topic ${this.topic.name} takes every letter again`);
      this.configError = null;
      this.configErrorSince = null;
    }
    this.summary.log();
  }

  /** A letter too large for the topic even alone: a configuration error, reported once, kept and retried. */
  private refuse(queued: Queued, fix: string | undefined): void {
    this.refused.push(queued);
    if (!queued.refused) {
      queued.refused = true;
      this.refusedPending++;
    }
    if (this.configError === null) {
      this.configErrorSince = Date.now();
      const { source } = queued.letter;
      this.configError =
        `a dead letter of about ${queued.bytes} bytes (from ${source.topic}/${source.partition}@${source.offset}) ` +
        `is larger than dead-letter topic ${this.topic.name} accepts (max.message.bytes ${this.maxBatchBytes + BATCH_OVERHEAD_BYTES}); ` +
        `${fix ?? `raise max.message.bytes on topic ${this.topic.name}`} to at least ${queued.bytes + BATCH_OVERHEAD_BYTES}`;
      this.logger.error(
        `${this.configError}. Its offset and those after it stay uncommitted until then; nothing is dropped.`,
      );
    }
    this.refusedTimer ??= setTimeout(() => void this.retryRefused(), REFUSED_RETRY_MS);
  }

  /**
   * Puts refused letters back at the front of the queue once the topic's limit, read again, takes
   * them; while it does not, only the oldest is tried (it may fit compressed), one request per round.
   */
  private async retryRefused(): Promise<void> {
    this.refusedTimer = undefined;
    if (this.stopped || this.refused.length === 0) return;
    await this.readLimit();
    const fit = this.refused.filter((q) => q.bytes <= this.maxBatchBytes);
    const retried = fit.length > 0 ? fit : this.refused.slice(0, 1);
    this.refused = this.refused.filter((q) => !retried.includes(q));
    this.queue.unshift(...retried);
    this.drainSoon();
    if (this.refused.length > 0) this.refusedTimer = setTimeout(() => void this.retryRefused(), REFUSED_RETRY_MS);
  }
}
