import { status } from '@grpc/grpc-js';
import { GRPC } from '../storage-write-faults.js';
import { WriteFault, type WriterAssignment } from '../../writer.contract.js';
import { rowOf } from '../../rows.js';
import { apply, chunk, ExactlyOnceTestBed, whole } from './exactly-once-test-bed.js';
import { decodeStreamRecord, encodeStreamRecord } from './stream-record.js';

// A partition's lane, through the writer, against the test bed's stand-in of COMMITTED streams: in
// order and never twice through lost answers, refused rows, a lost stream and a fencing next owner.

describe('PartitionLane (through ExactlyOnceWriter) against a stand-in of COMMITTED streams', () => {
  const bed = new ExactlyOnceTestBed();
  beforeEach(() => bed.start());
  afterEach(() => bed.stop());

  it('an answer lost after the rows were written: sent again, refused as ALREADY_EXISTS, counted written; nothing twice, order kept', async () => {
    bed.assign({ offset: 0n, metadata: null });
    let dropped = false;
    bed.streams.fault = (request, call, stream) => {
      if (dropped || Number(request.offset?.value) !== 2) return false;
      // Written, then the connection breaks before the answer leaves.
      dropped = true;
      apply(stream, request);
      call.emit('error', { code: status.UNAVAILABLE, details: 'connection reset' });
      return true;
    };
    const appends = [0, 2, 4, 6].map((first) => bed.writer.append(whole(chunk(first, 2))));
    await Promise.all(appends);
    expect(bed.onlyStream().rows).toEqual(['p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6', 'p7']);
    // The append at 2 went twice: the second time BigQuery refused it as already written.
    expect(bed.streams.requests.filter((r) => r.offset?.value === '2').length).toBeGreaterThanOrEqual(2);
  });

  it('a row BigQuery rejects while later appends are in flight: dead-lettered, then counted in a record, before anything after it is appended; the rest once and in order', async () => {
    const letters: string[] = [];
    const events: string[] = [];
    bed.writer.attach({
      failed: () => undefined,
      succeeded: () => undefined,
      refused: (rows) => {
        expect(rows.map(({ reason }) => reason)).toEqual(rows.map(() => 'bigquery_invalid'));
        letters.push(...rows.map(({ chunk, row }) => rowOf(chunk, row).toString()));
        events.push(`letter with ${bed.onlyStream().rows.length} rows in the stream`);
        return Promise.resolve();
      },
    });
    bed.assign({ offset: 0n, metadata: null });
    bed.streams.fault = (request, call) => {
      const rows = (request.protoRows?.rows?.serializedRows ?? []).map(String);
      const bad = rows.indexOf('p3');
      if (bad < 0) return false;
      call.write({
        error: { code: GRPC.INVALID_ARGUMENT, message: 'Errors found while processing rows.' },
        rowErrors: [{ index: bad, code: 1, message: 'Missing required field: user_id.' }],
      });
      return true;
    };
    const results = await Promise.all([0, 3, 6].map((first) => bed.writer.append(whole(chunk(first, 3)))));
    expect(results[1]!.unwritten).toEqual([{ index: 0, outcome: 'settled' }]);
    expect(results[0]!.unwritten).toEqual([]);
    expect(results[2]!.unwritten).toEqual([]);
    expect(letters).toEqual(['p3']);
    expect(bed.onlyStream().rows).toEqual(['p0', 'p1', 'p2', 'p4', 'p5', 'p6', 'p7', 'p8']);
    const stream = [...bed.streams.streams.keys()][0]!;
    // The letter, then a record counting it, while the stream held only what came before p3.
    expect(events).toEqual(['letter with 3 rows in the stream']);
    // (The first record is the stream's own, before its first append.)
    expect(bed.records.slice(1)).toEqual([
      { partition: 0, offset: 0n, metadata: encodeStreamRecord({ stream, rows: 0, carried: 1 }), rowsThen: 3 },
    ]);
    // Commit points count the rows in the stream, and the refused play after them as handled.
    expect(decodeStreamRecord(bed.writer.recordAt(0, 3n))).toEqual({ stream, rows: 3, carried: 1 });
    expect(decodeStreamRecord(bed.writer.recordAt(0, 6n))).toEqual({ stream, rows: 5, carried: 0 });
  });

  it('a refused row in the middle of the only append: the rows before it, its letter, then the rows after it', async () => {
    bed.assign({ offset: 0n, metadata: null });
    bed.streams.fault = (request, call) => {
      const bad = (request.protoRows?.rows?.serializedRows ?? []).map(String).indexOf('p2');
      if (bad < 0) return false;
      call.write({
        error: { code: GRPC.INVALID_ARGUMENT, message: 'Errors found while processing rows.' },
        rowErrors: [{ index: bad, code: 1, message: 'Missing required field: event_id.' }],
      });
      return true;
    };
    const result = await bed.writer.append(whole(chunk(0, 5)));
    expect(result.unwritten).toEqual([{ index: 2, outcome: 'settled' }]);
    expect(bed.onlyStream().rows).toEqual(['p0', 'p1', 'p3', 'p4']);
    expect(bed.streams.requests.map((r) => r.offset?.value)).toEqual(['0', '0', '2']);
  });

  it('an append too large: its halves in its place, in order; a row too large even alone dead-lettered as bigquery_too_large', async () => {
    const refused: string[] = [];
    bed.writer.attach({
      failed: () => undefined,
      succeeded: () => undefined,
      refused: (rows) => {
        refused.push(...rows.map(({ chunk, row, reason }) => `${rowOf(chunk, row).toString()} ${reason}`));
        return Promise.resolve();
      },
    });
    bed.assign({ offset: 0n, metadata: null });
    // p2 is larger than any request may be: every append holding it is refused for its size.
    bed.streams.fault = (request, call) => {
      if (!(request.protoRows?.rows?.serializedRows ?? []).map(String).includes('p2')) return false;
      call.write({
        error: { code: GRPC.INVALID_ARGUMENT, message: 'AppendRows request too large: 12582912 limit 10485760' },
      });
      return true;
    };
    const result = await bed.writer.append(whole(chunk(0, 4)));
    expect(refused).toEqual(['p2 bigquery_too_large']);
    expect(result.unwritten).toEqual([{ index: 2, outcome: 'settled' }]);
    expect(bed.onlyStream().rows).toEqual(['p0', 'p1', 'p3']);
  });

  it('a refused row: no commit carries a record while the count of it is being recorded (the commit point is already past it)', async () => {
    let landRefusal!: () => void;
    const landed: string[] = [];
    const assignment: WriterAssignment = {
      partitions: [0],
      tableReady: () => Promise.resolve(),
      starts: () => Promise.resolve(new Map([[0, { offset: 0n, metadata: null }]])),
      requestCommit: () => {
        const commits = bed.writer.preCommit(new Map());
        for (const { offset, metadata } of commits) landed.push(`${offset} ${metadata}`);
        // The stream's own record lands at once; the refusal's when the test says.
        if (landed.length === 1) bed.writer.committed(commits);
        else landRefusal = () => bed.writer.committed(commits);
      },
    };
    bed.writer.open(assignment);
    bed.streams.fault = (request, call) => {
      const bad = (request.protoRows?.rows?.serializedRows ?? []).map(String).indexOf('p3');
      if (bad < 0) return false;
      call.write({
        error: { code: GRPC.INVALID_ARGUMENT, message: 'Errors found while processing rows.' },
        rowErrors: [{ index: bad, code: 1, message: 'Missing required field: user_id.' }],
      });
      return true;
    };
    const appends = [0, 3, 6].map((first) => bed.writer.append(whole(chunk(first, 3))));
    await vi.waitFor(() => expect(landed).toHaveLength(2), { timeout: 5_000 });
    // The letter is produced, so the consumer's commit point may be at 6 or 9 already: a record taken
    // now would count p3 as a play after the commit point, and the next owner would skip p6 too.
    expect(bed.writer.recordAt(0, 6n)).toBeUndefined();
    expect(bed.writer.recordAt(0, 9n)).toBeUndefined();
    // Asked what to commit, the writer offers its own record only, at its own offset.
    expect(bed.writer.preCommit(new Map([[0, 9n]])).map(({ offset, metadata }) => `${offset} ${metadata}`)).toEqual([
      landed[1],
    ]);
    landRefusal();
    await Promise.all(appends);
    const stream = [...bed.streams.streams.keys()][0]!;
    expect(decodeStreamRecord(bed.writer.recordAt(0, 6n))).toEqual({ stream, rows: 5, carried: 0 });
    expect(decodeStreamRecord(bed.writer.recordAt(0, 9n))).toEqual({ stream, rows: 8, carried: 0 });
  });

  it('its stream lost (expired): the rest goes to a new stream, recorded before its first append with what the lost one held counted as carried', async () => {
    bed.assign({ offset: 0n, metadata: null });
    await bed.writer.append(whole(chunk(0, 3)));
    const lost = [...bed.streams.streams.keys()][0]!;
    bed.streams.streams.delete(lost);
    bed.streams.fault = (_request, call, stream) => {
      if (stream !== undefined) return false;
      call.write({ error: { code: GRPC.NOT_FOUND, message: `Requested stream ${lost} not found` } });
      return true;
    };
    await bed.writer.append(whole(chunk(3, 2)));
    const fresh = [...bed.streams.streams.keys()].find((name) => name !== lost)!;
    // Recorded while the new stream was still empty, at the oldest commit point the lane keeps: the
    // 3 plays the lost stream holds are carried.
    expect(bed.records.at(-1)).toEqual({
      partition: 0,
      offset: 0n,
      metadata: encodeStreamRecord({ stream: fresh, rows: 0, carried: 3 }),
      rowsThen: 0,
    });
    expect(bed.streams.streams.get(fresh)!.rows).toEqual(['p3', 'p4']);
    expect(decodeStreamRecord(bed.writer.recordAt(0, 3n))).toEqual({ stream: fresh, rows: 0, carried: 0 });
    expect(decodeStreamRecord(bed.writer.recordAt(0, 5n))).toEqual({ stream: fresh, rows: 2, carried: 0 });
    // Every append was answered: nothing can be in the lost stream twice.
    expect(bed.fallbacks).toBe(0);
  });

  it('its stream finalized by the next owner: stops, its rows abandoned (never committed), no metadata any more', async () => {
    bed.assign({ offset: 0n, metadata: null });
    await bed.writer.append(whole(chunk(0, 2)));
    bed.onlyStream().finalized = true;
    await expect(bed.writer.append(whole(chunk(2, 2)))).rejects.toMatchObject({ action: 'abandon' });
    await expect(bed.writer.append(whole(chunk(4, 2)))).rejects.toBeInstanceOf(WriteFault);
    expect(bed.writer.recordAt(0, 2n)).toBeUndefined();
    expect(bed.onlyStream().rows).toEqual(['p0', 'p1']);
  });
});
