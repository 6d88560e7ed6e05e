import { DEAD_LETTER_HEADERS } from '../src/dead-letters/dead-letters.service.js';
import { PLAY_TABLE_SCHEMA } from '../src/sink/play-table.js';
import { badPlays, ORIGINAL_PLAY } from './support/bad-plays.js';
import { metricsOf, sample } from './support/probes.js';
import {
  bigquery,
  committedTotal,
  countRows,
  eventually,
  play,
  produce,
  queryRows,
  readTopic,
  Service,
  setUpTopics,
  sinkEnv,
  SINKS,
  useAdmin,
  type Names,
} from './support/service.js';

const admin = useAdmin();
const setUp = (partitions = 1) => setUpTopics(admin, partitions);

describe.each(SINKS)('ingest with %s (real broker, real emulator, the service as a process)', (_label, sink) => {
  const start = (names: Names, env: Record<string, string> = {}) => Service.start(names, { ...sinkEnv(sink), ...env });
  let service: Service | undefined;
  afterEach(async () => {
    await service?.stop('SIGKILL');
    service = undefined;
  });

  it('writes the original payload, produced as the original producer did, as a correctly typed row', async () => {
    const names = await setUp();
    service = await start(names);
    // The writer the service says it runs, so a variant cannot pass against another one.
    expect(sample(await metricsOf(service), 'sink_info', `api="${sink.api}",delivery="${sink.delivery}"`)).toBe(1);
    // The original producer: one JSON object, UTF-8, no key, timestamp without a zone.
    await produce(names.topic, [{ value: JSON.stringify(ORIGINAL_PLAY) }]);

    const [row] = await eventually(
      () => queryRows(names, 'SELECT * FROM $table'),
      (rows) => rows.length === 1,
      30_000,
    );
    expect(row).toMatchObject({
      user_id: 45213,
      artist: 'tony-allen',
      song_id: 3,
      song_name: 'kindness',
      event_type: 'song_completed',
      timestamp: { value: '2022-11-03T07:22:13.000Z' },
      event_id: null,
      kafka_topic: names.topic,
      kafka_partition: 0,
      kafka_offset: 0,
    });
    const [metadata] = (await bigquery.dataset(names.dataset).table(names.table).getMetadata()) as unknown as [
      { timePartitioning: unknown; clustering: unknown; schema: { fields: { name: string; type: string }[] } },
    ];
    expect(metadata.timePartitioning).toMatchObject({
      type: 'DAY',
      field: 'timestamp',
    });
    expect(metadata.clustering).toEqual({ fields: ['artist', 'song_name'] });
    const types = metadata.schema.fields.map((f) => [f.name, f.type]);
    expect(types).toEqual(PLAY_TABLE_SCHEMA.map((f) => [f.name, f.type === 'INT64' ? 'INTEGER' : f.type]));
  });

  it('dead-letters every kind of bad input, byte for byte with its reason, and writes every valid play', async () => {
    const names = await setUp();
    service = await start(names);
    const bad = badPlays();
    const messages = bad.flatMap((b, i) => [
      { key: `valid-${i}`, value: JSON.stringify(play(i, { event_id: `valid-${i}` })) },
      { key: `bad-${i}`, value: b.value, headers: { origin: Buffer.from([0xca, 0xfe, i]) } },
    ]);
    await produce(names.topic, messages);

    const letters = await readTopic(names.dlqTopic, bad.length);
    expect(letters).toHaveLength(bad.length);
    for (const [i, expected] of bad.entries()) {
      const letter = letters.find((l) => l.key?.toString() === `bad-${i}`);
      expect(letter, expected.name).toBeDefined();
      expect(letter!.value === null ? null : Buffer.compare(letter!.value, expected.value ?? Buffer.alloc(0))).toBe(
        expected.value === null ? null : 0,
      );
      expect(letter!.headers[DEAD_LETTER_HEADERS.reason]?.toString(), expected.name).toBe(expected.reason);
      expect(letter!.headers[DEAD_LETTER_HEADERS.detail]?.toString().length).toBeGreaterThan(5);
      expect(letter!.headers[DEAD_LETTER_HEADERS.topic]?.toString()).toBe(names.topic);
      expect(letter!.headers[DEAD_LETTER_HEADERS.partition]?.toString()).toBe('0');
      expect(letter!.headers[DEAD_LETTER_HEADERS.offset]?.toString()).toBe(String(2 * i + 1));
      expect(Buffer.compare(letter!.headers.origin as Buffer, Buffer.from([0xca, 0xfe, i]))).toBe(0);
    }

    const rows = await eventually(
      () => countRows(names),
      (n) => n === bad.length,
      30_000,
    );
    expect(rows + letters.length).toBe(messages.length);
    await eventually(
      () => committedTotal(admin, names),
      (n) => n === messages.length,
      10_000,
    );
  });

  it("judges a play's timestamp against its message's Kafka timestamp, not the clock", async () => {
    const names = await setUp();
    service = await start(names);
    const year = 365 * 86_400_000;
    const now = Date.now();
    const utc = (ms: number) => new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
    const sentAt = String(now - 6 * year);
    // One request: the last message's recent timestamp keeps the segment from time-based retention.
    await produce(names.topic, [
      // Half a year after its message was sent, 5.5 years before the clock: a play. (Real BigQuery
      // refuses rows that old at write time, as bigquery_invalid; the emulator does not.)
      { key: 'old-play', timestamp: sentAt, value: JSON.stringify(play(0, { timestamp: utc(now - 5.5 * year) })) },
      // Six years after its message was sent, now by the clock: not a play.
      { key: 'after-its-message', timestamp: sentAt, value: JSON.stringify(play(1)) },
      { key: 'current', value: JSON.stringify(play(2)) },
    ]);

    const [letter] = await readTopic(names.dlqTopic, 1);
    expect(letter!.key?.toString()).toBe('after-its-message');
    expect(letter!.headers[DEAD_LETTER_HEADERS.reason]?.toString()).toBe('timestamp_out_of_range');
    expect(letter!.headers[DEAD_LETTER_HEADERS.detail]?.toString()).toContain(new Date(Number(sentAt)).toISOString());
    const rows = await eventually(
      () => queryRows<{ kafka_offset: number }>(names, 'SELECT kafka_offset FROM $table ORDER BY kafka_offset'),
      (found) => found.length === 2,
      30_000,
    );
    expect(rows.map((row) => row.kafka_offset)).toEqual([0, 2]);
    await eventually(
      () => committedTotal(admin, names),
      (n) => n === 3,
      10_000,
    );
  });

  it('dead-letters a row BigQuery itself rejects while the rest of its batch is written', async () => {
    const names = await setUp();
    // A stricter table than ours: event_id REQUIRED, so BigQuery rejects the plays without one.
    const [dataset] = await bigquery.createDataset(names.dataset);
    await dataset.createTable(names.table, {
      schema: PLAY_TABLE_SCHEMA.map((f) => (f.name === 'event_id' ? { ...f, mode: 'REQUIRED' } : f)),
    });
    service = await start(names, { SINK_LINGER_MS: '1000' });
    const messages = Array.from({ length: 10 }, (_, i) => ({
      key: `k${i}`,
      value: JSON.stringify(play(i, i % 3 === 0 ? {} : { event_id: `e-${i}` })),
    }));
    await produce(names.topic, messages);

    const rejected = messages.filter((_, i) => i % 3 === 0);
    const letters = await readTopic(names.dlqTopic, rejected.length);
    expect(letters.map((l) => l.key?.toString()).sort()).toEqual(rejected.map((m) => m.key).sort());
    for (const letter of letters) {
      expect(letter.headers[DEAD_LETTER_HEADERS.reason]?.toString()).toBe('bigquery_invalid');
      expect(letter.headers[DEAD_LETTER_HEADERS.detail]?.toString()).toMatch(/event_id/);
      expect(letter.value?.toString()).toBe(messages.find((m) => m.key === letter.key?.toString())!.value);
    }
    await eventually(
      () => countRows(names),
      (n) => n === messages.length - rejected.length,
      30_000,
    );
    await eventually(
      () => committedTotal(admin, names),
      (n) => n === messages.length,
      10_000,
    );
  });

  it.runIf(sink.everyTest)(
    'writes the end of a backlog at once, without waiting out a long linger; plays trickling in after it wait',
    async () => {
      const names = await setUp();
      // Not a multiple of any request size: the last rows fill no request, and the linger is a minute.
      const backlog = Array.from({ length: 12_345 }, (_, i) => ({ value: JSON.stringify(play(i)) }));
      await produce(names.topic, backlog, 2_000);
      service = await start(names, { SINK_LINGER_MS: '60000' });
      await eventually(
        () => committedTotal(admin, names),
        (n) => n === backlog.length,
        30_000,
      );
      expect(await countRows(names)).toBe(backlog.length);
      // Caught up now: plays that trickle in wait for their request to fill (or the linger).
      await produce(
        names.topic,
        [0, 1, 2].map((i) => ({ value: JSON.stringify(play(backlog.length + i)) })),
      );
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      expect(await countRows(names)).toBe(backlog.length);
      expect(await service.stop('SIGTERM')).toBe(0);
      expect(await countRows(names)).toBe(backlog.length + 3);
    },
  );

  it('on SIGTERM writes what it holds, commits exactly that, exits 0, and redelivers nothing on restart', async () => {
    const names = await setUp(3);
    // A long linger: at SIGTERM the plays are still buffered, so the graceful stop must flush them.
    service = await start(names, { SINK_LINGER_MS: '60000', SINK_BATCH_MAX_ROWS: '5000' });
    const messages = Array.from({ length: 300 }, (_, i) => ({ value: JSON.stringify(play(i)) }));
    await produce(names.topic, messages);
    // Give the consumer time to take the plays; with that linger none is written yet.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect(await countRows(names)).toBe(0);

    expect(await service.stop('SIGTERM')).toBe(0);
    expect(await countRows(names)).toBe(messages.length);
    expect(await committedTotal(admin, names)).toBe(messages.length);

    service = await start(names, { SINK_LINGER_MS: '100' });
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect(await countRows(names)).toBe(messages.length);
    const distinct = await queryRows<{ n: number }>(
      names,
      'SELECT COUNT(DISTINCT kafka_offset * 10 + kafka_partition) AS n FROM $table',
    );
    expect(distinct[0]?.n).toBe(messages.length);
  });
});
