import { chunk, ExactlyOnceTestBed, whole } from './exactly-once-test-bed.js';
import { decodeStreamRecord, encodeStreamRecord } from './stream-record.js';

// The writer as a whole, against the test bed's stand-in of COMMITTED streams: a partition's rows
// reach its stream in order and are recorded per commit point, and a new assignment starts afresh.

describe('ExactlyOnceWriter against a stand-in of COMMITTED streams', () => {
  const bed = new ExactlyOnceTestBed();
  beforeEach(() => bed.start());
  afterEach(() => bed.stop());

  it('bed.records its new stream before the first append, appends in order at stream offsets, and bed.records rows per commit point', async () => {
    bed.assign({ offset: 0n, metadata: null });
    const results = await Promise.all([bed.writer.append(whole(chunk(0, 3))), bed.writer.append(whole(chunk(3, 2)))]);
    expect(results).toEqual([{ unwritten: [] }, { unwritten: [] }]);
    const stream = [...bed.streams.streams.keys()][0]!;
    expect(bed.records).toEqual([
      { partition: 0, offset: 0n, metadata: encodeStreamRecord({ stream, rows: 0, carried: 0 }) },
    ]);
    expect(bed.onlyStream().rows).toEqual(['p0', 'p1', 'p2', 'p3', 'p4']);
    expect(bed.streams.requests.map((r) => r.offset?.value)).toEqual(['0', '3']);
    expect(decodeStreamRecord(bed.writer.recordAt(0, 3n))).toEqual({ stream, rows: 3, carried: 0 });
    expect(decodeStreamRecord(bed.writer.recordAt(0, 5n))).toEqual({ stream, rows: 5, carried: 0 });
  });

  it('a new assignment ends the commits of its own the writer asked for in the one before: none of them is handed out again', async () => {
    const asked: string[] = [];
    const assignment = {
      partitions: [0],
      tableReady: () => Promise.resolve(),
      starts: () => Promise.resolve(new Map([[0, { offset: 0n, metadata: null }]])),
      // The consumer never gets to commit it (e.g. before the run's first batch).
      requestCommit: () => void asked.push('asked'),
    };
    bed.writer.open(assignment);
    await vi.waitFor(() => expect(asked).toHaveLength(1), { timeout: 5_000 });
    expect(bed.writer.preCommit(new Map())).toHaveLength(1);
    bed.assign({ offset: 0n, metadata: null });
    // Only the new assignment's own record goes out (the test bed commits it at once).
    await vi.waitFor(() => expect(bed.records).toHaveLength(1), { timeout: 5_000 });
    expect(bed.writer.preCommit(new Map())).toEqual([]);
  });

  it('revoking a partition closes its lane: its requests are abandoned, its commit of its own never lands', async () => {
    const asked: string[] = [];
    bed.writer.open({
      partitions: [0],
      tableReady: () => Promise.resolve(),
      starts: () => Promise.resolve(new Map([[0, { offset: 0n, metadata: null }]])),
      requestCommit: () => void asked.push('asked'),
    });
    const append = bed.writer.append(whole(chunk(0, 2)));
    await vi.waitFor(() => expect(asked).toHaveLength(1), { timeout: 5_000 });
    bed.writer.revoke([0]);
    await expect(append).rejects.toMatchObject({ action: 'abandon' });
    expect(bed.writer.preCommit(new Map([[0, 2n]]))).toEqual([]);
  });

  it("a new assignment reconciles its partition afresh (a request of the one before is abandoned by the sink, see BatchingPlaySink's spec)", async () => {
    bed.assign({ offset: 0n, metadata: null });
    bed.assign({ offset: 0n, metadata: null });
    await bed.writer.append(whole(chunk(0, 2)));
    expect(bed.onlyStream().rows).toEqual(['p0', 'p1']);
  });
});
