import { randomUUID } from 'node:crypto';
import type { Play } from '../../src/plays/play.js';
import { PLAY_TABLE_SCHEMA } from '../../src/sink/play-schema.js';
import { appendRow, forEachRow, rowCount, splitRows, type Segment } from '../../src/sink/rows.js';
import type { RowChunk } from '../../src/sink/sink.contract.js';
import {
  WriteFault,
  type AppendResult,
  type PlayWriter,
  type RefusedRow,
  type RowEncoding,
  type RowOutcome,
  type WriterAssignment,
} from '../../src/sink/writer.contract.js';
import { bigquery, deps, eventually } from './service.js';

/*
 * The contract every PlayWriter meets (src/sink/writer.contract.ts), stated once and run against each
 * writer on the emulator. The suite drives a writer only as the sink does: it opens an assignment and
 * attaches a reporter when the writer has those methods, hands a partition's requests over in offset
 * order, writes rows named `retry` again, and takes rows named `refused` (or told to the reporter
 * and named `settled`) as dead letters. What it checks is what the table holds.
 *
 * Not stated here, because the emulator cannot show it: a row too large for any request. Its Write
 * API refuses an append over gRPC's 4 MB with RESOURCE_EXHAUSTED (BigQuery's quota error, retried),
 * and its insertAll takes any size; BigQuery refuses a request for its size, which the writers sort
 * into `split` (their fault tables' specs pin that, and the exactly-once lane's spec how it splits).
 * An empty request is not stated either: the sink never sends one (RequestLoop skips it), so the
 * contract says nothing of it.
 */

/** A writer to test: how to make one writing to a table, and its row format. */
export interface WriterSubject {
  encoding: RowEncoding;
  create(table: { dataset: string; table: string }): PlayWriter;
}

const TOPIC = 'plays-contract';

/** A play with its own event_id (the insertId of insertAll's row), or none: the strict table rejects it. */
function play(i: number, eventId: string | undefined): Play {
  return {
    user_id: 20_000 + i,
    artist: 'tony-allen',
    song_id: i % 10,
    song_name: 'lady',
    event_type: 'song_completed',
    timestamp: new Date().toISOString().replace('Z', '000Z'),
    ...(eventId !== undefined && { event_id: eventId }),
  };
}

/** One writer under test, its table, and what it told the sink. */
class Bench {
  readonly names = { dataset: '', table: `plays_${randomUUID().replaceAll('-', '').slice(0, 8)}` };
  readonly told: RefusedRow[] = [];
  readonly faults: WriteFault[] = [];
  writer!: PlayWriter;

  constructor(private readonly subject: WriterSubject) {}

  /** A fresh table (event_id REQUIRED when `strict`) and a writer of it, opened for `partitions`. */
  async start(dataset: string, { strict = false, partitions = [0], exists = true } = {}): Promise<void> {
    this.names.dataset = dataset;
    if (exists) {
      const schema = PLAY_TABLE_SCHEMA.map((f) => (strict && f.name === 'event_id' ? { ...f, mode: 'REQUIRED' } : f));
      await bigquery.dataset(dataset).createTable(this.names.table, { schema });
    }
    const writer = (this.writer = this.subject.create(this.names));
    writer.attach?.({
      failed: (fault) => void this.faults.push(fault),
      succeeded: () => undefined,
      refused: (rows) => (this.told.push(...rows), Promise.resolve()),
    });
    const assignment: WriterAssignment = {
      partitions,
      tableReady: () => Promise.resolve(),
      starts: () => Promise.resolve(new Map(partitions.map((p) => [p, { offset: 0n, metadata: null }]))),
      // Commits what the writer asks for at once, as the consumer's one commit path would.
      requestCommit: () => writer.committed?.(writer.preCommit?.(new Map()) ?? []),
    };
    writer.open?.(assignment);
  }

  /** Rows of `partition` from `first` on, one per play; `rejected(i)` says which the strict table refuses. */
  chunk(partition: number, first: number, count: number, rejected = (_: number) => false): RowChunk {
    const encoder = this.subject.encoding.createEncoder(TOPIC, partition, new Date().toISOString());
    const separator = Buffer.from([this.subject.encoding.separator]);
    const parts: Buffer[] = [];
    const ends = new Int32Array(count);
    let at = 0;
    for (let i = 0; i < count; i++) {
      const id = rejected(first + i) ? undefined : `${this.names.table}-${partition}-${first + i}`;
      const row = encoder.row(play(first + i, id), String(first + i));
      const bytes = typeof row === 'string' ? Buffer.from(row) : Buffer.from(row);
      if (i > 0) parts.push(separator);
      parts.push(bytes);
      at += (i > 0 ? 1 : 0) + bytes.length;
      ends[i] = at;
    }
    return {
      rows: Buffer.concat(parts),
      ends,
      source: (row) => ({ topic: TOPIC, partition, offset: String(first + row), key: null, value: null, headers: {} }),
      partition,
      lastOffset: BigInt(first + count - 1),
      done: () => undefined,
      lettered: () => undefined,
      dropped: () => undefined,
    };
  }

  /**
   * Writes requests as the sink does (one partition's in order, all at once): rows named `retry` go
   * again until none is left. Resolves with each request's result (its first append's) and the dead
   * letters, by offset.
   */
  async write(requests: Segment[][]): Promise<{ results: AppendResult[]; letters: number[] }> {
    const letters: number[] = [];
    const once = async (rows: Segment[], round = 1): Promise<AppendResult> => {
      // A row BigQuery will never take must not be named `retry` for ever.
      if (round > 5) expect.fail(`rows named \`retry\` ${round - 1} times in a row: ${rowCount(rows)} of them`);
      const told = this.told.length;
      const result = await this.writer.append(rows);
      expectTrueOutcomes(rows, result, this.told.slice(told));
      const again: Segment[] = [];
      const outcomes = new Map(result.unwritten.map((o) => [o.index, o]));
      forEachRow(rows, (chunk, row, index) => {
        const outcome = outcomes.get(index)?.outcome;
        if (outcome === 'retry') appendRow(again, chunk, row);
        else if (outcome !== undefined) letters.push(Number(chunk.source(row).offset));
      });
      if (again.length > 0) await once(again, round + 1);
      return result;
    };
    const results = await Promise.all(requests.map((rows) => once(rows)));
    return { results, letters: letters.sort((a, b) => a - b) };
  }

  /** Each (partition, offset) in the table and how many rows it is. */
  async rows(): Promise<{ p: number; o: number; n: number }[]> {
    const [rows] = await bigquery.query(
      `SELECT kafka_partition AS p, kafka_offset AS o, COUNT(*) AS n
       FROM \`${deps.BIGQUERY_PROJECT_ID}.${this.names.dataset}.${this.names.table}\`
       GROUP BY p, o ORDER BY p, o`,
    );
    return rows as { p: number; o: number; n: number }[];
  }
}

/**
 * What a result says of its request is true of the indices: each names a row of the request, at most
 * once; a `settled` row is one the writer told the reporter of while the request was under way (and
 * every row told is named `settled`); a row the emulator rejects is BigQuery's refusal, `bigquery_invalid`.
 */
function expectTrueOutcomes(rows: readonly Segment[], { unwritten }: AppendResult, told: RefusedRow[]): void {
  const count = rowCount(rows);
  const indices = unwritten.map((o) => o.index);
  expect(
    indices.every((i) => Number.isInteger(i) && i >= 0 && i < count),
    `indices within 0..${count - 1}`,
  ).toBe(true);
  expect(new Set(indices).size, 'each row named once').toBe(indices.length);
  const settled = unwritten.filter((o) => o.outcome === 'settled').map((o) => o.index);
  const toldIndices: number[] = [];
  forEachRow(rows, (chunk, row, index) => {
    const toldOf = told.find((t) => t.chunk === chunk && t.row === row);
    if (toldOf === undefined) return;
    toldIndices.push(index);
    expect(toldOf.reason).toBe('bigquery_invalid');
  });
  expect(
    settled.sort((a, b) => a - b),
    'settled: the rows told to the reporter',
  ).toEqual(toldIndices);
  for (const o of unwritten.filter((o): o is Extract<RowOutcome, { outcome: 'refused' }> => o.outcome === 'refused'))
    expect(o.reason).toBe('bigquery_invalid');
}

const whole = (chunk: RowChunk): Segment[] => [{ chunk, from: 0, to: chunk.ends.length }];
/** Offsets `from`..`to - 1` of a partition, each one row. */
const once = (p: number, from: number, to: number) =>
  Array.from({ length: to - from }, (_, i) => ({ p, o: from + i, n: 1 }));

/**
 * Registers the contract's tests for one writer. `dataset` names a dataset that exists while they run
 * (each test makes its own table in it).
 */
export function writerContract(subject: WriterSubject, dataset: () => string): void {
  let bench: Bench;
  beforeEach(() => void (bench = new Bench(subject)));
  afterEach(async () => {
    await bench.writer?.close();
  });

  it('writes every row of its requests exactly once: several partitions, several requests in flight', async () => {
    await bench.start(dataset(), { partitions: [0, 1] });
    const requests = [0, 1].flatMap((p) => [0, 100, 200].map((first) => whole(bench.chunk(p, first, 100))));
    const { results } = await bench.write(requests);
    expect(results.map((r) => r.unwritten)).toEqual(requests.map(() => []));
    expect(await bench.rows()).toEqual([...once(0, 0, 300), ...once(1, 0, 300)]);
  });

  it('takes a request of several chunks, and a request split mid-chunk as its halves in order: each row once', async () => {
    await bench.start(dataset());
    const [a, b] = [bench.chunk(0, 0, 120), bench.chunk(0, 120, 80)];
    // A request of both chunks, refused for its size: the sink writes its halves, then the second's halves.
    const [first, rest] = splitRows([...whole(a), ...whole(b)], 100);
    const [second, third] = splitRows(rest, 50);
    const { results } = await bench.write([first, second, third]);
    expect(results.map((r) => r.unwritten)).toEqual([[], [], []]);
    expect(await bench.rows()).toEqual(once(0, 0, 200));
  });

  it('without inPartitionOrder: takes requests in any order, and one again after it was written (its rows at least once)', async (context) => {
    await bench.start(dataset());
    if (bench.writer.inPartitionOrder) context.skip("this writer takes each partition's requests in offset order");
    const [a, b, c] = [0, 100, 200].map((first) => whole(bench.chunk(0, first, 100)));
    await bench.write([c!, a!, b!]);
    // As after a failure whose answer was lost: the sink writes the request again.
    await bench.write([a!]);
    const rows = await bench.rows();
    // Every row is in the table; only the repeated request's may be twice (at-least-once).
    expect(rows.map(({ o }) => o)).toEqual(once(0, 0, 300).map(({ o }) => o));
    expect(rows.filter(({ o, n }) => o >= 100 && n !== 1)).toEqual([]);
  });

  it('with inPartitionOrder: a partition not (or no longer) assigned is abandoned, nothing of it written', async (context) => {
    await bench.start(dataset(), { partitions: [0, 1] });
    if (!bench.writer.inPartitionOrder) context.skip('this writer has one lane for all partitions');
    await bench.write([whole(bench.chunk(0, 0, 10))]);
    bench.writer.revoke?.([0, 1]);
    for (const partition of [0, 2]) {
      await expect(bench.writer.append(whole(bench.chunk(partition, 10, 10)))).rejects.toMatchObject({
        action: 'abandon',
      });
    }
    expect(await bench.rows()).toEqual(once(0, 0, 10));
  });

  it('names each row the emulator rejects by its index in the request, writes none of them, and every other row once', async () => {
    await bench.start(dataset(), { strict: true });
    const rejected = new Set([4, 17, 18, 39]);
    const [a, b] = [bench.chunk(0, 0, 10, (i) => rejected.has(i)), bench.chunk(0, 10, 30, (i) => rejected.has(i))];
    // The second request starts mid-chunk: its index 0 is offset 5, and 12 + 1 + 2 rows later, offset 39.
    const requests = [[{ chunk: a, from: 0, to: 5 }], [{ chunk: a, from: 5, to: 10 }, ...whole(b)]];
    const { results, letters } = await bench.write(requests);
    const named = (r: AppendResult | undefined) =>
      r?.unwritten
        .filter((o) => o.outcome !== 'retry')
        .map((o) => o.index)
        .sort((x, y) => x - y);
    expect(named(results[0])).toEqual([4]);
    expect(named(results[1])).toEqual([12, 13, 34]);
    expect(letters).toEqual([...rejected].sort((x, y) => x - y));
    const written = once(0, 0, 40).filter(({ o }) => !rejected.has(o));
    expect(await bench.rows()).toEqual(written);
  });

  it('a request whose every row is rejected: each named, none written', async () => {
    await bench.start(dataset(), { strict: true });
    const { letters } = await bench.write([whole(bench.chunk(0, 0, 5, () => true))]);
    expect(letters).toEqual([0, 1, 2, 3, 4]);
    expect(await bench.rows()).toEqual([]);
  });

  it('a table that does not exist is a configuration error: a `stop` fault', async () => {
    await bench.start(dataset(), { exists: false });
    const append = bench.writer.append(whole(bench.chunk(0, 0, 3)));
    // At-least-once writers reject; a writer that retries on its own reports it and holds the rows.
    const fault = await Promise.race([
      append.then(
        () => null,
        (error: unknown) => error,
      ),
      eventually(() => Promise.resolve(bench.faults[0]), Boolean, 20_000),
    ]);
    expect(fault).toBeInstanceOf(WriteFault);
    expect((fault as WriteFault).action).toBe('stop');
  });

  it('after close: close resolves, and an append then rejects, or what it resolves with is true', async () => {
    await bench.start(dataset());
    await bench.write([whole(bench.chunk(0, 0, 10))]);
    await bench.writer.close();
    const after = await Promise.race([
      bench.writer.append(whole(bench.chunk(0, 10, 10))).then(
        (result) => result.unwritten.map((o) => 10 + o.index),
        () => null,
      ),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no answer within 10 s')), 10_000)),
    ]);
    // Rejected: nothing of it written. Resolved: every row it does not name is written.
    const unwritten = after ?? once(0, 10, 20).map(({ o }) => o);
    expect(await bench.rows()).toEqual(once(0, 0, 20).filter(({ o }) => !unwritten.includes(o)));
  });
}
