import { Counter, Gauge, Histogram } from 'prom-client';
import type { AppConfig } from '../../config/config.module.js';
import type { DeadLetter, DeadLetters } from '../../dead-letters/dead-letters.service.js';
import { BatchingPlaySink } from './batching-play-sink.js';
import type { OffsetCommit, RowChunk } from '../sink.contract.js';
import type { PlayTable } from '../play-table.js';
import type { AppendResult, PlayWriter, WriterAssignment } from '../writer.contract.js';
import { forEachRow, rowOf, type Segment } from '../rows.js';

// What the BatchingPlaySink specs (batching-play-sink.*.spec.ts) run on; the service never loads it:
// the batcher with a writer of our own that answers as a test says. BigQuery's behaviour is tested
// against the emulator (test/*.int-spec.ts).

/** A chunk of rows "r<i>" (one separator byte between), counting what is reported done. */
export function chunk(
  count: number,
  first = 0,
): RowChunk & { doneCount: number; droppedCount: number; letteredRows: number[] } {
  const rows = Array.from({ length: count }, (_, i) => `r${first + i}`);
  const bytes = Buffer.from(rows.join(','));
  const ends = new Int32Array(count);
  let at = 0;
  rows.forEach((row, i) => (ends[i] = at += row.length + (i > 0 ? 1 : 0)));
  const result = {
    rows: bytes,
    ends,
    doneCount: 0,
    letteredRows: [] as number[],
    source: (row: number) => ({
      topic: 't',
      partition: 0,
      offset: String(first + row),
      key: null,
      value: null,
      headers: {},
    }),
    partition: 0,
    lastOffset: BigInt(first + count - 1),
    droppedCount: 0,
    done: (n: number) => (result.doneCount += n),
    lettered: (row: number) => void result.letteredRows.push(row),
    dropped: (n: number) => (result.droppedCount += n),
  };
  return result;
}

export class FakeWriter implements PlayWriter {
  readonly api = 'storage-write' as const;
  inPartitionOrder?: true;
  open?: (assignment: WriterAssignment) => void;
  preCommit?: (offsets: ReadonlyMap<number, bigint>) => OffsetCommit[];
  committed?: (commits: readonly OffsetCommit[], failure?: unknown) => void;
  readonly delivery = 'at-least-once' as const;
  readonly requests: string[][] = [];
  /** Answers the next requests, in order; then every request is written whole. */
  answers: ((rows: string[]) => AppendResult | Error)[] = [];

  append(segments: readonly Segment[]): Promise<AppendResult> {
    const rows: string[] = [];
    forEachRow(segments, (c, row) => rows.push(rowOf(c, row).toString()));
    this.requests.push(rows);
    const answer = this.answers.shift()?.(rows) ?? { unwritten: [] };
    return answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** A writer with one lane per partition, as the exactly-once writer has. */
export function laneWriter(): FakeWriter {
  const writer = new FakeWriter();
  writer.inPartitionOrder = true;
  return writer;
}

export function sinkWith(writer: FakeWriter, settings: Partial<AppConfig> = {}, tableReady = Promise.resolve()) {
  const letters: DeadLetter[] = [];
  const config = {
    SINK_BATCH_MAX_ROWS: 4,
    SINK_BATCH_MAX_BYTES: 1_000_000,
    SINK_MAX_IN_FLIGHT: 2,
    SINK_LINGER_MS: 5,
    SINK_MAX_BUFFERED_ROWS: 100,
    SINK_RETRY_MAX_DELAY_MS: 100,
    ...settings,
  } as AppConfig;
  const table = {
    health: { status: 'ready', detail: 'ready' },
    whenReady: () => tableReady,
    id: 'p.d.t',
  };
  const deadLetters = {
    put: (batch: readonly DeadLetter[]) => {
      letters.push(...batch);
      for (const letter of batch) letter.done();
    },
  };
  const registers = { registers: [] };
  const sink = new BatchingPlaySink(
    config,
    table as unknown as PlayTable,
    deadLetters as unknown as DeadLetters,
    writer,
    new Counter({ name: 'w', help: 'w', ...registers }),
    new Histogram({ name: 'd', help: 'd', labelNames: ['outcome'], ...registers }),
    new Histogram({ name: 'b', help: 'b', ...registers }),
    new Gauge({ name: 'g', help: 'g', ...registers }),
    new Counter({ name: 'r', help: 'r', ...registers }),
    new Gauge({ name: 'i', help: 'i', labelNames: ['api', 'delivery'], ...registers }),
  );
  return { sink, letters };
}

export const soon = () => Date.now() + 10_000;
