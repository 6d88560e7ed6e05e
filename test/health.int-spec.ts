import { startDep, stopDep } from './support/deps.js';
import { deps, eventually, Service, setUpTopics, useAdmin } from './support/service.js';

const admin = useAdmin();

interface HealthBody {
  status: string;
  info?: Record<string, { status: string }>;
  error?: Record<string, { status: string; reason?: string }>;
}

async function probe(service: Service, path: string): Promise<{ status: number; body: HealthBody }> {
  const response = await fetch(`http://127.0.0.1:${service.port}${path}`, { signal: AbortSignal.timeout(5_000) });
  return { status: response.status, body: (await response.json()) as HealthBody };
}

describe('health endpoints (the service as a process)', () => {
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
});
