import { Counter, Gauge, Histogram } from 'prom-client';
import type { AppConfig } from '../../config/config.module.js';
import type { DeadLetter, DeadLetters } from '../../dead-letters/dead-letters.service.js';
import { BatchingPlaySink } from './batching-play-sink.js';
import type { OffsetCommit, RowChunk } from '../sink.contract.js';
import type { PlayTable } from '../play-table.js';
import { WriteFault, type AppendResult, type PlayWriter, type WriterAssignment } from '../writer.contract.js';
import { forEachRow, rowOf, type Segment } from '../rows.js';

// The batcher with a writer of our own that answers as a test says: BigQuery's behaviour is tested
// against the emulator (test/*.int-spec.ts); this is the sink's handling of each class of the faults table.

/** A chunk of rows "r<i>" (one separator byte between), counting what is reported done. */
function chunk(
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

class FakeWriter implements PlayWriter {
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
function laneWriter(): FakeWriter {
  const writer = new FakeWriter();
  writer.inPartitionOrder = true;
  return writer;
}

function sinkWith(writer: FakeWriter, settings: Partial<AppConfig> = {}, tableReady = Promise.resolve()) {
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

const soon = () => Date.now() + 10_000;

describe('BatchingPlaySink', () => {
  it('writes rows in order, in requests of at most SINK_BATCH_MAX_ROWS, each row done once', async () => {
    const writer = new FakeWriter();
    const { sink } = sinkWith(writer);
    const rows = chunk(10);
    await sink.put(rows);
    expect(await sink.flush(soon())).toBe(true);
    expect(writer.requests.flat()).toEqual(Array.from({ length: 10 }, (_, i) => `r${i}`));
    expect(Math.max(...writer.requests.map((r) => r.length))).toBe(4);
    expect(rows.doneCount).toBe(10);
  });

  it('dead-letters the rows a request names as invalid and writes the others again, each done once', async () => {
    const writer = new FakeWriter();
    // As the Write API answers row_errors: nothing written, r1 bad, the rest to append again.
    writer.answers = [
      (rows) => ({
        unwritten: rows.map((_, index) =>
          index === 1
            ? { index, outcome: 'refused', reason: 'bigquery_invalid', detail: 'FIELDS_ERROR: Missing required field' }
            : { index, outcome: 'retry', detail: 'not appended' },
        ),
      }),
    ];
    const { sink, letters } = sinkWith(writer);
    const rows = chunk(4);
    await sink.put(rows);
    expect(await sink.flush(soon())).toBe(true);
    expect(letters.map((l) => [l.source.offset, l.reason, l.detail])).toEqual([
      ['1', 'bigquery_invalid', 'FIELDS_ERROR: Missing required field'],
    ]);
    expect(writer.requests).toEqual([
      ['r0', 'r1', 'r2', 'r3'],
      ['r0', 'r2', 'r3'],
    ]);
    expect(rows.doneCount).toBe(4);
    // The chunk is told which row is not in the table (the live view must not count it).
    expect(rows.letteredRows).toEqual([1]);
  });

  it('writes again a row with a reason other than invalid (e.g. backendError): it is not dead-lettered', async () => {
    const writer = new FakeWriter();
    // As insertAll answers: r0 and r2 written, r1 failed with a backend error, r3 stopped.
    writer.answers = [
      () => ({
        unwritten: [
          { index: 1, outcome: 'retry', detail: 'backendError: try again' },
          { index: 3, outcome: 'retry', detail: 'stopped' },
        ],
      }),
    ];
    const { sink, letters } = sinkWith(writer);
    const rows = chunk(4);
    await sink.put(rows);
    expect(await sink.flush(soon())).toBe(true);
    expect(letters).toEqual([]);
    expect(writer.requests[1]).toEqual(['r1', 'r3']);
    expect(rows.doneCount).toBe(4);
  });

  it('retries a failed request until it is written, and says since when writes fail meanwhile', async () => {
    const writer = new FakeWriter();
    writer.answers = [() => new WriteFault('14 UNAVAILABLE', 'retry'), () => new Error('socket hang up')];
    const { sink } = sinkWith(writer);
    const rows = chunk(3);
    await sink.put(rows);
    await vi.waitFor(() => expect(sink.health.failingSince).not.toBeNull());
    expect(await sink.flush(soon())).toBe(true);
    expect(writer.requests).toHaveLength(3);
    expect(rows.doneCount).toBe(3);
    expect(sink.health.failingSince).toBeNull();
  });

  it('splits a request refused for its size, and dead-letters a single row that is still too large', async () => {
    const writer = new FakeWriter();
    writer.answers = [
      () => new WriteFault('request too large', 'split'),
      (rows) => (rows.includes('r0') ? { unwritten: [] } : new WriteFault('request too large', 'split')),
      (rows) => (rows.includes('r0') ? { unwritten: [] } : new WriteFault('request too large', 'split')),
      () => new WriteFault('request too large', 'split'),
    ];
    const { sink, letters } = sinkWith(writer);
    const rows = chunk(4);
    await sink.put(rows);
    expect(await sink.flush(soon())).toBe(true);
    expect(writer.requests[0]).toEqual(['r0', 'r1', 'r2', 'r3']);
    expect(writer.requests.slice(1, 3).sort()).toEqual([
      ['r0', 'r1'],
      ['r2', 'r3'],
    ]);
    expect(letters.map((l) => l.reason)).toContain('bigquery_too_large');
    expect(rows.doneCount).toBe(4);
    expect(rows.letteredRows).toEqual(letters.map((l) => Number(l.source.offset)));
  });

  it('holds the rows of a configuration error (stop), reports it as not writable, and writes them once fixed', async () => {
    const writer = new FakeWriter();
    writer.answers = [() => new WriteFault('7 PERMISSION_DENIED: bigquery.tables.updateData', 'stop')];
    const { sink, letters } = sinkWith(writer);
    const rows = chunk(2);
    await sink.put(rows);
    await vi.waitFor(() => expect(sink.health.writable).toBe(false));
    expect(sink.health.detail).toMatch(/PERMISSION_DENIED/);
    expect(rows.doneCount).toBe(0);
    expect(await sink.flush(soon())).toBe(true);
    expect(sink.health.writable).toBe(true);
    expect(rows.doneCount).toBe(2);
    expect(letters).toEqual([]);
  });

  it('sends a lane once it holds its share of the buffer, not a full request, without waiting for the linger', async () => {
    const writer = laneWriter();
    // Two lanes share 40 buffered rows: a lane is due at 40 / (2 * 2) = 10 rows.
    const { sink } = sinkWith(writer, { SINK_BATCH_MAX_ROWS: 100, SINK_MAX_BUFFERED_ROWS: 40, SINK_LINGER_MS: 60_000 });
    await sink.put({ ...chunk(6, 100), partition: 1 });
    await sink.put(chunk(10));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(writer.requests).toEqual([Array.from({ length: 10 }, (_, i) => `r${i}`)]);
    expect(await sink.flush(soon())).toBe(true);
    expect(writer.requests[1]).toEqual(Array.from({ length: 6 }, (_, i) => `r${100 + i}`));
  });

  it('keeps SINK_MAX_IN_FLIGHT requests under way per lane (a connection each), not across lanes', async () => {
    const writer = laneWriter();
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    writer.append = async function (this: FakeWriter, segments) {
      const result = FakeWriter.prototype.append.call(this, segments);
      await held;
      return result;
    };
    const { sink } = sinkWith(writer, { SINK_BATCH_MAX_ROWS: 2, SINK_MAX_IN_FLIGHT: 2, SINK_LINGER_MS: 60_000 });
    for (const partition of [0, 1, 2]) await sink.put({ ...chunk(6, partition * 100), partition });
    const done = sink.flush(soon());
    await new Promise((resolve) => setTimeout(resolve, 20));
    // Two requests of each lane's first four rows; their last two rows wait for a lane's turn.
    expect(writer.requests.map((rows) => rows[0])).toEqual(['r0', 'r2', 'r100', 'r102', 'r200', 'r202']);
    release();
    expect(await done).toBe(true);
    expect(
      writer.requests
        .map((rows) => rows[0])
        .slice(6)
        .sort(),
    ).toEqual(['r104', 'r204', 'r4']);
  });

  it('sends a lane at once when a backlog ends in it, without waiting for its share or the linger', async () => {
    const writer = laneWriter();
    const { sink } = sinkWith(writer, { SINK_BATCH_MAX_ROWS: 100, SINK_MAX_BUFFERED_ROWS: 40, SINK_LINGER_MS: 60_000 });
    await sink.put({ ...chunk(3, 100), partition: 1 });
    await sink.put(chunk(3));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(writer.requests).toEqual([]);
    // Partition 0's backlog ends: its lane goes, partition 1's keeps waiting for more.
    await sink.put({ ...chunk(2, 3), endsBacklog: true });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(writer.requests).toEqual([['r0', 'r1', 'r2', 'r3', 'r4']]);
    // A backlog that ends in a batch without rows (dead letters only) sends what the lane holds.
    await sink.put({ ...chunk(0, 103), partition: 1, endsBacklog: true });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(writer.requests[1]).toEqual(['r100', 'r101', 'r102']);
    // Rows after the end trickle in again: they wait.
    await sink.put(chunk(1, 5));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(writer.requests).toHaveLength(2);
  });

  it("gives a writer the assignment's starts only once the table exists (its streams are made in it)", async () => {
    const writer = new FakeWriter();
    let opened: WriterAssignment | undefined;
    writer.open = (assignment) => (opened = assignment);
    let tableMade!: () => void;
    const { sink } = sinkWith(writer, {}, new Promise<void>((resolve) => (tableMade = resolve)));
    const starts = vi.fn(() => Promise.resolve(new Map([[0, { offset: 0n, metadata: null }]])));
    sink.open({ partitions: [0], starts, requestCommit: () => undefined });
    const read = opened!.starts();
    let ready = false;
    void opened!.tableReady().then(() => (ready = true));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(starts).not.toHaveBeenCalled();
    expect(ready).toBe(false);
    tableMade();
    expect((await read).get(0)).toEqual({ offset: 0n, metadata: null });
    expect(ready).toBe(true);
  });

  it("abandons a writer's lane of an assignment that is over ('abandon'): its rows are dropped, never handed to the writer", async () => {
    const writer = laneWriter();
    const { sink } = sinkWith(writer, { SINK_LINGER_MS: 60_000 });
    const assignment = { partitions: [0], starts: () => Promise.resolve(new Map()), requestCommit: () => undefined };
    sink.open(assignment);
    const earlier = chunk(2);
    await sink.put(earlier);
    sink.open(assignment);
    const later = chunk(2, 2);
    await sink.put(later);
    expect(await sink.flush(soon())).toBe(true);
    expect(earlier.droppedCount).toBe(2);
    expect(earlier.doneCount).toBe(0);
    expect(writer.requests).toEqual([['r2', 'r3']]);
    expect(later.doneCount).toBe(2);
  });

  it('commits every offset without metadata for a writer with no preCommit of its own, and one with its own as it says', () => {
    const { sink } = sinkWith(new FakeWriter());
    expect(sink.preCommit(new Map([[0, 5n]]))).toEqual([{ partition: 0, offset: 5n, metadata: null }]);
    const writer = new FakeWriter();
    const committed: unknown[] = [];
    writer.preCommit = (offsets) => [...offsets].map(([partition, offset]) => ({ partition, offset, metadata: 'm' }));
    writer.committed = (commits, failure) => void committed.push([commits, failure]);
    const { sink: withOwn } = sinkWith(writer);
    const commits = withOwn.preCommit(new Map([[1, 7n]]));
    expect(commits).toEqual([{ partition: 1, offset: 7n, metadata: 'm' }]);
    withOwn.committed(commits);
    expect(committed).toEqual([[commits, undefined]]);
  });

  it('waits in put while SINK_MAX_BUFFERED_ROWS rows are held', async () => {
    const writer = new FakeWriter();
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    writer.append = async function (this: FakeWriter, segments) {
      await held;
      return FakeWriter.prototype.append.call(this, segments);
    };
    const { sink } = sinkWith(writer, { SINK_MAX_BUFFERED_ROWS: 6 });
    await sink.put(chunk(4));
    let taken = false;
    const put = sink.put(chunk(4, 4)).then(() => (taken = true));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(taken).toBe(false);
    expect(sink.health.bufferedRows).toBe(8);
    release();
    await put;
    expect(await sink.flush(soon())).toBe(true);
  });

  describe('a lane per partition: each may hold its share of SINK_MAX_BUFFERED_ROWS', () => {
    /** Partition 0's appends never answer (its stream is stuck); the others' are written at once. */
    function stuckLaneSink(settings: Partial<AppConfig> = {}) {
      const writer = laneWriter();
      writer.append = function (this: FakeWriter, segments) {
        if (segments[0]!.chunk.partition === 0) return new Promise<AppendResult>(() => undefined);
        return FakeWriter.prototype.append.call(this, segments);
      };
      const { sink } = sinkWith(writer, { SINK_MAX_BUFFERED_ROWS: 20, SINK_BATCH_MAX_ROWS: 4, ...settings });
      sink.open({ partitions: [0, 1], starts: () => Promise.resolve(new Map()), requestCommit: () => undefined });
      return { sink, writer };
    }
    const settled = async (put: Promise<void>) =>
      Promise.race([put.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 100))]);

    it("a stuck lane's put waits at its share, and the other lanes' puts go on", async () => {
      const { sink, writer } = stuckLaneSink();
      // 2 lanes of 20 rows: 10 each. Partition 0 holds 25, past its share (and the whole buffer): its put waits.
      expect(await settled(sink.put(chunk(25)))).toBe(false);
      // Partition 1 goes on: without shares, its put would wait for room in the buffer partition 0 fills.
      for (let i = 0; i < 5; i++) {
        expect(await settled(sink.put({ ...chunk(4, 100 + 4 * i), partition: 1 }))).toBe(true);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(writer.requests.flat().filter((row) => Number(row.slice(1)) >= 100)).toHaveLength(20);
      expect(sink.health.bufferedRows).toBe(25);
    });

    it('keeps the total bounded: a lane past its share waits even while the buffer has room', async () => {
      const { sink } = stuckLaneSink();
      expect(await settled(sink.put(chunk(6)))).toBe(true);
      expect(await settled(sink.put(chunk(6, 6)))).toBe(false);
      expect(sink.health.bufferedRows).toBe(12);
    });

    it('sends a lane holding its share at once, not after the linger, so its put does not wait it out', async () => {
      const writer = laneWriter();
      // 4 lanes of 40 rows: 10 each; with one lane holding rows a request would wait for 20 or the linger.
      const { sink } = sinkWith(writer, {
        SINK_MAX_BUFFERED_ROWS: 40,
        SINK_BATCH_MAX_ROWS: 100,
        SINK_LINGER_MS: 60_000,
      });
      sink.open({ partitions: [0, 1, 2, 3], starts: () => Promise.resolve(new Map()), requestCommit: () => undefined });
      expect(await settled(sink.put(chunk(12)))).toBe(true);
      expect(writer.requests).toEqual([Array.from({ length: 12 }, (_, i) => `r${i}`)]);
    });
  });
});
