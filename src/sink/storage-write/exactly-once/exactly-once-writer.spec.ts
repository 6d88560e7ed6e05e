import { chunk, ExactlyOnceTestBed, whole } from './exactly-once-test-bed.js';
import { decodeStreamRecord, encodeStreamRecord } from './stream-record.js';

// The writer as a whole, against the test bed's stand-in of COMMITTED streams: a partition's rows
// reach its stream in order and are recorded per commit point, and chunks of an earlier assignment
// are refused.

describe('ExactlyOnceWriter against a stand-in of COMMITTED streams', () => {
  const bed = new ExactlyOnceTestBed();
  beforeEach(() => bed.start());
  afterEach(() => bed.stop());

  it('bed.records its new stream before the first append, appends in order at stream offsets, and bed.records rows per commit point', async () => {
    bed.assign({ offset: 0n, metadata: null });
    const results = await Promise.all([bed.writer.append(whole(chunk(0, 3))), bed.writer.append(whole(chunk(3, 2)))]);
    expect(results).toEqual([{ rowFaults: [] }, { rowFaults: [] }]);
    const stream = [...bed.streams.streams.keys()][0]!;
    expect(bed.records).toEqual([
      { partition: 0, offset: 0n, metadata: encodeStreamRecord({ stream, rows: 0, carried: 0 }) },
    ]);
    expect(bed.onlyStream().rows).toEqual(['p0', 'p1', 'p2', 'p3', 'p4']);
    expect(bed.streams.requests.map((r) => r.offset?.value)).toEqual(['0', '3']);
    expect(decodeStreamRecord(bed.writer.commitMetadata(0, 3n))).toEqual({ stream, rows: 3, carried: 0 });
    expect(decodeStreamRecord(bed.writer.commitMetadata(0, 5n))).toEqual({ stream, rows: 5, carried: 0 });
  });

  it("a chunk of an earlier assignment is refused ('abandon'): its partition is reconciled afresh", async () => {
    bed.assign({ offset: 0n, metadata: null }, 1);
    bed.assign({ offset: 0n, metadata: null }, 2);
    await expect(bed.writer.append(whole(chunk(0, 2, 1)))).rejects.toMatchObject({ action: 'abandon' });
    await bed.writer.append(whole(chunk(0, 2, 2)));
    expect(bed.onlyStream().rows).toEqual(['p0', 'p1']);
  });
});
