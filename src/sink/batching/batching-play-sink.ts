import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { AppConfig } from '../../config/config.module.js';
import { DeadLetters } from '../../dead-letters/dead-letters.service.js';
import { InjectMetric, METRIC, type Counter, type Gauge, type Histogram } from '../../metrics/metrics.js';
import { PlayTable } from '../play-table.js';
import type { Assignment, OffsetCommit, PlaySink, RowChunk, SinkHealth } from '../sink.contract.js';
import { WRITER_DEFAULTS } from '../sink-apis.js';
import { PLAY_WRITER } from '../sink.tokens.js';
import type { PlayWriter } from '../writer.contract.js';
import { batchPolicy } from './batch-policy.js';
import { LaneBuffer } from './lane-buffer.js';
import { RequestLoop } from './request-loop.js';
import { SinkWriteReporter } from './sink-write-reporter.js';

/**
 * The write path's one batcher, whichever writer (SINK_API) does the writing: batches rows by count,
 * bytes and linger time, keeps a bounded number of requests in flight, retries without limit with
 * capped exponential backoff and jitter, splits requests refused for their size, dead-letters rows
 * BigQuery rejects, and reports each row done once it is written or dead-lettered. While a lane holds
 * its share of SINK_MAX_BUFFERED_ROWS rows, its `put` waits, which pauses consumption and bounds memory.
 * What to do about each fault comes from the writer's classification into the fault classes (faults.ts).
 * A writer with lanes (exactly-once: one per partition) gets requests of one lane each, in order.
 *
 * Its parts: LaneBuffer decides when a request goes, RequestLoop writes it, SinkWriteReporter shows
 * the failures in health, metrics and logs.
 */
@Injectable()
export class BatchingPlaySink implements PlaySink, OnApplicationShutdown {
  private readonly logger = new Logger(BatchingPlaySink.name);
  private readonly reporter: SinkWriteReporter;
  private readonly requests: RequestLoop;
  private readonly lanes: LaneBuffer;
  /** Counts the assignments opened: a writer's lanes are kept apart per assignment (see PlayWriter.inPartitionOrder). */
  private opened = 0;

  constructor(
    config: AppConfig,
    private readonly table: PlayTable,
    deadLetters: DeadLetters,
    @Inject(PLAY_WRITER) private readonly writer: PlayWriter,
    @InjectMetric(METRIC.playsWritten) written: Counter,
    @InjectMetric(METRIC.writeDuration) writeDuration: Histogram<'outcome'>,
    @InjectMetric(METRIC.batchRows) batchRows: Histogram,
    @InjectMetric(METRIC.bufferedRows) bufferedRows: Gauge,
    @InjectMetric(METRIC.writeRetries) retries: Counter,
    @InjectMetric(METRIC.sinkInfo) sinkInfo: Gauge<'api' | 'delivery'>,
  ) {
    const policy = batchPolicy(config, WRITER_DEFAULTS[writer.api]);
    this.reporter = new SinkWriteReporter(writer.api, table, deadLetters, retries, this.logger);
    this.requests = new RequestLoop(
      config,
      table,
      writer,
      deadLetters,
      this.reporter,
      { written, writeDuration, batchRows, retries },
      this.logger,
    );
    this.lanes = new LaneBuffer(
      config,
      policy,
      (rows, lane) => this.requests.write(rows, this.isCurrent(lane)),
      bufferedRows,
    );
    sinkInfo.set({ api: writer.api, delivery: writer.delivery }, 1);
    writer.attach?.(this.reporter);
    this.logger.log(
      `writing with ${writer.api} (${writer.delivery}): up to ${policy.batchMaxRows} rows or ` +
        `${policy.batchMaxBytes} bytes a request, ${policy.maxInFlight} in flight`,
    );
  }

  get health(): SinkHealth {
    const table = this.table.health;
    return {
      bufferedRows: this.lanes.heldRows,
      failingSince: this.reporter.failingSince,
      writable: table.status === 'ready' && this.reporter.configError === null,
      detail: this.reporter.configError ?? table.detail,
    };
  }

  open(assignment: Assignment): void {
    this.opened++;
    this.lanes.shareAmong(!this.writer.inPartitionOrder ? 1 : Math.max(1, assignment.partitions.length));
    // A writer's streams are made in the table: not before it exists (at start the service may be creating it).
    const tableReady = () => this.table.whenReady();
    this.writer.open?.({ ...assignment, tableReady, starts: () => tableReady().then(() => assignment.starts()) });
  }

  close(partitions: readonly number[]): void {
    this.writer.revoke?.(partitions);
  }

  preCommit(offsets: ReadonlyMap<number, bigint>): OffsetCommit[] {
    if (this.writer.preCommit !== undefined) return this.writer.preCommit(offsets);
    return [...offsets].map(([partition, offset]) => ({ partition, offset, metadata: null }));
  }

  committed(commits: readonly OffsetCommit[], failure?: unknown): void {
    this.writer.committed?.(commits, failure);
  }

  async put(chunk: RowChunk, keepAlive?: () => Promise<void>): Promise<void> {
    // A partition's lane of this assignment: the partition's rows go in order, apart from an earlier assignment's.
    const lane = this.writer.inPartitionOrder ? `${this.opened}/${chunk.partition}` : '';
    await this.lanes.put(lane, chunk, keepAlive);
  }

  flush(deadline: number): Promise<boolean> {
    return this.lanes.flush(deadline);
  }

  /** Whether a request of lane `lane` may still reach the writer: a writer's lanes of an assignment that is over may not. */
  private isCurrent(lane: string): () => boolean {
    if (lane === '') return () => true;
    const opened = Number(lane.slice(0, lane.indexOf('/')));
    return () => opened === this.opened;
  }

  async onApplicationShutdown(): Promise<void> {
    // Whatever is still unwritten stays uncommitted and is redelivered after the restart.
    this.requests.stop();
    this.lanes.stop();
    await this.writer.close();
  }
}
