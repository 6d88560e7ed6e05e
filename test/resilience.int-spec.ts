import fs from 'node:fs';
import { startDep, stopDep } from './support/deps.js';
import { metricsOf, sample } from './support/probes.js';
import {
  committedTotal,
  countRows,
  drained,
  deps,
  distinctPlays,
  eventually,
  play,
  produce,
  queryRows,
  Service,
  setUpTopics,
  sinkEnv,
  SINKS,
  sleep,
  useAdmin,
  type Names,
} from './support/service.js';

const admin = useAdmin();
const setUp = (partitions = 1) => setUpTopics(admin, partitions);

function rssMegabytes(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

describe.each(SINKS)('resilience with %s (real broker, real emulator)', (_label, sink) => {
  const { api } = sink;
  const start = (names: Names, env: Record<string, string> = {}) => Service.start(names, { ...sinkEnv(sink), ...env });
  let service: Service | undefined;
  afterEach(async () => {
    await service?.stop('SIGKILL');
    service = undefined;
  });

  // Each restart after a kill waits out the dead member's session (30 s) to join: the `_default`
  // stream, whose batching and retries the other sinks share, is killed once to keep CI's time.
  const kills = sink.everyTest ? 2 : 1;
  it(`loses nothing when killed (SIGKILL) ${kills === 2 ? 'twice' : 'once'} while draining 20,000 plays`, async () => {
    const names = await setUp(6);
    const total = 20_000;
    await produce(
      names.topic,
      Array.from({ length: total }, (_, i) => ({ value: JSON.stringify(play(i)) })),
    );

    for (let crash = 0; crash < kills; crash++) {
      // Small requests, one at a time on each connection (exactly-once has one per partition): the
      // emulator takes rows slowly enough that every kill lands mid-drain, with requests in flight (at
      // the defaults the whole backlog can land first).
      service = await start(names, { SINK_MAX_IN_FLIGHT: '1', SINK_BATCH_MAX_ROWS: '100' });
      // Let it write part of the backlog, then kill it without warning.
      const before = await countRows(names);
      await eventually(
        () => countRows(names),
        (n) => n > before + 1_000,
        60_000,
      );
      expect(await service.stop('SIGKILL')).toBe('SIGKILL');
      service = undefined;
    }
    const afterCrashes = await distinctPlays(names);
    expect(afterCrashes).toBeLessThan(total);

    service = await start(names);
    await drained(admin, names, total);
    expect(sample(await metricsOf(service), 'sink_info', `api="${api}",delivery="${sink.delivery}"`)).toBe(1);

    // A duplicate row can only be a redelivery: same partition and offset (so the same insertId)
    // and the same play as its twin.
    const duplicates = await queryRows<{ copies: number; versions: number }>(
      names,
      `SELECT COUNT(*) AS copies,
              COUNT(DISTINCT CONCAT(CAST(user_id AS STRING), song_name, CAST(timestamp AS STRING))) AS versions
       FROM $table GROUP BY kafka_partition, kafka_offset HAVING COUNT(*) > 1`,
    );
    for (const duplicate of duplicates) expect(duplicate.versions).toBe(1);
  });

  it.runIf(sink.everyTest)(
    'hands partitions over in a rebalance without losing or committing anything unwritten',
    async () => {
      const names = await setUp(6);
      const total = 12_000;
      await produce(
        names.topic,
        Array.from({ length: total }, (_, i) => ({ value: JSON.stringify(play(i)) })),
      );
      service = await start(names);
      await eventually(
        () => countRows(names),
        (n) => n > 1_000,
        60_000,
      );
      // A second instance joins the group mid-drain: the partitions are split between the two.
      const second = await start(names);
      try {
        await drained(admin, names, total);
        expect(second.log).toMatch(/joined group .*; partitions \d/);
        expect(service.log.match(/joined group/g)?.length).toBeGreaterThanOrEqual(2);
      } finally {
        await second.stop('SIGKILL');
      }
    },
  );

  it.runIf(deps.managed && sink.everyTest)(
    'survives a 30 s BigQuery outage: stays up, holds bounded memory, commits nothing unwritten, then catches up',
    async () => {
      const names = await setUp(3);
      service = await start(names, { SINK_MAX_BUFFERED_ROWS: '2000', SINK_RETRY_MAX_DELAY_MS: '2000' });
      await produce(
        names.topic,
        Array.from({ length: 500 }, (_, i) => ({ value: JSON.stringify(play(i)) })),
      );
      await eventually(
        () => countRows(names),
        (n) => n === 500,
        30_000,
      );
      await eventually(
        () => committedTotal(admin, names),
        (n) => n === 500,
        10_000,
      );

      await stopDep('emulator');
      try {
        // Far more than the buffer holds arrives during the outage.
        await produce(
          names.topic,
          Array.from({ length: 10_000 }, (_, i) => ({ value: JSON.stringify(play(500 + i)) })),
        );
        const peaks: number[] = [];
        for (let second = 0; second < 30; second++) {
          await sleep(1_000);
          expect(service.child.exitCode, service.log).toBeNull();
          peaks.push(rssMegabytes(service.child.pid!));
        }
        // Nothing written during the outage, so nothing past the first 500 may be committed.
        expect(await committedTotal(admin, names)).toBe(500);
        expect(Math.max(...peaks)).toBeLessThan(400);
        expect(service.log).toMatch(new RegExp(`${api} write of \\d+ rows failed`));
      } finally {
        await startDep('emulator');
      }

      await drained(admin, names, 10_500);
    },
  );
});
