import {
  Inject,
  Injectable,
  Logger,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import kafkajs, { type Producer } from 'kafkajs';
import { AppConfig } from '../config/config.module.js';
import { errorText } from '../errors.js';
import { kafkaClientConfig } from '../kafka/kafka-client-config.js';
import { InjectMetric, METRIC, type Counter } from '../metrics/metrics.js';
import type { PlayGenerator } from './play-generator.js';

/** The job's name in the SchedulerRegistry. */
export const SIMULATOR_JOB = 'simulator';
/** DI token of the PlayGenerator (SimulatorModule loads it lazily). */
export const PLAY_GENERATOR = 'PLAY_GENERATOR';

/** What the simulator did so far. */
export interface SimulatorCounts {
  /** Plays the broker acknowledged. */
  produced: number;
  /** Plays whose send failed (they are not sent again: the next tick makes new ones). */
  failed: number;
  /** Ticks skipped because the previous tick's send was still under way. */
  skippedTicks: number;
  /** Broker outages seen: runs of failed ticks. */
  outages: number;
}

/**
 * The built-in simulator: every SIMULATOR_INTERVAL_MS it produces SIMULATOR_EVENTS_PER_TICK fake plays
 * to SIMULATOR_TOPIC in one send. Ticks never overlap. A broker outage is logged once and counted; the
 * next ticks keep trying (connecting again if needed), so production resumes by itself.
 */
@Injectable()
export class SimulatorService implements OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly logger = new Logger('Simulator');
  private readonly producer: Producer;
  private readonly topic: string;
  private readonly counts: SimulatorCounts = { produced: 0, failed: 0, skippedTicks: 0, outages: 0 };
  private connected = false;
  private ticking: Promise<void> | null = null;
  private outageSince: number | null = null;
  private stopped = false;

  constructor(
    private readonly config: AppConfig,
    private readonly scheduler: SchedulerRegistry,
    @Inject(PLAY_GENERATOR) private readonly generator: PlayGenerator,
    @InjectMetric(METRIC.simulatorProduced) private readonly producedMetric: Counter,
    @InjectMetric(METRIC.simulatorFailed) private readonly failedMetric: Counter,
    @InjectMetric(METRIC.simulatorSkippedTicks) private readonly skippedMetric: Counter,
  ) {
    this.topic = config.SIMULATOR_TOPIC ?? config.KAFKA_TOPIC;
    const kafkaLogger = new SilentDuringOutage(() => this.outageSince !== null);
    const kafka = new kafkajs.Kafka({
      ...kafkaClientConfig(config, 'simulator', kafkaLogger),
      // Few, short retries: the next tick is the retry, and an outage is noticed (and logged) in seconds.
      retry: { initialRetryTime: 300, maxRetryTime: 1_000, retries: 2 },
    });
    this.producer = kafka.producer({
      allowAutoTopicCreation: true,
      createPartitioner: kafkajs.Partitioners.DefaultPartitioner,
    });
    this.producer.on(this.producer.events.CONNECT, () => (this.connected = true));
    this.producer.on(this.producer.events.DISCONNECT, () => (this.connected = false));
  }

  get stats(): SimulatorCounts {
    return { ...this.counts };
  }

  /** Since when sends have been failing (epoch ms), or null while the broker takes them. */
  get failingSince(): number | null {
    return this.outageSince;
  }

  onApplicationBootstrap(): void {
    const { SIMULATOR_EVENTS_PER_TICK: perTick, SIMULATOR_INTERVAL_MS: interval } = this.config;
    const limit = this.config.SIMULATOR_MAX_EVENTS;
    this.logger.log(
      `simulator on: ${perTick} play(s) every ${interval} ms to ${this.topic}` +
        `${limit === undefined ? '' : `, ${limit} in all`}` +
        ` (${this.config.SIMULATOR_DISTRIBUTION} songs, timestamps ${this.config.SIMULATOR_TIMESTAMPS}` +
        `${this.config.SIMULATOR_SEED === undefined ? '' : `, seed ${this.config.SIMULATOR_SEED}`})`,
    );
    this.scheduler.addInterval(
      SIMULATOR_JOB,
      setInterval(() => void this.tick(), interval),
    );
    // The first plays go out at once, as the original producer's did.
    void this.tick();
  }

  /** One tick: skipped (and counted) while the previous one is still sending. Never throws. */
  tick(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.ticking !== null) {
      this.counts.skippedTicks++;
      this.skippedMetric.inc();
      return this.ticking;
    }
    this.ticking = this.produce().finally(() => (this.ticking = null));
    return this.ticking;
  }

  /** Stops the ticks first, then lets a send under way finish (bounded) before the producer goes. */
  async beforeApplicationShutdown(): Promise<void> {
    this.stop();
    if (this.ticking === null) return;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, 5_000)));
    await Promise.race([this.ticking, deadline]);
    clearTimeout(timer);
  }

  async onApplicationShutdown(): Promise<void> {
    this.stop();
    await this.producer.disconnect().catch(() => undefined);
  }

  private async produce(): Promise<void> {
    const limit = this.config.SIMULATOR_MAX_EVENTS;
    const count = Math.min(this.config.SIMULATOR_EVENTS_PER_TICK, (limit ?? Infinity) - this.counts.produced);
    const plays = this.generator.batch(count);
    const started = Date.now();
    try {
      // A connect that failed (broker down at start-up) is simply tried again on the next tick.
      if (!this.connected) await this.producer.connect();
      await this.producer.send({
        topic: this.topic,
        acks: -1,
        messages: plays.map((play) => ({ value: JSON.stringify(play) })),
      });
      this.counts.produced += plays.length;
      this.producedMetric.inc(plays.length);
      if (this.outageSince !== null) {
        const seconds = Math.round((Date.now() - this.outageSince) / 1000);
        this.logger.log(
          `producing to ${this.topic} again after ${seconds} s (${this.counts.failed} play(s) failed in all)`,
        );
        this.outageSince = null;
      }
    } catch (error) {
      this.counts.failed += plays.length;
      this.failedMetric.inc(plays.length);
      if (this.outageSince === null) {
        this.outageSince = started;
        this.counts.outages++;
        this.logger.error(
          `cannot produce to ${this.topic}: ${errorText(error)}; ` +
            'the simulator keeps trying on every tick and says when it is back',
        );
      }
    }
    if (limit !== undefined && this.counts.produced >= limit) {
      this.logger.log(`simulator done: ${this.counts.produced} play(s) produced to ${this.topic}`);
      this.stop();
      await this.producer.disconnect().catch(() => undefined);
    }
  }

  private stop(): void {
    this.stopped = true;
    if (this.scheduler.doesExist('interval', SIMULATOR_JOB)) this.scheduler.deleteInterval(SIMULATOR_JOB);
  }
}

/**
 * kafkajs' own lines for the simulator's client, dropped while an outage the simulator already reported
 * lasts: kafkajs would repeat the same connection error on every retry of every tick.
 */
class SilentDuringOutage extends Logger {
  constructor(private readonly outage: () => boolean) {
    super('Kafka');
  }

  override error(message: unknown, ...rest: unknown[]): void {
    if (!this.outage()) super.error(message, ...rest);
  }

  override warn(message: unknown, ...rest: unknown[]): void {
    if (!this.outage()) super.warn(message, ...rest);
  }
}
