import { WriteFault } from '../writer.contract.js';
import { chunk, FakeWriter, sinkWith, soon } from './batching-play-sink.test-bed.js';

// The sink's handling of each class of the faults table: written, refused (dead-lettered), retry, split, stop.

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
});
