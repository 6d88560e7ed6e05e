import { startDep, stopDep } from './support/deps.js';
import { badPlays } from './support/bad-plays.js';
import { probe, sample } from './support/probes.js';
import { deps, drained, eventually, play, produce, Service, setUpTopics, useAdmin } from './support/service.js';

const admin = useAdmin();

describe('health endpoints and metrics (the service as a process)', () => {
  let service: Service | undefined;
  afterEach(async () => {
    await service?.stop('SIGKILL');
    service = undefined;
  });

  it('is live at once and ready when the consumer, the table and the dead-letter producer are', async () => {
    const names = await setUpTopics(admin);
    service = await Service.start(names);
    expect((await probe(service, '/health/live')).status).toBe(200);
    const ready = await eventually(
      () => probe(service!, '/health/ready'),
      (r) => r.status === 200,
      30_000,
    );
    expect(Object.keys(ready.body.info ?? {}).sort()).toEqual([
      'bigquery_table',
      'bigquery_writes',
      'dead_letter_producer',
      'kafka_consumer',
    ]);
  });

  it.runIf(deps.managed)(
    'turns not ready within 20 s of a broker outage while staying live, and ready again when it returns',
    async () => {
      const names = await setUpTopics(admin);
      service = await Service.start(names);
      await eventually(
        () => probe(service!, '/health/ready'),
        (r) => r.status === 200,
        30_000,
      );

      await stopDep('kafka');
      try {
        const stoppedAt = Date.now();
        const down = await eventually(
          () => probe(service!, '/health/ready'),
          (r) => r.status === 503,
          20_000,
        );
        expect(Date.now() - stoppedAt).toBeLessThan(20_000);
        expect(down.body.error?.kafka_consumer?.status).toBe('down');
        expect(down.body.error?.kafka_consumer?.reason).toBeTruthy();
        // A category for anyone who can reach the port; the broker's address only in the log.
        expect(JSON.stringify(down.body)).not.toContain(deps.KAFKA_BROKERS);
        expect((await probe(service, '/health/live')).status).toBe(200);
      } finally {
        await startDep('kafka');
      }
      await eventually(
        () => probe(service!, '/health/ready'),
        (r) => r.status === 200,
        90_000,
      );
      expect(service.child.exitCode).toBeNull();
    },
  );

  it.runIf(deps.managed)(
    'turns not ready when BigQuery writes fail for longer than the threshold, and ready again when they work',
    async () => {
      const names = await setUpTopics(admin);
      service = await Service.start(names, { READINESS_WRITE_FAILURE_MS: '3000', SINK_RETRY_MAX_DELAY_MS: '1000' });
      await eventually(
        () => probe(service!, '/health/ready'),
        (r) => r.status === 200,
        30_000,
      );
      await stopDep('emulator');
      try {
        await produce(names.topic, [{ value: JSON.stringify(play(1)) }]);
        const down = await eventually(
          () => probe(service!, '/health/ready'),
          (r) => r.status === 503,
          20_000,
        );
        expect(down.body.error?.bigquery_writes?.reason).toMatch(
          /^bigquery writes failing for \d+s \(the log says why\)$/,
        );
        // BigQuery's (here the client's) own error text, with the address it failed to reach, is in the log only.
        const written = /write of \d+ rows failed \(attempt \d+\): (.+?); retrying/.exec(service.log)?.[1];
        expect(written, service.log).toBeTruthy();
        expect(JSON.stringify(down.body)).not.toContain(written);
        expect(JSON.stringify(down.body)).not.toMatch(/127\.0\.0\.1|ECONNREFUSED|UNAVAILABLE/);
        expect((await probe(service, '/health/live')).status).toBe(200);
      } finally {
        await startDep('emulator');
      }
      await eventually(
        () => probe(service!, '/health/ready'),
        (r) => r.status === 200,
        60_000,
      );
      await drained(admin, names, 1);
    },
  );

  it('counts plays consumed, written and dead-lettered by reason, with batch, latency, buffer and lag metrics', async () => {
    const names = await setUpTopics(admin, 2);
    service = await Service.start(names);
    const valid = Array.from({ length: 40 }, (_, i) => ({ value: JSON.stringify(play(i)) }));
    const invalid = badPlays()
      .slice(0, 7)
      .map((b) => ({ value: b.value }));
    await produce(names.topic, [...valid, ...invalid]);
    await drained(admin, names, valid.length, valid.length + invalid.length);

    const metrics = await eventually(
      async () => (await fetch(`http://127.0.0.1:${service!.port}/metrics`)).text(),
      (text) => sample(text, 'plays_dead_lettered_total') === invalid.length && /kafka_consumer_lag\{/.test(text),
      20_000,
    );
    expect(sample(metrics, 'plays_written_total')).toBe(valid.length);
    expect(sample(metrics, 'plays_consumed_total')).toBe(valid.length + invalid.length);
    expect(sample(metrics, 'plays_dead_lettered_total', 'reason="tombstone"')).toBe(1);
    expect(sample(metrics, 'sink_batch_rows_count')).toBeGreaterThan(0);
    expect(sample(metrics, 'sink_write_duration_seconds_count')).toBeGreaterThan(0);
    expect(metrics).toMatch(/^sink_buffered_rows 0$/m);
    expect(metrics).toMatch(/^process_resident_memory_bytes \d+/m);
  });

  it('writes JSON log lines and shows no secret from its configuration in any log line or health body', async () => {
    const names = await setUpTopics(admin);
    const password = 'pa55-w0rd-never-shown';
    const credentials = '/secrets/key-never-shown.json';
    // SASL that our plaintext test broker does not speak: the service runs, cannot join, and says so.
    service = await Service.start(
      names,
      {
        KAFKA_SASL_MECHANISM: 'scram-sha-512',
        KAFKA_SASL_USERNAME: 'plays',
        KAFKA_SASL_PASSWORD: password,
        GOOGLE_APPLICATION_CREDENTIALS: credentials,
      },
      /listening on port/,
    );
    const ready = await probe(service, '/health/ready');
    const live = await probe(service, '/health/live');
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect(ready.status).toBe(503);
    expect(live.status).toBe(200);
    const everything = [service.log, JSON.stringify(ready.body), JSON.stringify(live.body)].join('\n');
    expect(everything).not.toContain(password);
    expect(everything).not.toContain('key-never-shown');

    const lines = service.log.split('\n').filter((line) => line.trim().length > 0);
    expect(lines.length).toBeGreaterThan(3);
    for (const line of lines) expect(() => JSON.parse(line) as unknown, line).not.toThrow();
  });
});
