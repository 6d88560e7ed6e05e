import { credentials, Server, status, type ServerDuplexStream } from '@grpc/grpc-js';
import { PassThroughClient } from 'google-auth-library';
import type { Counter } from '../../../metrics/metrics.js';
import { GRPC } from '../../faults.js';
import type { PartitionStart, RowChunk } from '../../play-sink.js';
import { WriteFault, type WriterAssignment } from '../../play-writer.js';
import { BigQueryWriteClient } from '../client-parts.js';
import { rowOf } from '../../rows.js';
import { ExactlyOnceWriter } from './exactly-once-writer.js';
import { decodeStreamRecord, encodeStreamRecord } from './stream-record.js';
import { listenLocally, writeApiService } from '../write-api-service.js';

// The exactly-once writer's own logic (ordering, resending, reconciling) against a stand-in of the
// Write API that keeps COMMITTED streams with offsets as NOTES §5 describes BigQuery's, and injects the
// faults no emulator has: an answer lost after the rows were written, a dropped connection. The
// emulator-backed proof (kills, zombies, outages) is test/exactly-once.int-spec.ts.

interface Request {
  writeStream?: string;
  offset?: { value: string } | null;
  protoRows?: { rows?: { serializedRows?: Buffer[] } };
}
type Call = ServerDuplexStream<Request, unknown>;
interface Stream {
  rows: string[];
  finalized: boolean;
}
/** Runs before a request is applied: return true when the test handled it (answered or not). */
type Fault = (request: Request, call: Call, stream: Stream, index: number) => boolean;

const TABLE = 'projects/p/datasets/d/tables/t';

class CommittedStreams {
  readonly streams = new Map<string, Stream>();
  readonly requests: Request[] = [];
  fault: Fault = () => false;
  /** CreateWriteStream answers NOT_FOUND (a table not yet made) this many times first. */
  missingTable = 0;
  private created = 0;
  private readonly server = new Server();

  async start(): Promise<string> {
    this.server.addService(writeApiService(), {
      CreateWriteStream: (
        _: unknown,
        callback: (error: { code: number; details: string } | null, stream?: unknown) => void,
      ) => {
        if (this.missingTable > 0 && this.missingTable--) {
          return callback({ code: status.NOT_FOUND, details: 'Not found: Table p:d.t' });
        }
        const name = `${TABLE}/streams/s${++this.created}`;
        this.streams.set(name, { rows: [], finalized: false });
        callback(null, { name, type: 'COMMITTED' });
      },
      FinalizeWriteStream: (
        call: { request: { name: string } },
        callback: (error: { code: number; details: string } | null, answer?: unknown) => void,
      ) => {
        const stream = this.streams.get(call.request.name);
        if (stream === undefined) return callback({ code: status.NOT_FOUND, details: 'stream not found' });
        stream.finalized = true;
        callback(null, { rowCount: String(stream.rows.length) });
      },
      AppendRows: (call: Call) => {
        let name = '';
        call.on('data', (request: Request) => {
          name = request.writeStream || name;
          this.requests.push({ ...request, writeStream: name });
          const stream = this.streams.get(name)!;
          if (this.fault(request, call, stream, this.requests.length - 1)) return;
          call.write(apply(stream, request));
        });
        call.on('end', () => call.end());
        call.on('error', () => undefined);
      },
    });
    return listenLocally(this.server);
  }

  stop(): void {
    this.server.forceShutdown();
  }
}

/** What BigQuery does with an append at an offset to a COMMITTED stream. */
function apply(stream: Stream, request: Request): unknown {
  const rows = (request.protoRows?.rows?.serializedRows ?? []).map((row) => row.toString());
  const offset = Number(request.offset?.value);
  if (stream.finalized) return { error: { code: GRPC.INVALID_ARGUMENT, message: 'Stream is finalized' } };
  if (offset < stream.rows.length) return { error: { code: GRPC.ALREADY_EXISTS, message: `Offset ${offset} exists` } };
  if (offset > stream.rows.length) return { error: { code: GRPC.OUT_OF_RANGE, message: `Offset ${offset} beyond` } };
  stream.rows.push(...rows);
  return { appendResult: { offset: { value: String(offset) } } };
}

/** A chunk of rows named `p<offset>`, one per message from `first` (a batch with no bad messages). */
function chunk(first: number, count: number, assignment = 1): RowChunk {
  const names = Array.from({ length: count }, (_, i) => `p${first + i}`);
  const ends = new Int32Array(count);
  let at = -1;
  names.forEach((name, i) => (ends[i] = at += name.length + 1));
  return {
    rows: Buffer.from(names.join(',')),
    ends,
    source: (row) => ({ offset: String(first + row) }) as never,
    partition: 0,
    lastOffset: BigInt(first + count - 1),
    assignment,
    done: () => undefined,
    lettered: () => undefined,
    dropped: () => undefined,
  };
}
const whole = (c: RowChunk) => [{ chunk: c, from: 0, to: c.ends.length }];

describe('ExactlyOnceWriter against a stand-in of COMMITTED streams', () => {
  let streams: CommittedStreams;
  let client: InstanceType<typeof BigQueryWriteClient>;
  let writer: ExactlyOnceWriter;
  let fallbacks: number;
  let records: { partition: number; offset: bigint; metadata: string; rowsThen?: number }[];

  function assign(start: PartitionStart, id = 1): WriterAssignment {
    const assignment: WriterAssignment = {
      id,
      partitions: [0],
      tableReady: () => Promise.resolve(),
      starts: () => Promise.resolve(new Map([[0, start]])),
      record: (partition, offset, metadata) => {
        const rowsThen = [...streams.streams.values()].at(-1)?.rows.length;
        records.push({ partition, offset, metadata, ...(records.length > 0 && { rowsThen }) });
        return Promise.resolve();
      },
    };
    writer.open(assignment);
    return assignment;
  }
  const onlyStream = () => [...streams.streams.values()].at(-1)!;

  beforeEach(async () => {
    streams = new CommittedStreams();
    const [host, port] = (await streams.start()).split(':');
    client = new BigQueryWriteClient({
      apiEndpoint: host,
      port: Number(port),
      sslCreds: credentials.createInsecure(),
      authClient: new PassThroughClient() as never,
    });
    fallbacks = 0;
    records = [];
    writer = new ExactlyOnceWriter(client, { table: TABLE, retryMaxDelayMs: 200 }, {
      inc: () => fallbacks++,
    } as unknown as Counter);
  });
  afterEach(async () => {
    await writer.close();
    streams.stop();
  });

  it('records its new stream before the first append, appends in order at stream offsets, and records rows per commit point', async () => {
    assign({ offset: 0n, metadata: null });
    const results = await Promise.all([writer.append(whole(chunk(0, 3))), writer.append(whole(chunk(3, 2)))]);
    expect(results).toEqual([{ rowFaults: [] }, { rowFaults: [] }]);
    const stream = [...streams.streams.keys()][0]!;
    expect(records).toEqual([
      { partition: 0, offset: 0n, metadata: encodeStreamRecord({ stream, rows: 0, carried: 0 }) },
    ]);
    expect(onlyStream().rows).toEqual(['p0', 'p1', 'p2', 'p3', 'p4']);
    expect(streams.requests.map((r) => r.offset?.value)).toEqual(['0', '3']);
    expect(decodeStreamRecord(writer.commitMetadata(0, 3n))).toEqual({ stream, rows: 3, carried: 0 });
    expect(decodeStreamRecord(writer.commitMetadata(0, 5n))).toEqual({ stream, rows: 5, carried: 0 });
  });

  it('keeps a checkpoint per chunk written past the commit point, no more: bounding what a partition holds uncommitted (INGEST_PARTITION_MAX_UNCOMMITTED) bounds them', async () => {
    assign({ offset: 0n, metadata: null });
    const checkpoints = () =>
      (writer as unknown as { lanes: Map<number, { checkpoints: unknown[] }> }).lanes.get(0)!.checkpoints.length;
    // A commit point stuck at 0 (a dead letter of offset 0 not yet written): 50 chunks written after it.
    for (let i = 0; i < 50; i++) await writer.append(whole(chunk(1 + 10 * i, 10)));
    expect(checkpoints()).toBe(1 + 50);
    // The commit point moves to the end of the 20th chunk: the checkpoints before it go.
    expect(writer.commitMetadata(0, 201n)).toBeDefined();
    expect(checkpoints()).toBe(31);
  });

  it('once its stream opens after a failure (the table not yet made), says writes work again, with no append needed', async () => {
    streams.missingTable = 1;
    const said: string[] = [];
    writer.attach({
      failed: (fault) => said.push(`failed: ${fault.action}`),
      succeeded: () => said.push('succeeded'),
      deadLetter: () => Promise.resolve(),
    });
    assign({ offset: 0n, metadata: null });
    await vi.waitFor(() => expect(records).toHaveLength(1), { timeout: 5_000 });
    await vi.waitFor(() => expect(said).toEqual(['failed: stop', 'succeeded']), { timeout: 5_000 });
    expect(streams.requests).toEqual([]);
  });

  it('an answer lost after the rows were written: sent again, refused as ALREADY_EXISTS, counted written; nothing twice, order kept', async () => {
    assign({ offset: 0n, metadata: null });
    let dropped = false;
    streams.fault = (request, call, stream) => {
      if (dropped || Number(request.offset?.value) !== 2) return false;
      // Written, then the connection breaks before the answer leaves.
      dropped = true;
      apply(stream, request);
      call.emit('error', { code: status.UNAVAILABLE, details: 'connection reset' });
      return true;
    };
    const appends = [0, 2, 4, 6].map((first) => writer.append(whole(chunk(first, 2))));
    await Promise.all(appends);
    expect(onlyStream().rows).toEqual(['p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6', 'p7']);
    // The append at 2 went twice: the second time BigQuery refused it as already written.
    expect(streams.requests.filter((r) => r.offset?.value === '2').length).toBeGreaterThanOrEqual(2);
  });

  it('a row BigQuery rejects while later appends are in flight: dead-lettered, then counted in a record, before anything after it is appended; the rest once and in order', async () => {
    const letters: string[] = [];
    const events: string[] = [];
    writer.attach({
      failed: () => undefined,
      succeeded: () => undefined,
      deadLetter: (rows) => {
        letters.push(...rows.map(({ chunk, row }) => rowOf(chunk, row).toString()));
        events.push(`letter with ${onlyStream().rows.length} rows in the stream`);
        return Promise.resolve();
      },
    });
    assign({ offset: 0n, metadata: null });
    streams.fault = (request, call) => {
      const rows = (request.protoRows?.rows?.serializedRows ?? []).map(String);
      const bad = rows.indexOf('p3');
      if (bad < 0) return false;
      call.write({
        error: { code: GRPC.INVALID_ARGUMENT, message: 'Errors found while processing rows.' },
        rowErrors: [{ index: bad, code: 1, message: 'Missing required field: user_id.' }],
      });
      return true;
    };
    const results = await Promise.all([0, 3, 6].map((first) => writer.append(whole(chunk(first, 3)))));
    expect(results[1]!.rowFaults).toEqual([expect.objectContaining({ index: 0, action: 'dead-lettered' })]);
    expect(results[0]!.rowFaults).toEqual([]);
    expect(results[2]!.rowFaults).toEqual([]);
    expect(letters).toEqual(['p3']);
    expect(onlyStream().rows).toEqual(['p0', 'p1', 'p2', 'p4', 'p5', 'p6', 'p7', 'p8']);
    const stream = [...streams.streams.keys()][0]!;
    // The letter, then a record counting it, while the stream held only what came before p3.
    expect(events).toEqual(['letter with 3 rows in the stream']);
    // (The first record is the stream's own, before its first append.)
    expect(records.slice(1)).toEqual([
      { partition: 0, offset: 0n, metadata: encodeStreamRecord({ stream, rows: 0, carried: 1 }), rowsThen: 3 },
    ]);
    // Commit points count the rows in the stream, and the refused play after them as handled.
    expect(decodeStreamRecord(writer.commitMetadata(0, 3n))).toEqual({ stream, rows: 3, carried: 1 });
    expect(decodeStreamRecord(writer.commitMetadata(0, 6n))).toEqual({ stream, rows: 5, carried: 0 });
  });

  it('a refused row in the middle of the only append: the rows before it, its letter, then the rows after it', async () => {
    assign({ offset: 0n, metadata: null });
    streams.fault = (request, call) => {
      const bad = (request.protoRows?.rows?.serializedRows ?? []).map(String).indexOf('p2');
      if (bad < 0) return false;
      call.write({
        error: { code: GRPC.INVALID_ARGUMENT, message: 'Errors found while processing rows.' },
        rowErrors: [{ index: bad, code: 1, message: 'Missing required field: event_id.' }],
      });
      return true;
    };
    const result = await writer.append(whole(chunk(0, 5)));
    expect(result.rowFaults).toEqual([expect.objectContaining({ index: 2, action: 'dead-lettered' })]);
    expect(onlyStream().rows).toEqual(['p0', 'p1', 'p3', 'p4']);
    expect(streams.requests.map((r) => r.offset?.value)).toEqual(['0', '0', '2']);
  });

  it('a refused row: no commit carries a record while the count of it is being recorded (the commit point is already past it)', async () => {
    let landRefusal!: () => void;
    const landed: string[] = [];
    const assignment: WriterAssignment = {
      id: 1,
      partitions: [0],
      tableReady: () => Promise.resolve(),
      starts: () => Promise.resolve(new Map([[0, { offset: 0n, metadata: null }]])),
      record: (_partition, offset, metadata) => {
        landed.push(`${offset} ${metadata}`);
        // The stream's own record lands at once; the refusal's when the test says.
        return landed.length === 1 ? Promise.resolve() : new Promise<void>((resolve) => (landRefusal = resolve));
      },
    };
    writer.open(assignment);
    streams.fault = (request, call) => {
      const bad = (request.protoRows?.rows?.serializedRows ?? []).map(String).indexOf('p3');
      if (bad < 0) return false;
      call.write({
        error: { code: GRPC.INVALID_ARGUMENT, message: 'Errors found while processing rows.' },
        rowErrors: [{ index: bad, code: 1, message: 'Missing required field: user_id.' }],
      });
      return true;
    };
    const appends = [0, 3, 6].map((first) => writer.append(whole(chunk(first, 3))));
    await vi.waitFor(() => expect(landed).toHaveLength(2), { timeout: 5_000 });
    // The letter is produced, so the consumer's commit point may be at 6 or 9 already: a record taken
    // now would count p3 as a play after the commit point, and the next owner would skip p6 too.
    expect(writer.commitMetadata(0, 6n)).toBeUndefined();
    expect(writer.commitMetadata(0, 9n)).toBeUndefined();
    landRefusal();
    await Promise.all(appends);
    const stream = [...streams.streams.keys()][0]!;
    expect(decodeStreamRecord(writer.commitMetadata(0, 6n))).toEqual({ stream, rows: 5, carried: 0 });
    expect(decodeStreamRecord(writer.commitMetadata(0, 9n))).toEqual({ stream, rows: 8, carried: 0 });
  });

  it('its stream lost (expired): the rest goes to a new stream, recorded before its first append with what the lost one held counted as carried', async () => {
    assign({ offset: 0n, metadata: null });
    await writer.append(whole(chunk(0, 3)));
    const lost = [...streams.streams.keys()][0]!;
    streams.streams.delete(lost);
    streams.fault = (_request, call, stream) => {
      if (stream !== undefined) return false;
      call.write({ error: { code: GRPC.NOT_FOUND, message: `Requested stream ${lost} not found` } });
      return true;
    };
    await writer.append(whole(chunk(3, 2)));
    const fresh = [...streams.streams.keys()].find((name) => name !== lost)!;
    // Recorded while the new stream was still empty, at the oldest commit point the lane keeps: the
    // 3 plays the lost stream holds are carried.
    expect(records.at(-1)).toEqual({
      partition: 0,
      offset: 0n,
      metadata: encodeStreamRecord({ stream: fresh, rows: 0, carried: 3 }),
      rowsThen: 0,
    });
    expect(streams.streams.get(fresh)!.rows).toEqual(['p3', 'p4']);
    expect(decodeStreamRecord(writer.commitMetadata(0, 3n))).toEqual({ stream: fresh, rows: 0, carried: 0 });
    expect(decodeStreamRecord(writer.commitMetadata(0, 5n))).toEqual({ stream: fresh, rows: 2, carried: 0 });
    // Every append was answered: nothing can be in the lost stream twice.
    expect(fallbacks).toBe(0);
  });

  it('rows of messages before its start (kafkajs fetched from an older committed offset than the one read) are done without being appended', async () => {
    assign({ offset: 10n, metadata: null });
    const results = await Promise.all([
      writer.append(whole(chunk(5, 3))), // 5-7: all before the start
      writer.append(whole(chunk(8, 4))), // 8-11: 8 and 9 before it
      writer.append(whole(chunk(12, 2))),
    ]);
    expect(results.map((r) => r.rowFaults)).toEqual([[], [], []]);
    expect(onlyStream().rows).toEqual(['p10', 'p11', 'p12', 'p13']);
    const stream = [...streams.streams.keys()][0]!;
    expect(writer.commitMetadata(0, 8n)).toBeUndefined();
    expect(decodeStreamRecord(writer.commitMetadata(0, 12n))).toEqual({ stream, rows: 2, carried: 0 });
  });

  it('takes over from a recorded stream: finalizes it and skips the plays it holds past the commit point', async () => {
    // An earlier owner committed offset 10 with 4 rows of its stream before it, then wrote 3 more rows
    // (offsets 10, 11, 12) and died; 2 more plays before it were carried from a stream before that.
    const old = `${TABLE}/streams/old`;
    streams.streams.set(old, { rows: ['a', 'b', 'c', 'd', 'p12', 'p13', 'p14'], finalized: false });
    assign({ offset: 10n, metadata: encodeStreamRecord({ stream: old, rows: 4, carried: 2 }) });
    const results = await Promise.all([writer.append(whole(chunk(10, 4))), writer.append(whole(chunk(14, 3)))]);
    expect(results.map((r) => r.rowFaults)).toEqual([[], []]);
    expect(streams.streams.get(old)!.finalized).toBe(true);
    const fresh = [...streams.streams.keys()].find((name) => name !== old)!;
    // 2 carried + 3 in the old stream past its 4 recorded rows: the first 5 plays from offset 10 are written.
    expect(records.at(-1)).toEqual({
      partition: 0,
      offset: 10n,
      metadata: encodeStreamRecord({ stream: fresh, rows: 0, carried: 5 }),
    });
    expect(streams.streams.get(fresh)!.rows).toEqual(['p15', 'p16']);
    // The whole first chunk was skipped: the commit after it still carries one skipped play.
    expect(decodeStreamRecord(writer.commitMetadata(0, 14n))).toEqual({ stream: fresh, rows: 0, carried: 1 });
    expect(decodeStreamRecord(writer.commitMetadata(0, 17n))).toEqual({ stream: fresh, rows: 2, carried: 0 });
    expect(fallbacks).toBe(0);
  });

  it('a recorded stream that no longer exists: falls back (counted), skipping only what was carried', async () => {
    assign({ offset: 5n, metadata: encodeStreamRecord({ stream: `${TABLE}/streams/gone`, rows: 1, carried: 1 }) });
    await writer.append(whole(chunk(5, 3)));
    expect(fallbacks).toBe(1);
    expect(onlyStream().rows).toEqual(['p6', 'p7']);
  });

  it('its stream finalized by the next owner: stops, its rows abandoned (never committed), no metadata any more', async () => {
    assign({ offset: 0n, metadata: null });
    await writer.append(whole(chunk(0, 2)));
    onlyStream().finalized = true;
    await expect(writer.append(whole(chunk(2, 2)))).rejects.toMatchObject({ action: 'abandon' });
    await expect(writer.append(whole(chunk(4, 2)))).rejects.toBeInstanceOf(WriteFault);
    expect(writer.commitMetadata(0, 2n)).toBeUndefined();
    expect(onlyStream().rows).toEqual(['p0', 'p1']);
  });

  it("a chunk of an earlier assignment is refused ('abandon'): its partition is reconciled afresh", async () => {
    assign({ offset: 0n, metadata: null }, 1);
    assign({ offset: 0n, metadata: null }, 2);
    await expect(writer.append(whole(chunk(0, 2, 1)))).rejects.toMatchObject({ action: 'abandon' });
    await writer.append(whole(chunk(0, 2, 2)));
    expect(onlyStream().rows).toEqual(['p0', 'p1']);
  });
});
