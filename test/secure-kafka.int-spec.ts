import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { rootCertificates } from 'node:tls';
import kafkajs, { type Kafka, type Message, type SASLOptions } from 'kafkajs';
import { DEAD_LETTER_HEADERS } from '../src/dead-letters/dead-letters.service.js';
import { ORIGINAL_PLAY } from './support/bad-plays.js';
import { testDeps } from './support/deps.js';
import { probe } from './support/probes.js';
import {
  committedTotal,
  consumedMessage,
  countRows,
  deps,
  drained,
  eventually,
  play,
  produce,
  queryRows,
  Service,
  setUpTopics,
  sleep,
  useAdmin,
  type ConsumedMessage,
} from './support/service.js';

/**
 * The service over the broker's SASL_SSL listener (deps:up's throwaway CA, SCRAM-SHA-512 and PLAIN
 * user) and its mutual-TLS listener, as a data team connects it to managed Kafka. The listeners'
 * settings come from the tests' own deps folder (secure.env, mtls.env), or from the files
 * PLAYS_TEST_SECURE_ENV and PLAYS_TEST_MTLS_ENV name for a broker of your own.
 */
const envFile = (variable: string, name: string) =>
  process.env[variable] ?? (deps.managed ? path.join(testDeps.dir, name) : null);
const secureEnvFile = envFile('PLAYS_TEST_SECURE_ENV', 'secure.env');
const secure = secureEnvFile === null ? null : readEnvFile(secureEnvFile);
const mtlsEnvFile = envFile('PLAYS_TEST_MTLS_ENV', 'mtls.env');
const mtls = mtlsEnvFile === null ? null : readEnvFile(mtlsEnvFile);

function readEnvFile(file: string): Record<string, string> {
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  const pairs = lines.flatMap((line): [string, string][] => {
    const match = /^([A-Z_]+)=(.*)$/.exec(line);
    return match ? [[match[1]!, match[2]!]] : [];
  });
  return Object.fromEntries(pairs);
}

type Mechanism = 'scram-sha-512' | 'plain';

/** The service's settings for the secured listener with `mechanism` (deps:up's user has both). */
function secureServiceEnv(mechanism: Mechanism, overrides: Record<string, string> = {}): Record<string, string> {
  const { KAFKA_BROKERS, KAFKA_SSL_CA_FILE, KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD } = secure!;
  return {
    KAFKA_BROKERS: KAFKA_BROKERS!,
    KAFKA_SSL: 'true',
    KAFKA_SSL_CA_FILE: KAFKA_SSL_CA_FILE!,
    KAFKA_SASL_MECHANISM: mechanism,
    KAFKA_SASL_USERNAME: KAFKA_SASL_USERNAME!,
    KAFKA_SASL_PASSWORD: KAFKA_SASL_PASSWORD!,
    ...overrides,
  };
}

/** The test's own client, through the secured listener too. */
function secureKafka(mechanism: Mechanism): Kafka {
  const env = secureServiceEnv(mechanism);
  return new kafkajs.Kafka({
    clientId: 'plays-test-secure',
    brokers: env.KAFKA_BROKERS!.split(','),
    ssl: { ca: [fs.readFileSync(env.KAFKA_SSL_CA_FILE!, 'utf8')] },
    sasl: { mechanism, username: env.KAFKA_SASL_USERNAME!, password: env.KAFKA_SASL_PASSWORD! } as SASLOptions,
    logLevel: kafkajs.logLevel.NOTHING,
  });
}

async function produceSecurely(client: Kafka, topic: string, messages: Message[]): Promise<void> {
  const producer = client.producer({ createPartitioner: kafkajs.Partitioners.DefaultPartitioner });
  await producer.connect();
  try {
    await producer.send({ topic, acks: -1, messages });
  } finally {
    await producer.disconnect();
  }
}

async function readSecurely(client: Kafka, topic: string, count: number): Promise<ConsumedMessage[]> {
  const consumer = client.consumer({ groupId: `reader-${topic}`, maxWaitTimeInMs: 200 });
  const seen: ConsumedMessage[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      eachMessage: ({ partition, message }) => {
        seen.push(consumedMessage(partition, message));
        return Promise.resolve();
      },
    });
    await eventually(
      () => Promise.resolve(seen.length),
      (n) => n >= count,
      30_000,
    );
  } finally {
    await consumer.disconnect();
  }
  return seen;
}

/** The service's warning and error lines (pino levels 40 and up). */
function warningsAndErrors(log: string): string[] {
  return log
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .filter((line) => (JSON.parse(line) as { level: number }).level >= 40);
}

const admin = useAdmin();

describe.runIf(secure !== null)('secured Kafka: SASL_SSL against the real broker', () => {
  let service: Service | undefined;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'secure-kafka-'));
  afterEach(async () => {
    await service?.stop('SIGKILL');
    service = undefined;
  });
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('the secured listener is not the plaintext one the other tests use', () => {
    expect(secure!.KAFKA_BROKERS).not.toBe(deps.KAFKA_BROKERS);
    expect(secure).toMatchObject({ KAFKA_SSL: 'true', KAFKA_SASL_MECHANISM: 'scram-sha-512' });
  });

  it.each<Mechanism>(['scram-sha-512', 'plain'])(
    'over SASL_SSL with %s: the original payload lands as a row, a bad message is dead-lettered, the simulator produces',
    async (mechanism) => {
      const names = await setUpTopics(admin);
      const client = secureKafka(mechanism);
      // The original producer's payload (its own timestamp is over four years old: still in BigQuery's window).
      await produceSecurely(client, names.topic, [{ value: JSON.stringify(ORIGINAL_PLAY) }, { value: 'not json' }]);
      service = await Service.start(
        names,
        secureServiceEnv(mechanism, {
          SIMULATOR_ENABLED: 'true',
          SIMULATOR_INTERVAL_MS: '200',
          SIMULATOR_MAX_EVENTS: '3',
        }),
      );

      // 1 original + 3 simulated plays as rows; all 5 offsets (with the dead letter's) committed.
      await drained(admin, names, 4, 5);
      const [row] = await queryRows(
        names,
        'SELECT user_id, artist, song_id, song_name, event_type, timestamp FROM $table WHERE kafka_offset = 0',
      );
      expect(row).toEqual({ ...ORIGINAL_PLAY, timestamp: { value: '2022-11-03T07:22:13.000Z' } });
      const simulated = await queryRows<{ n: number }>(
        names,
        'SELECT COUNT(*) AS n FROM $table WHERE event_id IS NOT NULL',
      );
      expect(simulated).toEqual([{ n: 3 }]);

      const [letter] = await readSecurely(client, names.dlqTopic, 1);
      expect(letter?.value?.toString()).toBe('not json');
      expect(letter?.headers[DEAD_LETTER_HEADERS.reason]?.toString()).toBe('not_json');
      expect(service.log).not.toContain(secure!.KAFKA_SASL_PASSWORD);
    },
  );

  it('a wrong password: readiness 503 saying authentication failed, live, nothing committed, a few log lines a minute; the right one is all it takes', async () => {
    const names = await setUpTopics(admin);
    await produceSecurely(secureKafka('scram-sha-512'), names.topic, [{ value: JSON.stringify(play(1)) }]);
    const wrong = 'not-the-password-3f9a';
    const startedAt = Date.now();
    service = await Service.start(
      names,
      // The simulator too, sending every second: every client of the service meets the same refusal.
      secureServiceEnv('scram-sha-512', {
        KAFKA_SASL_PASSWORD: wrong,
        SIMULATOR_ENABLED: 'true',
        SIMULATOR_INTERVAL_MS: '1000',
      }),
      /listening on port/,
    );
    const port = secure!.KAFKA_BROKERS!.split(':').pop();
    const ready = await eventually(
      () => probe(service!, '/health/ready'),
      (r) => r.status === 503 && r.body.error?.kafka_consumer?.kind === 'authentication',
      30_000,
    );
    // Readiness is for anyone: what failed and what to check, not the broker nor its words.
    expect(ready.body.error?.kafka_consumer?.reason).toBe(
      'kafka authentication failed (check KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD)',
    );
    expect(JSON.stringify(ready.body)).not.toContain(`127.0.0.1:${port}`);
    expect((await probe(service, '/health/live')).status).toBe(200);

    // A minute of refusals: one line says why, with the broker and its words; kafkajs' repeats are held back.
    await sleep(Math.max(0, startedAt + 60_000 - Date.now()));
    const lines = warningsAndErrors(service.log);
    expect(lines.filter((line) => line.includes('cannot start consuming: authentication failed'))).toHaveLength(1);
    expect(service.log).toMatch(
      new RegExp(`authentication failed with broker 127\\.0\\.0\\.1:${port} .*invalid credentials`),
    );
    expect(lines.length, lines.join('\n')).toBeLessThanOrEqual(12);
    expect((await probe(service, '/health/live')).status).toBe(200);
    expect(service.child.exitCode).toBeNull();

    expect(await committedTotal(admin, names)).toBe(0);
    expect(await countRows(names)).toBe(0);
    const everything = [service.log, JSON.stringify((await probe(service, '/health/ready')).body)].join('\n');
    expect(everything).not.toContain(wrong);
    expect(everything).not.toContain(secure!.KAFKA_SASL_PASSWORD);

    // Fixing the secret is a restart with the right one.
    await service.stop();
    service = await Service.start(names, secureServiceEnv('scram-sha-512'));
    await drained(admin, names, 1);
  });

  it('a CA file that does not match: readiness 503 saying the certificate is not trusted, live, nothing committed, a few log lines a minute', async () => {
    const names = await setUpTopics(admin);
    await produceSecurely(secureKafka('scram-sha-512'), names.topic, [{ value: JSON.stringify(play(1)) }]);
    // A real CA, but not the one that signed the broker's certificate.
    const otherCa = path.join(tmp, 'other-ca.pem');
    fs.writeFileSync(otherCa, rootCertificates[0]!);
    const startedAt = Date.now();
    service = await Service.start(
      names,
      secureServiceEnv('scram-sha-512', {
        KAFKA_SSL_CA_FILE: otherCa,
        SIMULATOR_ENABLED: 'true',
        SIMULATOR_INTERVAL_MS: '1000',
      }),
      /listening on port/,
    );
    const port = secure!.KAFKA_BROKERS!.split(':').pop();
    // kafkajs retries a connection error for ~25 s before the consumer's start fails.
    const ready = await eventually(
      () => probe(service!, '/health/ready'),
      (r) => r.status === 503 && r.body.error?.kafka_consumer?.kind === 'tls',
      60_000,
    );
    expect(ready.body.error?.kafka_consumer?.reason).toBe(
      'kafka TLS failed: certificate not trusted (check KAFKA_SSL_CA_FILE)',
    );
    expect(JSON.stringify(ready.body)).not.toContain(`127.0.0.1:${port}`);
    expect((await probe(service, '/health/live')).status).toBe(200);

    await sleep(Math.max(0, startedAt + 60_000 - Date.now()));
    const lines = warningsAndErrors(service.log);
    expect(lines.filter((line) => line.includes('cannot start consuming: TLS with broker'))).toHaveLength(1);
    expect(service.log).toMatch(
      new RegExp(
        `TLS with broker 127\\.0\\.0\\.1:${port} failed: certificate not trusted \\(check KAFKA_SSL_CA_FILE\\)`,
      ),
    );
    expect(lines.length, lines.join('\n')).toBeLessThanOrEqual(12);
    expect(service.child.exitCode).toBeNull();
    expect(await committedTotal(admin, names)).toBe(0);
    expect(await countRows(names)).toBe(0);
  });
});

describe.runIf(mtls !== null)('secured Kafka: mutual TLS against the real broker', () => {
  let service: Service | undefined;
  afterEach(async () => {
    await service?.stop('SIGKILL');
    service = undefined;
  });

  it('without a client certificate the broker refuses and readiness says so; with one, plays land', async () => {
    const names = await setUpTopics(admin);
    await produce(names.topic, [{ value: JSON.stringify(ORIGINAL_PLAY) }]);
    const { KAFKA_BROKERS, KAFKA_SSL_CA_FILE, KAFKA_SSL_CERT_FILE, KAFKA_SSL_KEY_FILE } = mtls!;
    const withoutCertificate = {
      KAFKA_BROKERS: KAFKA_BROKERS!,
      KAFKA_SSL: 'true',
      KAFKA_SSL_CA_FILE: KAFKA_SSL_CA_FILE!,
    };
    service = await Service.start(names, withoutCertificate, /listening on port/);
    const ready = await eventually(
      () => probe(service!, '/health/ready'),
      (r) => r.status === 503 && r.body.error?.kafka_consumer?.kind === 'tls',
      60_000,
    );
    expect(ready.body.error?.kafka_consumer?.reason).toMatch(/failed: the broker refused the client certificate/);
    expect(await committedTotal(admin, names)).toBe(0);
    await service.stop();

    service = await Service.start(names, {
      ...withoutCertificate,
      KAFKA_SSL_CERT_FILE: KAFKA_SSL_CERT_FILE!,
      KAFKA_SSL_KEY_FILE: KAFKA_SSL_KEY_FILE!,
    });
    await drained(admin, names, 1);
    expect(service.log).not.toContain(fs.readFileSync(KAFKA_SSL_KEY_FILE!, 'utf8').split('\n')[1]);
  });
});
