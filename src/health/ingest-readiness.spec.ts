import { HealthIndicatorService } from '@nestjs/terminus';
import { parseEnv } from '../config/parse-env.js';
import type { DeadLetters } from '../dead-letters/dead-letters.service.js';
import type { ConsumerHealth, HeldPartition, PlaysServer } from '../ingest/plays-server.js';
import type { PlaySink } from '../sink/play-sink.js';
import type { PlayTable } from '../sink/play-table.js';
import { IngestReadiness } from './ingest-readiness.js';

const NOW = Date.parse('2026-01-01T00:00:00Z');

function kafkaConsumerCheck(held: HeldPartition[]) {
  const config = parseEnv({ BIGQUERY_PROJECT_ID: 'plays-test', READINESS_WRITE_FAILURE_MS: '30000' });
  const health: ConsumerHealth = {
    joined: true,
    crashed: null,
    cannotStart: null,
    lastFetchAt: NOW,
    assigned: [0, 1],
    stalled: [],
    held,
    heldBytes: 0,
    budgetBytes: 1,
  };
  const readiness = new IngestReadiness(
    config,
    new HealthIndicatorService(),
    { health } as PlaysServer,
    {} as PlayTable,
    {} as PlaySink,
    {} as DeadLetters,
  );
  return readiness.checks(NOW)[0]!().kafka_consumer!;
}

const held = (cause: HeldPartition['cause'], heldForMs: number): HeldPartition => ({
  partition: 1,
  cause,
  reason: cause === 'sink' ? "partition 1's rows have waited" : 'partition 1 holds 10 uncommitted messages',
  uncommitted: 10,
  from: '5',
  since: new Date(NOW - heldForMs).toISOString(),
});

describe('IngestReadiness: kafka_consumer and held partitions', () => {
  it('is down at once for a partition held for its uncommitted span, naming it and why', () => {
    const check = kafkaConsumerCheck([held('uncommitted', 0)]);
    expect(check.status).toBe('down');
    expect(check.reason).toMatch(/^partition 1 holds 10 uncommitted messages: no more are taken from it/);
    expect(check.held).toEqual([expect.objectContaining({ partition: 1 })]);
  });

  it('is down for a partition held for the sink only once that lasts longer than READINESS_WRITE_FAILURE_MS', () => {
    expect(kafkaConsumerCheck([held('sink', 10_000)]).status).toBe('up');
    const check = kafkaConsumerCheck([held('sink', 31_000)]);
    expect(check.status).toBe('down');
    expect(check.reason).toMatch(/^partition 1's rows have waited/);
  });
});
