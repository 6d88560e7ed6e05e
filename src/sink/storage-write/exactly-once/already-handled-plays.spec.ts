import { chunk, ExactlyOnceTestBed, whole } from './exactly-once-test-bed.js';
import { decodeStreamRecord } from './stream-record.js';

// Plays earlier owners handled, passed over: through the writer, against the test bed's stand-in of
// COMMITTED streams (plays skipped per a recorded stream: stream-takeover.spec.ts).

describe('AlreadyHandledPlays (through ExactlyOnceWriter) against a stand-in of COMMITTED streams', () => {
  const bed = new ExactlyOnceTestBed();
  beforeEach(() => bed.start());
  afterEach(() => bed.stop());

  it('rows of messages before its start (kafkajs fetched from an older committed offset than the one read) are done without being appended', async () => {
    bed.assign({ offset: 10n, metadata: null });
    const results = await Promise.all([
      bed.writer.append(whole(chunk(5, 3))), // 5-7: all before the start
      bed.writer.append(whole(chunk(8, 4))), // 8-11: 8 and 9 before it
      bed.writer.append(whole(chunk(12, 2))),
    ]);
    expect(results.map((r) => r.unwritten)).toEqual([[], [], []]);
    expect(bed.onlyStream().rows).toEqual(['p10', 'p11', 'p12', 'p13']);
    const stream = [...bed.streams.streams.keys()][0]!;
    expect(bed.writer.recordAt(0, 8n)).toBeUndefined();
    expect(decodeStreamRecord(bed.writer.recordAt(0, 12n))).toEqual({ stream, rows: 2, carried: 0 });
  });
});
