import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import kafkajs, { type Admin, type Consumer, type EachBatchPayload } from 'kafkajs';
import {
  BehaviorSubject,
  Observable,
  Subject,
  asyncScheduler,
  EMPTY,
  concatWith,
  filter,
  firstValueFrom,
  map,
  share,
  take,
  throttleTime,
  timeout,
} from 'rxjs';
import { AppConfig } from '../config/config.module.js';
import { errorText } from '../errors.js';
import { kafkaClientConfig } from '../kafka/kafka-client-config.js';
import { classifyKafkaError } from '../kafka/kafka-faults.js';
import { KafkaStartRetry } from '../kafka/kafka-start-retry.js';
import { backoffDelay, type BackoffPolicy } from '../retry/backoff.js';
import { committedSourceSpans, type SourceSpan } from './committed-source-spans.js';
import { LiveTally } from './live-tally.js';
import type { LiveUpdate, LiveViewState } from './live-view-state.js';
import { OwnDeltaPauses } from './own-delta-pauses.js';
import { parsePlayDelta } from './parse-play-delta.js';
import { parseCoversHeader, type PlayDelta } from './play-delta.js';
import { RETENTION_PAST_HORIZON_MS, liveTopicOf } from './live-topic.js';

const MINUTE_MS = 60_000;
/** No fetch from the broker for this long: the tally may be stale, so BigQuery answers instead. */
export const LIVE_FETCH_STALE_MS = 10_000;
/** At most one update a viewer is pushed in this span, however many deltas arrive. */
const UPDATE_EVERY_MS = 250;
/** How often the view looks again for a live topic not yet created. */
const TOPIC_POLL: BackoffPolicy = { minMs: 500, maxMs: 5_000 };

/**
 * The live view's reader: every replica reads all of LIVE_TOPIC (a group of its own that never
 * commits: kafkajs has no group-less consumer) from `now − horizon − 1 h`, merges each delta into a
 * LiveTally (exact: by source offset), and pushes a throttled update to every viewer over one shared
 * stream. Until it has read to the end offsets it found at start, it says `rebuilding`.
 *
 * Which windows it may answer: rows written before any delta was published (the live view turned on
 * in a running deployment) have no delta. So once rebuilt, if some source partition's committed offsets
 * are not all counted, the view holds only windows from the first whole minute after the first delta
 * it read; otherwise it holds the whole horizon.
 */
@Injectable()
export class LiveView implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(LiveView.name);
  readonly enabled: boolean;
  readonly topic: string;
  readonly tally: LiveTally;
  private readonly admin: Admin | null = null;
  private readonly consumer: Consumer | null = null;
  private readonly stopping = new AbortController();
  private rebuilding: string | null = 'not started';
  private lastFetchAt: number | null = null;
  private plays = 0;
  private newestMicros: number | null = null;
  /** The earliest delta's Kafka timestamp read (ms). */
  private firstDeltaAt: number | null = null;
  /** Per partition, the end offset the rebuild reads to; removed once reached. */
  private readonly rebuildTo = new Map<number, number>();
  /** The source's committed spans when the rebuild began (see committedSourceSpans). */
  private committedAtStart: SourceSpan[] | null = null;
  private readonly changed = new Subject<void>();
  private readonly rebuilt = new BehaviorSubject(false);
  private pruneTimer: NodeJS.Timeout | undefined;
  /** Updates, one upstream however many viewers subscribe. */
  private readonly updates: Observable<LiveUpdate>;
  /** Pauses the live partitions only this replica publishes to, once read (see OwnDeltaPartitions); null when off. */
  readonly ownDeltas: OwnDeltaPauses | null = null;
  /** Completes once the reader runs (or never will: off, or stopping). */
  private readonly readerRuns = new Subject<void>();

  constructor(private readonly config: AppConfig) {
    this.enabled = config.LIVE_ENABLED && config.DASHBOARD_ENABLED;
    this.topic = liveTopicOf(config);
    this.tally = new LiveTally({ horizonMs: config.LIVE_HORIZON, maxEntries: config.LIVE_MAX_ENTRIES });
    this.updates = this.changed.pipe(
      throttleTime(UPDATE_EVERY_MS, asyncScheduler, { leading: true, trailing: true }),
      map(() => this.update()),
      share(),
    );
    if (!this.enabled) return;
    const kafka = new kafkajs.Kafka(kafkaClientConfig(config, 'live-view', this.logger));
    this.admin = kafka.admin();
    this.consumer = kafka.consumer({
      // A group of its own: every replica gets every partition. It never commits, so the broker forgets it.
      groupId: `${config.KAFKA_GROUP_ID}.live-view.${randomUUID()}`,
      allowAutoTopicCreation: false,
      // A fetch answered at 64 kB or after 100 ms, not at each delta: under load, a fetch per delta
      // cost the ingest's CPU; 100 ms is small beside the dashboard's second.
      minBytes: 64 * 1024,
      maxWaitTimeInMs: 100,
      // Deltas are small: kafkajs' 10 MB fetches would only make the process's peak memory bigger.
      maxBytes: 1024 * 1024,
      maxBytesPerPartition: 256 * 1024,
    });
    this.ownDeltas = new OwnDeltaPauses(this.consumer, this.admin, this.topic, config.KAFKA_TOPIC);
    this.tally.onChange((added) => {
      this.plays += added;
      this.changed.next();
    });
  }

  state(now = Date.now()): LiveViewState {
    if (!this.enabled) return { status: 'off' };
    if (this.rebuilding !== null) return { status: 'rebuilding', detail: this.rebuilding };
    if (this.lastFetchAt === null || now - this.lastFetchAt > LIVE_FETCH_STALE_MS) {
      return {
        status: 'behind',
        detail: `no fetch of the live topic for more than ${LIVE_FETCH_STALE_MS / 1000}s (kafka unreachable)`,
      };
    }
    return { status: 'live' };
  }

  /** Whether a window from `sinceMs` (a whole minute) is answered from memory at `now`. */
  answers(sinceMs: number, now = Date.now()): boolean {
    return this.state(now).status === 'live' && this.tally.covers(sinceMs, now);
  }

  /**
   * A delta this replica published, acknowledged by the broker: counted now rather than when read
   * back, which saves its reading (the replica's own plays reach its viewers a fetch sooner).
   */
  counted(delta: PlayDelta): void {
    if (this.enabled) this.count(delta, Date.now());
  }

  /**
   * Resolves once the reader runs, or after `waitMs`: main.ts starts the ingest after it, so the
   * reader's start-up (a consumer group, its offsets, a dozen requests) does not compete with the
   * first batches, and the reader is placed in the live topic before this replica publishes there.
   */
  started(waitMs: number): Promise<void> {
    if (!this.enabled) return Promise.resolve();
    const waited = this.readerRuns.pipe(timeout({ first: waitMs, with: () => EMPTY }));
    return firstValueFrom(waited, { defaultValue: undefined });
  }

  /** The stream each viewer gets: the current state once rebuilt, then an update per change (throttled). */
  viewerUpdates(): Observable<LiveUpdate> {
    return this.rebuilt.pipe(
      filter(Boolean),
      take(1),
      map(() => this.update()),
      concatWith(this.updates),
    );
  }

  onApplicationBootstrap(): void {
    if (!this.enabled) return;
    this.pruneTimer = setInterval(() => this.tally.prune(Date.now()), MINUTE_MS).unref();
    // In the background: the app serves (BigQuery answers, readiness says rebuilding) meanwhile.
    void this.start();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopping.abort();
    this.readerRuns.complete();
    clearInterval(this.pruneTimer);
    this.changed.complete();
    if (this.consumer === null || this.admin === null) return;
    await Promise.all([this.consumer.disconnect(), this.admin.disconnect()].map((p) => p.catch(() => undefined)));
  }

  private update(): LiveUpdate {
    return {
      plays: this.plays,
      newest_play_at: this.newestMicros === null ? null : new Date(Math.floor(this.newestMicros / 1_000)).toISOString(),
      at: new Date().toISOString(),
    };
  }

  /** Connects and starts reading, retrying until it can (the topic may not exist yet). */
  private async start(): Promise<void> {
    const admin = this.admin!;
    const consumer = this.consumer!;
    const retry = new KafkaStartRetry(this.config.KAFKA_BROKERS);
    for (let attempt = 1; !this.stopping.signal.aborted; attempt++) {
      try {
        await admin.connect();
        if (!(await admin.listTopics()).includes(this.topic)) {
          this.rebuilding = `waiting for the live topic ${this.topic} (an ingest replica with LIVE_ENABLED creates it)`;
          await sleep(backoffDelay(attempt - 1, TOPIC_POLL), undefined, { signal: this.stopping.signal });
          continue;
        }
        // Before the end offsets: a commit seen here had its delta published before those ends.
        const committed = await committedSourceSpans(admin, this.config.KAFKA_TOPIC, this.config.KAFKA_GROUP_ID).catch(
          (error: unknown) => {
            // Holding only new minutes sends older windows to BigQuery for the whole horizon, so only a
            // fault no retry fixes (no right to read the group's offsets) settles for it. A coordinator
            // loading or moving (a new group, a broker restart) passes in seconds: retried with the start.
            const fault = classifyKafkaError(error, this.config.KAFKA_TOPIC);
            if (fault.class !== 'permanent') throw error;
            this.logger.warn(
              `cannot read the committed offsets of ${this.config.KAFKA_TOPIC}: ${errorText(error)}${fault.fix ? ` (to fix: ${fault.fix})` : ''}; holding only new minutes`,
            );
            return null;
          },
        );
        const from = Date.now() - this.config.LIVE_HORIZON - RETENTION_PAST_HORIZON_MS;
        const starts = await admin.fetchTopicOffsetsByTimestamp(this.topic, from);
        const ends = await admin.fetchTopicOffsets(this.topic);
        for (const { partition, offset } of ends) {
          const start = Number(starts.find((s) => s.partition === partition)?.offset ?? offset);
          if (start < Number(offset)) this.rebuildTo.set(partition, Number(offset));
        }
        this.rebuilding = `reading ${this.rebuildTo.size} partition(s) of ${this.topic}`;
        consumer.on(consumer.events.FETCH, () => {
          this.lastFetchAt = Date.now();
        });
        let joins = 0;
        // Its group started over (a long pause, say): kafkajs reads from the group's offsets again.
        consumer.on(consumer.events.GROUP_JOIN, () => {
          if (++joins > 1) this.ownDeltas!.rejoined();
        });
        await consumer.connect();
        await consumer.subscribe({ topic: this.topic, fromBeginning: true });
        await consumer.run({ autoCommit: false, eachBatch: (payload) => Promise.resolve(this.read(payload)) });
        for (const { partition, offset } of starts) consumer.seek({ topic: this.topic, partition, offset });
        this.ownDeltas!.started(starts);
        this.readerRuns.complete();
        this.committedAtStart = committed;
        if (this.rebuildTo.size === 0) this.finishRebuild();
        return;
      } catch (error) {
        if (this.stopping.signal.aborted) return;
        // The ingest says the same of the same broker, under the same policy.
        const { log, attempt: tries, delayMs } = retry.failed(error);
        if (log !== null)
          this.logger.warn(`live view cannot start reading ${this.topic} yet: ${log}; retrying (attempt ${tries})`);
        await sleep(delayMs, undefined, { signal: this.stopping.signal }).catch(() => {});
      }
    }
  }

  private read({ batch }: EachBatchPayload): void {
    const now = Date.now();
    for (const message of batch.messages) {
      const at = Number(message.timestamp);
      if (this.firstDeltaAt === null || at < this.firstDeltaAt) this.firstDeltaAt = at;
      // Counted already (this replica's own, or a delta published again): not parsed again.
      const covers = parseCoversHeader(message.headers?.covers);
      if (covers !== null && this.tally.hasCounted(covers.topic, covers.partition, covers.from, covers.to)) continue;
      let delta: PlayDelta;
      try {
        delta = parsePlayDelta(JSON.parse(message.value?.toString('utf8') ?? 'null'));
      } catch (error) {
        // Not ours (another writer on the topic): it cannot be counted; skipping it loses only its plays here.
        this.logger.error(`skipped ${this.topic} [${batch.partition}] @${message.offset}: ${errorText(error)}`);
        continue;
      }
      this.count(delta, now);
    }
    const next = Number(batch.lastOffset()) + 1;
    this.ownDeltas!.read(batch.partition, next, Number(batch.highWatermark));
    const target = this.rebuildTo.get(batch.partition);
    if (target !== undefined && next >= target) {
      this.rebuildTo.delete(batch.partition);
      if (this.rebuildTo.size === 0 && this.rebuilding !== null) this.finishRebuild();
    }
  }

  private count(delta: PlayDelta, now: number): void {
    if (this.tally.apply(delta, now) > 0) {
      for (const [, , , newest] of delta.keys) this.newestMicros = Math.max(this.newestMicros ?? 0, newest);
    }
  }

  /** Decides which windows the view holds (see the class comment), then answers from memory. */
  private finishRebuild(): void {
    const source = this.config.KAFKA_TOPIC;
    const spans = this.committedAtStart;
    const complete =
      spans !== null && spans.every(({ partition, from, to }) => this.tally.hasCounted(source, partition, from, to));
    if (!complete) {
      const first = this.firstDeltaAt ?? Date.now();
      this.tally.holdFrom(Math.ceil(first / MINUTE_MS) * MINUTE_MS);
    }
    this.rebuilding = null;
    this.logger.log(
      `live view rebuilt from ${this.topic}: ${this.plays} plays, ${this.tally.entries} entries${complete ? '' : ' (windows from the first delta read on: some committed offsets have no delta)'}`,
    );
    this.rebuilt.next(true);
  }
}
