import { HealthIndicatorService } from '@nestjs/terminus';
import { parseEnv } from '../config/parse-env.js';
import type { DeadLetters } from '../dead-letters/dead-letters.service.js';
import type { ConsumerHealth, HeldPartition } from '../consumer/consumer-health.js';
import type { PlaysServer } from '../consumer/plays-server.js';
import { describeKafkaError } from '../kafka/kafka-errors.js';
import type { PlaySink } from '../sink/sink.contract.js';
import type { PlayTable } from '../sink/play-table.js';
import { IngestReadiness } from './ingest-readiness.js';

// What a failing deployment's parts hold: Kafka's and BigQuery's own words, with addresses in them.
const BROKER = 'broker-3.kafka.internal.example:9094';
const RAW_BIGQUERY =
  'Permission bigquery.tables.updateData denied on table p:d.t (or it may not exist). Backend 10.8.1.2';
const RAW_KAFKA = `Connection error: connect ECONNREFUSED ${BROKER}`;

const config = parseEnv({ BIGQUERY_PROJECT_ID: 'plays-local', READINESS_WRITE_FAILURE_MS: '1000' });
const now = 1_000_000;

function readiness(parts: { consumer?: object; table?: object; sink?: object; deadLetters?: object }) {
  const consumer = {
    health: {
      joined: true,
      crashed: null,
      cannotStart: null,
      lastFetchAt: now,
      assigned: [0],
      stalled: [],
      held: [],
      heldBytes: 0,
      budgetBytes: 1,
      ...parts.consumer,
    },
  };
  const table = { health: { status: 'ready', detail: 'ready', ...parts.table } };
  const sink = {
    health: { failingSince: null, bufferedRows: 0, writable: true, detail: '', ...parts.sink },
  };
  const deadLetters = {
    health: { connected: true, failingSince: null, queued: 0, queuedBytes: 0, problem: null, summary: null },
  };
  Object.assign(deadLetters.health, parts.deadLetters);
  const ready = new IngestReadiness(
    config,
    new HealthIndicatorService(),
    consumer as never,
    table as never,
    sink as never,
    deadLetters as never,
  );
  return Object.assign({}, ...ready.checks(now).map((check) => check())) as Record<
    string,
    { status: string; reason?: string; kind?: string }
  >;
}

describe('IngestReadiness', () => {
  it('is up with every part working', () => {
    const body = readiness({});
    for (const part of ['kafka_consumer', 'bigquery_table', 'bigquery_writes', 'dead_letter_producer'])
      expect(body[part]?.status, part).toBe('up');
  });

  it.each([
    [
      'a consumer that cannot start: the kind and what to check',
      {
        consumer: {
          cannotStart: describeKafkaError(
            Object.assign(new Error('SASL SCRAM authentication failed: invalid credentials'), {
              name: 'KafkaJSSASLAuthenticationError',
              broker: BROKER,
            }),
            [BROKER],
          ),
        },
      },
      'kafka_consumer',
      'kafka authentication failed (check KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD)',
    ],
    [
      'a crashed consumer',
      { consumer: { crashed: `cannot reach broker ${BROKER}: ${RAW_KAFKA}` } },
      'kafka_consumer',
      'kafka consumer crashed (the log says why)',
    ],
    [
      'a broker out of reach',
      { consumer: { lastFetchAt: now - 60_000 } },
      'kafka_consumer',
      'kafka unreachable: no fetch from the broker for more than 10s',
    ],
    [
      'a table that cannot be checked',
      { table: { status: 'unreachable', detail: `cannot check table p.d.t: ${RAW_BIGQUERY}` } },
      'bigquery_table',
      'bigquery unreachable: cannot check the table (the log says why)',
    ],
    [
      'writes refused for good',
      {
        sink: {
          writable: false,
          detail: `storage-write cannot write to p.d.t: ${RAW_BIGQUERY}`,
        },
      },
      'bigquery_writes',
      'bigquery write failing: refused until a setting, permission or the table is fixed (the log says which)',
    ],
    [
      'writes failing for longer than the threshold',
      { sink: { failingSince: now - 5_000 } },
      'bigquery_writes',
      'bigquery writes failing for 5s (the log says why)',
    ],
    [
      'dead-letter writes failing',
      { deadLetters: { failingSince: now - 1, problem: RAW_KAFKA, summary: 'kafka unreachable' } },
      'dead_letter_producer',
      'dead-letter writes failing: kafka unreachable',
    ],
  ])('says %s as a category, without the address or error text the log has', (_, parts, part, reason) => {
    const body = readiness(parts);
    expect(body[part]).toMatchObject({ status: 'down', reason });
    const everything = JSON.stringify(body);
    expect(everything).not.toContain('broker-3');
    expect(everything).not.toContain('10.8.1.2');
    expect(everything).not.toMatch(/ECONNREFUSED|Permission|invalid credentials/);
  });

  it("keeps what is in our own words: the table's schema problems and an oversized dead letter's fix", () => {
    const schema = 'table p.d.t cannot take plays: column artist is missing. Fix or drop the table';
    expect(readiness({ table: { status: 'incompatible', detail: schema } }).bigquery_table?.reason).toBe(schema);
    const tooLarge = 'raise max.message.bytes on topic plays.dlq to at least 60000';
    expect(
      readiness({ deadLetters: { failingSince: now, problem: tooLarge, summary: tooLarge } }).dead_letter_producer
        ?.reason,
    ).toBe(`dead-letter writes failing: ${tooLarge}`);
  });
});

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
