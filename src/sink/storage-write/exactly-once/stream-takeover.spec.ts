import { chunk, ExactlyOnceTestBed, TABLE, whole } from './exactly-once-test-bed.js';
import { decodeStreamRecord, encodeStreamRecord } from './stream-record.js';

// Taking a partition over, through the writer, against the test bed's stand-in of COMMITTED streams:
// the recorded stream finalized and counted, or gone (a fallback), and the new stream recorded.

describe('StreamTakeover (through ExactlyOnceWriter) against a stand-in of COMMITTED streams', () => {
  const bed = new ExactlyOnceTestBed();
  beforeEach(() => bed.start());
  afterEach(() => bed.stop());

  it('once its stream opens after a failure (the table not yet made), says writes work again, with no append needed', async () => {
    bed.streams.missingTable = 1;
    const said: string[] = [];
    bed.writer.attach({
      failed: (fault) => said.push(`failed: ${fault.action}`),
      succeeded: () => said.push('succeeded'),
      refused: () => Promise.resolve(),
    });
    bed.assign({ offset: 0n, metadata: null });
    await vi.waitFor(() => expect(bed.records).toHaveLength(1), { timeout: 5_000 });
    await vi.waitFor(() => expect(said).toEqual(['failed: stop', 'succeeded']), { timeout: 5_000 });
    expect(bed.streams.requests).toEqual([]);
  });

  it('takes over from a recorded stream: finalizes it and skips the plays it holds past the commit point', async () => {
    // An earlier owner committed offset 10 with 4 rows of its stream before it, then wrote 3 more rows
    // (offsets 10, 11, 12) and died; 2 more plays before it were carried from a stream before that.
    const old = `${TABLE}/bed.streams/old`;
    bed.streams.streams.set(old, { rows: ['a', 'b', 'c', 'd', 'p12', 'p13', 'p14'], finalized: false });
    bed.assign({ offset: 10n, metadata: encodeStreamRecord({ stream: old, rows: 4, carried: 2 }) });
    const results = await Promise.all([bed.writer.append(whole(chunk(10, 4))), bed.writer.append(whole(chunk(14, 3)))]);
    expect(results.map((r) => r.unwritten)).toEqual([[], []]);
    expect(bed.streams.streams.get(old)!.finalized).toBe(true);
    const fresh = [...bed.streams.streams.keys()].find((name) => name !== old)!;
    // 2 carried + 3 in the old stream past its 4 recorded rows: the first 5 plays from offset 10 are written.
    expect(bed.records.at(-1)).toEqual({
      partition: 0,
      offset: 10n,
      metadata: encodeStreamRecord({ stream: fresh, rows: 0, carried: 5 }),
    });
    expect(bed.streams.streams.get(fresh)!.rows).toEqual(['p15', 'p16']);
    // The whole first chunk was skipped: the commit after it still carries one skipped play.
    expect(decodeStreamRecord(bed.writer.recordAt(0, 14n))).toEqual({ stream: fresh, rows: 0, carried: 1 });
    expect(decodeStreamRecord(bed.writer.recordAt(0, 17n))).toEqual({ stream: fresh, rows: 2, carried: 0 });
    expect(bed.fallbacks).toBe(0);
  });

  it('a recorded stream that no longer exists: falls back (counted), skipping only what was carried', async () => {
    bed.assign({
      offset: 5n,
      metadata: encodeStreamRecord({ stream: `${TABLE}/bed.streams/gone`, rows: 1, carried: 1 }),
    });
    await bed.writer.append(whole(chunk(5, 3)));
    expect(bed.fallbacks).toBe(1);
    expect(bed.onlyStream().rows).toEqual(['p6', 'p7']);
  });
});
