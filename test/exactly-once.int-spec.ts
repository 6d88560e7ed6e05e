import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import kafkajs from 'kafkajs';
import { DEAD_LETTER_HEADERS } from '../src/dead-letters/dead-letters.service.js';
import { PLAY_TABLE_SCHEMA } from '../src/sink/play-table.js';
import { badPlays } from './support/bad-plays.js';
import { seededRandom } from './support/seeded-random.js';
import { startDep, stopDep, testDeps } from './support/deps.js';
import { metricsOf, probe, sample } from './support/probes.js';
import {
  bigquery,
  committedTotal,
  countRows,
  deps,
  kafka,
  play,
  produce,
  queryRows,
  readTopic,
  Service,
  setMaxMessageBytes,
  setUpTopics,
  sleep,
  useAdmin,
  type Names,
} from './support/service.js';

/*
 * Issue #14: with SINK_API=storage-write the default delivery is exactly-once. Every test here ends
 * with the same check (expectExactlyOnce): COUNT(*) of the table is the number of valid plays
 * produced, every (kafka_partition, kafka_offset) of the topic is a row exactly once, and the
 * group's committed offsets are the partitions' end offsets. Duplicates are never tolerated, except
 * where the design itself says it cannot help (the emulator restarting and losing its streams), and
 * there only together with exactly_once_fallbacks_total > 0.
 *
 * The soak (the last test) draws those faults from a seeded schedule against three replicas and a
 * steady producer whose bad messages must become dead letters; it prints its seed, and
 * PLAYS_TEST_SOAK_SEED replays the schedule.
 *
 * PLAYS_TEST_SINK_DELIVERY=at-least-once runs the same tests against the default stream, to see them
 * fail where a crash, a zombie or an outage duplicates rows (they must be able to fail).
 * A failing test leaves its services' logs in test-artifacts/exactly-once/ (every test's with
 * PLAYS_TEST_KEEP_LOGS=1).
 */
const DELIVERY = process.env.PLAYS_TEST_SINK_DELIVERY;
const deliveryEnv: Record<string, string> = DELIVERY ? { SINK_DELIVERY: DELIVERY } : {};

/**
 * How long the emulator is frozen. Beyond the writer's append timeout (60 s) the service gives up on
 * the appends in flight and sends them again on a new connection, while the emulator, once resumed,
 * still receives the first copies: PLAYS_TEST_EMULATOR_FREEZE_S=75 tries that path. Of two copies at
 * one offset BigQuery lands one and refuses the other (ALREADY_EXISTS); local-bigquery 0.3.2 does so
 * only through deps/bigquery-emulator/serve.py, which takes a stream's appends one at a time.
 */
const EMULATOR_FREEZE_S = Number(process.env.PLAYS_TEST_EMULATOR_FREEZE_S ?? 30);

const admin = useAdmin();

const plays = (total: number, from = 0) =>
  Array.from({ length: total }, (_, i) => ({ key: `p-${from + i}`, value: JSON.stringify(play(from + i)) }));

/** Polls `probe` every `everyMs` until `ok`; a probe that throws (an outage) counts as not yet. */
async function until<T>(
  what: string,
  probe: () => Promise<T>,
  ok: (value: T) => boolean,
  timeoutMs: number,
  everyMs = 500,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  let failure: unknown;
  for (;;) {
    try {
      last = await probe();
      failure = undefined;
      if (ok(last)) return last;
    } catch (error) {
      failure = error;
    }
    if (Date.now() > deadline)
      throw new Error(
        `${what}: gave up after ${timeoutMs} ms; last value ${JSON.stringify(last)}${failure ? `, last error ${failure instanceof Error ? failure.message : JSON.stringify(failure)}` : ''}`,
      );
    await sleep(everyMs);
  }
}

/** Each partition's end offset (high watermark). */
async function endOffsets(names: Names): Promise<number[]> {
  const offsets = await admin.fetchTopicOffsets(names.topic);
  const ends = new Array<number>(names.partitions).fill(0);
  for (const { partition, high } of offsets) ends[partition] = Number(high);
  return ends;
}

/** How many messages the dead-letter topic holds. */
async function lettersIn(names: Names): Promise<number> {
  const offsets = await admin.fetchTopicOffsets(names.dlqTopic);
  return offsets.reduce((sum, { high }) => sum + Number(high), 0);
}

/** The group's committed offset of each partition (0 where nothing is committed). */
async function committedOffsets(names: Names): Promise<number[]> {
  const [topic] = await admin.fetchOffsets({ groupId: names.groupId, topics: [names.topic] });
  const committed = new Array<number>(names.partitions).fill(0);
  for (const { partition, offset } of topic?.partitions ?? []) committed[partition] = Math.max(0, Number(offset));
  return committed;
}

/** Waits (cheaply: Kafka only) until the group has committed every partition up to its end. */
async function committedToEnd(names: Names, timeoutMs: number): Promise<void> {
  const ends = await endOffsets(names);
  await until(
    'committed offsets reach the end offsets',
    () => committedOffsets(names),
    (committed) => committed.every((offset, p) => offset === ends[p]),
    timeoutMs,
    1_000,
  );
}

interface TableCounts {
  rows: number;
  distinct: number;
}

async function tableCounts(names: Names): Promise<TableCounts> {
  const [row] = await queryRows<TableCounts>(
    names,
    `SELECT COUNT(*) AS rows,
            COUNT(DISTINCT CONCAT(CAST(kafka_partition AS STRING), "/", CAST(kafka_offset AS STRING))) AS distinct
     FROM $table`,
  );
  return row ?? { rows: 0, distinct: 0 };
}

/** Up to 10 (partition, offset) pairs that are more than one row, for the failure message. */
async function duplicates(names: Names): Promise<{ p: number; o: number; copies: number }[]> {
  return queryRows(
    names,
    `SELECT kafka_partition AS p, kafka_offset AS o, COUNT(*) AS copies FROM $table
     GROUP BY kafka_partition, kafka_offset HAVING COUNT(*) > 1 ORDER BY p, o LIMIT 10`,
  );
}

/** Every run of consecutive offsets that are more than one row, as "partition/first..last". */
async function duplicateRuns(names: Names): Promise<string[]> {
  const twice = await queryRows<{ p: number; o: number }>(
    names,
    `SELECT kafka_partition AS p, kafka_offset AS o FROM $table
     GROUP BY kafka_partition, kafka_offset HAVING COUNT(*) > 1 ORDER BY p, o`,
  );
  const runs: { p: number; first: number; last: number }[] = [];
  for (const { p, o } of twice) {
    const run = runs.at(-1);
    if (run?.p === p && run.last === o - 1) run.last = o;
    else runs.push({ p, first: o, last: o });
  }
  return runs.map(({ p, first, last }) => `${p}/${first}..${last}`);
}

/** Per partition: rows, distinct offsets, lowest and highest offset, in partition order. */
async function perPartition(
  names: Names,
): Promise<{ p: number; rows: number; distinct: number; lo: number; hi: number }[]> {
  return queryRows(
    names,
    `SELECT kafka_partition AS p, COUNT(*) AS rows, COUNT(DISTINCT kafka_offset) AS distinct,
            MIN(kafka_offset) AS lo, MAX(kafka_offset) AS hi
     FROM $table GROUP BY kafka_partition ORDER BY p`,
  );
}

/**
 * The topic holds only valid plays: each partition's offsets 0..end-1 are each exactly one row, so
 * COUNT(*) is `total`; and the group has committed every partition to its end.
 */
async function expectExactlyOnce(names: Names, total: number): Promise<void> {
  const ends = await endOffsets(names);
  expect(
    ends.reduce((a, b) => a + b, 0),
    'plays produced',
  ).toBe(total);
  const counts = await tableCounts(names);
  expect(
    { ...counts, duplicates: await duplicates(names) },
    'COUNT(*), distinct (partition, offset), duplicates',
  ).toEqual({
    rows: total,
    distinct: total,
    duplicates: [],
  });
  expect(await perPartition(names)).toEqual(
    ends.map((end, p) => ({ p, rows: end, distinct: end, lo: 0, hi: end - 1 })).filter(({ rows }) => rows > 0),
  );
  expect(await committedOffsets(names), 'committed offsets').toEqual(ends);
  // Every play is a row, so none is a letter (a fenced zombie's rows must not be dead-lettered).
  expect(await lettersIn(names), 'dead letters').toBe(0);
}

/** The delivery the service says it runs (sink_info), so the tests cannot pass against the wrong writer. */
async function expectDelivery(service: Service): Promise<void> {
  const text = await metricsOf(service);
  const expected = DELIVERY ?? 'exactly-once';
  expect(sample(text, 'sink_info', `api="storage-write",delivery="${expected}"`), text).toBe(1);
}

async function fallbacks(service: Service): Promise<number> {
  return sample(await metricsOf(service), 'exactly_once_fallbacks_total');
}

interface GroupState {
  state: string;
  members: number;
}

async function group(names: Names): Promise<GroupState> {
  const { groups } = await admin.describeGroups([names.groupId]);
  return { state: groups[0]?.state ?? 'Unknown', members: groups[0]?.members.length ?? 0 };
}

async function stableWith(names: Names, members: number, timeoutMs: number): Promise<void> {
  await until(
    `group stable with ${members} member(s)`,
    () => group(names),
    (g) => g.state === 'Stable' && g.members === members,
    timeoutMs,
  );
}

/** Waits until the table has grown by `rows` since `before` (polled every 500 ms). */
async function grownBy(names: Names, before: number, rows: number, timeoutMs = 90_000): Promise<number> {
  return until(
    `table grows by ${rows} rows from ${before}`,
    () => countRows(names),
    (n) => n >= before + rows,
    timeoutMs,
  );
}

/**
 * The distinct keys of the dead-letter topic, read from its start until every expected key is there
 * (dead letters are at-least-once: a key may come more than once) or the time is up.
 */
async function letterKeys(names: Names, expected: Set<string>, timeoutMs: number): Promise<Set<string>> {
  const keys = new Set<string>();
  const consumer = kafka.consumer({ groupId: `letters-${randomUUID()}`, maxWaitTimeInMs: 200 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [names.dlqTopic], fromBeginning: true });
    const missing = () => [...expected].some((key) => !keys.has(key));
    await consumer.run({
      eachMessage: ({ message }) => {
        keys.add(message.key?.toString() ?? '(no key)');
        return Promise.resolve();
      },
    });
    const deadline = Date.now() + timeoutMs;
    while (missing() && Date.now() < deadline) await sleep(200);
  } finally {
    await consumer.disconnect();
  }
  return keys;
}

function rssMegabytes(pid: number): number {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
  } catch {
    return 0;
  }
}

/** The emulator's pid and its descendants' (deps:up runs it detached; its pid file is in the deps dir). */
function emulatorProcesses(): number[] {
  const file = path.join(testDeps.dir, 'emulator.pid');
  if (!fs.existsSync(file)) return [];
  const root = Number(fs.readFileSync(file, 'utf8').trim());
  const parents = new Map<number, number>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // pid (comm) state ppid ...: comm may hold spaces, so read after the last ')'.
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      parents.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone
    }
  }
  if (!parents.has(root)) return [];
  const found = [root];
  for (let i = 0; i < found.length; i++) {
    for (const [pid, parent] of parents) if (parent === found[i]) found.push(pid);
  }
  return found;
}

/*
 * The soak: three replicas, a steady producer (a seeded share of its messages bad), and a seeded
 * schedule of faults. PLAYS_TEST_SOAK_SEED replays a schedule (the seed is printed, and named in a
 * failure); PLAYS_TEST_SOAK_SECONDS draws more faults (the default fits CI: one of each kind and a
 * second SIGKILL); PLAYS_TEST_SOAK_RATE is the producer's messages a second.
 * It needs the emulator's finalize to count an append in flight or refuse it, as BigQuery does;
 * local-bigquery 0.3.2 does so only through deps/bigquery-emulator/serve.py (docs/bigquery-emulator.md).
 */
const SOAK_SEED = Number(process.env.PLAYS_TEST_SOAK_SEED ?? 22);
const SOAK_SECONDS = Number(process.env.PLAYS_TEST_SOAK_SECONDS ?? 120);
const SOAK_RATE = Number(process.env.PLAYS_TEST_SOAK_RATE ?? 300);
/** The share of the soak's messages that are not valid plays (each must become a dead letter). */
const SOAK_BAD_SHARE = 0.01;

type Random = ReturnType<typeof seededRandom>;

type Fault = { gapS: number } & (
  | { kind: 'kill'; replica: number; downS: number; batchRows: number }
  | { kind: 'freeze-member'; replica: number; pastTimeoutS: number }
  | { kind: 'freeze-emulator'; seconds: number }
  | { kind: 'restart-broker'; downS: number }
);
const FAULT_KINDS = ['kill', 'freeze-member', 'freeze-emulator', 'restart-broker'] as const;

function drawFault(random: Random, kind: Fault['kind'], replicas: number): Fault {
  const gapS = random.int(3, 10);
  switch (kind) {
    case 'kill':
      return {
        kind,
        gapS,
        replica: random.int(0, replicas - 1),
        downS: random.int(0, 5),
        batchRows: random.pick([500, 1000, 4000]),
      };
    case 'freeze-member':
      return { kind, gapS, replica: random.int(0, replicas - 1), pastTimeoutS: random.int(0, 8) };
    case 'freeze-emulator':
      // Below the writer's 60 s append timeout (see EMULATOR_FREEZE_S for why).
      return { kind, gapS, seconds: random.int(3, 20) };
    case 'restart-broker':
      return { kind, gapS, downS: random.int(2, 8) };
  }
}

/** Roughly how long a fault takes, with the group settling after it (kafkajs' session timeout is 30 s). */
function faultSeconds(fault: Fault): number {
  const settle = 10;
  switch (fault.kind) {
    case 'kill':
      return fault.gapS + fault.downS + settle;
    case 'freeze-member':
      return fault.gapS + 35 + fault.pastTimeoutS + settle;
    case 'freeze-emulator':
      return fault.gapS + fault.seconds + settle;
    case 'restart-broker':
      return fault.gapS + fault.downS + 10 + settle;
  }
}

/** One of each kind and a second SIGKILL, in a seeded order; then more seeded faults while `seconds` last. */
function soakSchedule(random: Random, replicas: number, seconds: number): Fault[] {
  const kinds: Fault['kind'][] = [...FAULT_KINDS, 'kill'];
  for (let i = kinds.length - 1; i > 0; i--) {
    const j = random.int(0, i);
    [kinds[i], kinds[j]] = [kinds[j]!, kinds[i]!];
  }
  const faults = kinds.map((kind) => drawFault(random, kind, replicas));
  const planned = () => faults.reduce((sum, fault) => sum + faultSeconds(fault), 0);
  while (planned() < seconds) faults.push(drawFault(random, random.pick(FAULT_KINDS), replicas));
  return faults;
}

/**
 * Produces `perSecond` messages a second until stopped, each bad with a seeded chance (a kind of
 * badPlays()). A send the broker refuses (it restarts) is sent again until it lands; a refused send
 * may still have been written, so the topic, not these counts, says what was produced.
 */
function steadyProducer(topic: string, perSecond: number, random: Random) {
  const producer = kafka.producer({ createPartitioner: kafkajs.Partitioners.DefaultPartitioner });
  const kinds = badPlays();
  const counts = { acknowledged: 0, bad: 0, refusedSends: 0 };
  let stopping = false;
  const perTick = Math.max(1, Math.round(perSecond / 10));
  const run = async () => {
    await producer.connect();
    try {
      for (let n = 0, tick = Date.now(); !stopping;) {
        let bad = 0;
        const messages = Array.from({ length: perTick }, () => {
          const i = n++;
          if (random.next() >= SOAK_BAD_SHARE) return { key: `ok-${i}`, value: JSON.stringify(play(i)) };
          bad++;
          return { key: `bad-${i}`, value: random.pick(kinds).value };
        });
        for (let refusedSince = Date.now(); ;) {
          try {
            await producer.send({ topic, acks: -1, messages });
            break;
          } catch (error) {
            counts.refusedSends++;
            if (Date.now() - refusedSince > 90_000) throw error;
            await sleep(500);
          }
        }
        counts.acknowledged += messages.length;
        counts.bad += bad;
        // Steady: behind after an outage, it goes on at the same rate rather than in a burst.
        tick = Math.max(tick + 100, Date.now());
        await sleep(tick - Date.now());
      }
    } finally {
      await producer.disconnect();
    }
  };
  const done = run();
  // Seen by stop(); not an unhandled rejection meanwhile.
  done.catch(() => undefined);
  return {
    counts,
    async stop(): Promise<void> {
      stopping = true;
      await done;
    },
  };
}

/**
 * The soak's outcome, read from the topic itself (a send retried across the broker restart may be in
 * it twice): every valid message is exactly one row, every bad one a letter (at least once) and no
 * row, and the group has committed every partition to its end.
 */
async function expectSoakOutcome(
  names: Names,
  produced: { acknowledged: number; bad: number },
  replay: string,
): Promise<void> {
  const ends = await endOffsets(names);
  const messages = await readTopic(
    names.topic,
    ends.reduce((a, b) => a + b, 0),
    120_000,
  );
  const valid = new Array<number>(names.partitions).fill(0);
  const bad = new Set<string>();
  for (const message of messages) {
    if (message.key?.toString().startsWith('bad-')) bad.add(`${message.partition}/${message.offset}`);
    else valid[message.partition]!++;
  }
  const plays = valid.reduce((a, b) => a + b, 0);
  // Every acknowledged send is in the topic, and the soak produced bad messages to dead-letter.
  expect(plays + bad.size, 'messages in the topic').toBeGreaterThanOrEqual(produced.acknowledged);
  expect(bad.size, 'bad messages in the topic').toBeGreaterThanOrEqual(produced.bad);
  expect(produced.bad, 'bad messages produced').toBeGreaterThan(0);

  // Each check below is reported even when one before it fails (together they say what went wrong),
  // each naming the soak's seed.
  const of = (what: string) => `${what} (${replay})`;
  expect
    .soft(
      { ...(await tableCounts(names)), duplicates: await duplicates(names) },
      of(
        `COUNT(*), distinct (partition, offset), duplicates (at ${(await duplicateRuns(names)).join(', ') || 'none'})`,
      ),
    )
    .toEqual({ rows: plays, distinct: plays, duplicates: [] });
  expect
    .soft(
      (await perPartition(names)).map(({ p, rows, distinct }) => ({ p, rows, distinct })),
      of('rows and distinct offsets of each partition'),
    )
    .toEqual(valid.map((rows, p) => ({ p, rows, distinct: rows })).filter(({ rows }) => rows > 0));
  const badRows = await queryRows(
    names,
    `SELECT kafka_partition AS p, kafka_offset AS o FROM $table
     WHERE CONCAT(CAST(kafka_partition AS STRING), "/", CAST(kafka_offset AS STRING)) IN (${[...bad].map((key) => `"${key}"`).join(', ')})
     LIMIT 10`,
  );
  expect.soft(badRows, of('bad messages written as rows')).toEqual([]);
  expect.soft(await committedOffsets(names), of('committed offsets')).toEqual(ends);

  const letters = await readTopic(names.dlqTopic, await lettersIn(names), 60_000);
  const lettered = new Set(
    letters.map(
      ({ headers }) =>
        `${headers[DEAD_LETTER_HEADERS.partition]?.toString()}/${headers[DEAD_LETTER_HEADERS.offset]?.toString()}`,
    ),
  );
  expect
    .soft(
      {
        badNotLettered: [...bad].filter((key) => !lettered.has(key)).slice(0, 10),
        letteredNotBad: [...lettered].filter((key) => !bad.has(key)).slice(0, 10),
      },
      of(`dead letters (${letters.length}) against bad messages (${bad.size})`),
    )
    .toEqual({ badNotLettered: [], letteredNotBad: [] });
}

describe('exactly-once delivery (real broker, real emulator, the service as a process)', () => {
  const services: Service[] = [];
  const start = async (names: Names, env: Record<string, string> = {}) => {
    const service = await Service.start(names, { ...deliveryEnv, ...env });
    services.push(service);
    return service;
  };
  afterEach(async ({ task }) => {
    for (const service of services) service.child.kill('SIGCONT');
    await Promise.all(services.map((s) => s.stop('SIGKILL')));
    // A failure's evidence (or every test's, with PLAYS_TEST_KEEP_LOGS=1): each service's log, in start order.
    if (task.result?.state === 'fail' || process.env.PLAYS_TEST_KEEP_LOGS === '1') {
      const dir = path.resolve(import.meta.dirname, '../test-artifacts/exactly-once');
      fs.mkdirSync(dir, { recursive: true });
      const slug = task.name.replace(/[^a-z0-9]+/gi, '-').slice(0, 60);
      for (const [i, service] of services.entries()) fs.writeFileSync(path.join(dir, `${slug}.${i}.log`), service.log);
    }
    services.length = 0;
  });

  /** Stops every service gracefully (so nothing more lands), failing on an unclean exit. */
  async function stopAll(): Promise<void> {
    const running = services.filter((s) => s.child.exitCode === null && s.child.signalCode === null);
    const codes = await Promise.all(running.map((s) => s.stop('SIGTERM')));
    expect(codes, running.map((s) => s.log.slice(-3_000)).join('\n----\n')).toEqual(codes.map(() => 0));
  }

  it('SIGKILLed three times while draining 50,000 plays (twice before a commit could follow the first rows), each restart batching differently: every play exactly one row', async () => {
    const names = await setUpTopics(admin, 6);
    const total = 50_000;
    await produce(names.topic, plays(total), 2_000);

    // The first two owners die as soon as their first rows land, before a commit can follow: the
    // stream of an owner that dies before its first commit must still be found by the next one, and
    // so must the rows beyond the commit point that the stream before it had written. The third
    // dies mid-drain. Batch sizes differ before and after each crash: the rows already in a stream
    // must be recognised however they were batched when they were appended.
    // The third owner appends at most 2 requests at a time, so its kill lands with plays left.
    const kills: { env: Record<string, string>; grow: number }[] = [
      { env: { SINK_BATCH_MAX_ROWS: '500' }, grow: 1 },
      { env: { SINK_BATCH_MAX_ROWS: '1300' }, grow: 1 },
      { env: { SINK_BATCH_MAX_ROWS: '1000', SINK_MAX_IN_FLIGHT: '2' }, grow: 3_000 },
    ];
    for (const { env, grow } of kills) {
      const before = await countRows(names);
      const service = await start(names, env);
      await until(
        `${grow} more rows land`,
        () => countRows(names),
        (n) => n >= before + grow,
        90_000,
        50,
      );
      expect(await service.stop('SIGKILL')).toBe('SIGKILL');
    }
    // The kills landed mid-drain.
    expect((await tableCounts(names)).distinct).toBeLessThan(total);

    const last = await start(names); // the default batches (4000 rows)
    await expectDelivery(last);
    await committedToEnd(names, 150_000);
    await stopAll();
    await expectExactlyOnce(names, total);
  }, 360_000);

  it('three replicas share the group and one is SIGKILLed mid-drain: every play exactly one row', async () => {
    const names = await setUpTopics(admin, 6);
    const total = 20_000;
    const replicas = [await start(names), await start(names), await start(names)];
    await stableWith(names, 3, 60_000);
    await produce(names.topic, plays(total), 2_000);
    await grownBy(names, 0, 5_000);
    expect(await replicas[1]!.stop('SIGKILL')).toBe('SIGKILL');
    // Its partitions move on when its session times out.
    await committedToEnd(names, 150_000);
    await stopAll();
    await expectExactlyOnce(names, total);
  }, 300_000);

  it('a zombie: a member frozen (SIGSTOP) with appends in flight until its partitions move on, then resumed (SIGCONT), writes nothing twice and loses nothing', async () => {
    const names = await setUpTopics(admin, 6);
    const total = 20_000;
    // The zombie writes small appends, one after the other per connection's in-flight window, so
    // many rows are taken and not yet written when it freezes.
    const zombie = await start(names, { SINK_BATCH_MAX_ROWS: '250', SINK_LINGER_MS: '50' });
    await start(names); // the survivor
    await stableWith(names, 2, 60_000);
    await produce(names.topic, plays(total), 2_000);
    await until(
      'the zombie writes',
      async () => sample(await metricsOf(zombie), 'plays_written_total'),
      (n) => n >= 1_000,
      60_000,
      200,
    );
    const zombieHeld = sample(await metricsOf(zombie), 'sink_buffered_rows');
    zombie.child.kill('SIGSTOP');
    try {
      // The group notices (session timeout) and gives all partitions to the survivor.
      await stableWith(names, 1, 90_000);
      const committed = await committedTotal(admin, names);
      // The survivor writes on the zombie's partitions before the zombie wakes.
      await until(
        'the survivor commits past the freeze',
        () => committedTotal(admin, names),
        (n) => n >= Math.min(total, committed + 3_000),
        60_000,
      );
    } finally {
      zombie.child.kill('SIGCONT');
    }
    await committedToEnd(names, 150_000);
    // The zombie's late appends and commits have had time to be refused.
    await sleep(3_000);
    expect(zombie.child.exitCode, zombie.log.slice(-3_000)).toBeNull();
    await stopAll();
    await expectExactlyOnce(names, total);
    // The zombie held rows when it froze (else this tested nothing).
    expect(zombieHeld).toBeGreaterThan(0);
  }, 300_000);

  it.runIf(deps.managed)(
    'the broker stopped and restarted mid-drain: every play exactly one row',
    async () => {
      const names = await setUpTopics(admin, 6);
      const total = 20_000;
      await produce(names.topic, plays(total), 2_000);
      const service = await start(names);
      await grownBy(names, 0, 6_000);
      await stopDep('kafka');
      try {
        await sleep(5_000);
      } finally {
        await startDep('kafka');
      }
      await committedToEnd(names, 180_000);
      expect(service.child.exitCode, service.log.slice(-3_000)).toBeNull();
      await stopAll();
      await expectExactlyOnce(names, total);
    },
    300_000,
  );

  it.runIf(deps.managed)(
    `the emulator frozen (SIGSTOP) for ${EMULATOR_FREEZE_S} s mid-drain: every play exactly one row`,
    async () => {
      const emulator = emulatorProcesses();
      expect(emulator.length, `no emulator process found from ${testDeps.dir}/emulator.pid`).toBeGreaterThan(0);
      const names = await setUpTopics(admin, 3);
      const total = 20_000;
      await produce(names.topic, plays(total), 2_000);
      const service = await start(names, { SINK_RETRY_MAX_DELAY_MS: '2000' });
      await grownBy(names, 0, 4_000);
      for (const pid of emulator) process.kill(pid, 'SIGSTOP');
      try {
        await sleep(EMULATOR_FREEZE_S * 1_000);
      } finally {
        for (const pid of emulator) process.kill(pid, 'SIGCONT');
      }
      await committedToEnd(names, 150_000);
      expect(await fallbacks(service)).toBe(0);
      await stopAll();
      await expectExactlyOnce(names, total);
    },
    300_000,
  );

  it.runIf(deps.managed)(
    'the emulator stopped for 30 s mid-drain (its streams are lost): not ready meanwhile, memory bounded; then ready again, nothing lost, and a play twice only past the last commit before the outage, with a counted fallback',
    async () => {
      const names = await setUpTopics(admin, 3);
      const total = 20_000;
      await produce(names.topic, plays(total), 2_000);
      const service = await start(names, {
        SINK_MAX_BUFFERED_ROWS: '2000',
        SINK_RETRY_MAX_DELAY_MS: '2000',
        // Well inside the outage, so readiness must go down during it.
        READINESS_WRITE_FAILURE_MS: '5000',
      });
      await expectDelivery(service);
      await grownBy(names, 0, 4_000);
      // Where each partition's last commit before the outage was at least: the stretch the design
      // may write twice (at-least-once from the last commit) lies past it.
      const committedBefore = await committedOffsets(names);
      const peaks: number[] = [];
      const readiness: Awaited<ReturnType<typeof probe>>[] = [];
      await stopDep('emulator');
      try {
        for (let second = 0; second < 30; second++) {
          await sleep(1_000);
          expect(service.child.exitCode, service.log.slice(-3_000)).toBeNull();
          peaks.push(rssMegabytes(service.child.pid!));
          readiness.push(await probe(service, '/health/ready'));
        }
        expect((await probe(service, '/health/live')).status).toBe(200);
      } finally {
        await startDep('emulator');
      }
      // The outage came mid-drain: plays were left to write.
      expect(committedBefore.reduce((a, b) => a + b, 0)).toBeLessThan(total);
      expect(Math.max(...peaks)).toBeLessThan(400);
      // Not ready while the writes fail, for that reason (past READINESS_WRITE_FAILURE_MS).
      const down = readiness.filter((r) => r.status === 503 && r.body.error?.bigquery_writes?.status === 'down');
      expect(down.length, JSON.stringify(readiness.at(-1))).toBeGreaterThan(0);
      expect(down.at(-1)?.body.error?.bigquery_writes?.reason).toMatch(/writes failing for \d+s/);

      await committedToEnd(names, 150_000);
      // Ready again once the writes work.
      await until(
        'ready again',
        () => probe(service, '/health/ready'),
        (r) => r.status === 200,
        60_000,
      );
      // The restarted emulator lost the streams, so the writer fell back (and says so).
      const fellBack = await fallbacks(service);
      await stopAll();

      const ends = await endOffsets(names);
      expect(ends.reduce((a, b) => a + b, 0)).toBe(total);
      // Nothing lost: every (partition, offset) is a row.
      expect((await tableCounts(names)).distinct).toBe(total);
      expect(await committedOffsets(names)).toEqual(ends);
      expect(await lettersIn(names), 'dead letters').toBe(0);
      expect(fellBack, 'exactly_once_fallbacks_total').toBeGreaterThan(0);
      // A play twice only where the writer fell back: past its partition's last commit before the
      // outage, two copies at most (one outage), and the same play both times.
      const twice = await queryRows<{ p: number; o: number; copies: number; versions: number }>(
        names,
        `SELECT kafka_partition AS p, kafka_offset AS o, COUNT(*) AS copies,
                COUNT(DISTINCT CONCAT(CAST(user_id AS STRING), song_name, CAST(timestamp AS STRING))) AS versions
         FROM $table GROUP BY kafka_partition, kafka_offset HAVING COUNT(*) > 1`,
      );
      expect(
        twice
          .filter(({ p, o, copies, versions }) => o < committedBefore[p]! || copies > 2 || versions > 1)
          .slice(0, 10),
        `duplicates outside the fallen-back stretches (committed before the outage: ${JSON.stringify(committedBefore)})`,
      ).toEqual([]);
    },
    300_000,
  );

  describe('rows the emulator rejects (a table stricter than ours: event_id REQUIRED)', () => {
    /** Every `every`-th message is a play without event_id: BigQuery rejects it, so it is dead-lettered. */
    function mixed(total: number, every: number) {
      const messages = Array.from({ length: total }, (_, i) => {
        const rejected = i % every === 0;
        return {
          key: rejected ? `rejected-${i}` : `ok-${i}`,
          value: JSON.stringify(play(i, rejected ? {} : { event_id: `ok-${i}` })),
        };
      });
      return { messages, rejected: messages.filter((m) => m.key.startsWith('rejected-')) };
    }

    async function strictTable(names: Names): Promise<void> {
      const [dataset] = await bigquery.createDataset(names.dataset);
      await dataset.createTable(names.table, {
        schema: PLAY_TABLE_SCHEMA.map((f) => (f.name === 'event_id' ? { ...f, mode: 'REQUIRED' } : f)),
      });
    }

    /** Each rejected play is a letter (at least once), no accepted play is; every accepted play is one row. */
    async function expectRowsAndLetters(names: Names, total: number, rejected: { key: string }[]): Promise<void> {
      const expected = new Set(rejected.map((m) => m.key));
      const letters = await letterKeys(names, expected, 30_000);
      const accepted = total - rejected.length;
      const [row] = await queryRows<{ rows: number; distinct: number; ids: number }>(
        names,
        `SELECT COUNT(*) AS rows,
                COUNT(DISTINCT CONCAT(CAST(kafka_partition AS STRING), "/", CAST(kafka_offset AS STRING))) AS distinct,
                COUNT(DISTINCT event_id) AS ids
         FROM $table`,
      );
      // Every message is exactly one of: one row, or a letter.
      expect({
        ...row,
        duplicates: await duplicates(names),
        lettersMissing: [...expected].filter((key) => !letters.has(key)).slice(0, 10),
        lettersMissingCount: [...expected].filter((key) => !letters.has(key)).length,
        lettersNotRejected: [...letters].filter((key) => !expected.has(key)).slice(0, 10),
      }).toEqual({
        rows: accepted,
        distinct: accepted,
        ids: accepted,
        duplicates: [],
        lettersMissing: [],
        lettersMissingCount: 0,
        lettersNotRejected: [],
      });
      expect(await committedOffsets(names)).toEqual(await endOffsets(names));
    }

    it('a rejected row is dead-lettered and the rest of its append lands exactly once', async () => {
      const names = await setUpTopics(admin, 1);
      await strictTable(names);
      const { messages, rejected } = mixed(3_000, 10);
      await produce(names.topic, messages);
      // Large appends: each holds rejected rows among accepted ones.
      const service = await start(names, { SINK_BATCH_MAX_ROWS: '1000', SINK_LINGER_MS: '1000' });
      await expectDelivery(service);
      await committedToEnd(names, 90_000);
      await stopAll();
      await expectRowsAndLetters(names, messages.length, rejected);
    }, 180_000);

    it('rejected rows and a SIGKILL mid-drain: the restart skips exactly the rows already written', async () => {
      const names = await setUpTopics(admin, 3);
      await strictTable(names);
      const { messages, rejected } = mixed(12_000, 37);
      await produce(names.topic, messages, 2_000);
      const first = await start(names, { SINK_BATCH_MAX_ROWS: '700' });
      await grownBy(names, 0, 3_000);
      expect(await first.stop('SIGKILL')).toBe('SIGKILL');
      await start(names, { SINK_BATCH_MAX_ROWS: '1500' });
      await committedToEnd(names, 150_000);
      await stopAll();
      await expectRowsAndLetters(names, messages.length, rejected);
    }, 240_000);

    it.skipIf(DELIVERY === 'at-least-once')(
      'a partition whose rejected row cannot be dead-lettered (the topic refuses the letter) stops alone: its rows hold only their share, the other partitions are written and committed, and fixing the topic writes every play exactly once',
      async () => {
        const names = await setUpTopics(admin, 3);
        await strictTable(names);
        // The letter of partition 0's rejected play is too large for the topic, even compressed.
        await setMaxMessageBytes(admin, names.dlqTopic, 20_000);
        const rejected = [
          {
            partition: 0,
            key: 'rejected-huge',
            value: JSON.stringify(play(0, { context: randomBytes(45_000).toString('base64') })),
          },
        ];
        const perPartition = 3_000;
        const messages = [...rejected];
        for (const partition of [0, 1, 2]) {
          for (let i = 1; i <= perPartition; i++) {
            const n = partition * 10_000 + i;
            messages.push({ partition, key: `ok-${n}`, value: JSON.stringify(play(n, { event_id: `ok-${n}` })) });
          }
        }
        await produce(names.topic, messages, 500);
        // A buffer smaller than partition 0's rows: without a share per lane, they fill it and every put waits.
        const service = await start(names, { SINK_MAX_BUFFERED_ROWS: '1500', READINESS_WRITE_FAILURE_MS: '5000' });
        await expectDelivery(service);

        const ends = await endOffsets(names);
        const committed = await until(
          'partitions 1 and 2 committed to their end',
          () => committedOffsets(names),
          (offsets) => offsets[1] === ends[1] && offsets[2] === ends[2],
          120_000,
          1_000,
        );
        expect(committed[0]).toBe(0);
        const ready = await until(
          'readiness names partition 0 as held',
          () => probe(service, '/health/ready'),
          ({ body }) => /partition 0's rows have waited/.test(body.error?.kafka_consumer?.reason ?? ''),
          60_000,
        );
        expect(ready.body.error?.kafka_consumer?.held).toEqual([expect.objectContaining({ partition: 0 })]);
        // Partition 0's lane holds its share (1500 over 3 partitions) and a chunk, not the buffer.
        expect(sample(await metricsOf(service), 'sink_buffered_rows')).toBeLessThan(1_500);

        // The operator raises the topic's limit: the letter goes, then partition 0's rows after it.
        await setMaxMessageBytes(admin, names.dlqTopic, 1_048_588);
        await committedToEnd(names, 120_000);
        await stopAll();
        await expectRowsAndLetters(names, messages.length, rejected);
      },
      240_000,
    );
  });

  it('a rebalance: a second replica joins mid-drain, then leaves gracefully mid-drain: every play exactly one row', async () => {
    const names = await setUpTopics(admin, 6);
    const half = 12_000;
    await produce(names.topic, plays(half), 2_000);
    await start(names);
    await grownBy(names, 0, 3_000);
    const second = await start(names);
    await stableWith(names, 2, 60_000);
    // More plays while both own partitions, so the second leaves with a backlog behind it.
    await produce(names.topic, plays(half, half), 2_000);
    await until(
      'the second replica writes',
      async () => sample(await metricsOf(second), 'plays_written_total'),
      (n) => n >= 2_000,
      90_000,
    );
    expect(await second.stop('SIGTERM')).toBe(0);
    await committedToEnd(names, 150_000);
    await stopAll();
    await expectExactlyOnce(names, 2 * half);
  }, 240_000);

  it('a graceful stop (SIGTERM) mid-drain and a restart: every play exactly one row', async () => {
    const names = await setUpTopics(admin, 3);
    const total = 20_000;
    await produce(names.topic, plays(total), 2_000);
    // A small buffer: at SIGTERM most of the backlog is still in Kafka, not in the service.
    const first = await start(names, { SINK_MAX_BUFFERED_ROWS: '2000' });
    await grownBy(names, 0, 4_000);
    expect(await first.stop('SIGTERM')).toBe(0);
    expect((await tableCounts(names)).distinct).toBeLessThan(total);
    await start(names);
    await committedToEnd(names, 150_000);
    await stopAll();
    await expectExactlyOnce(names, total);
  }, 180_000);

  it.runIf(deps.managed)(
    `soak: 3 replicas, a steady producer and a seeded schedule of faults (seed ${SOAK_SEED}): every valid play exactly one row, every bad one a letter`,
    async () => {
      const random = seededRandom(SOAK_SEED);
      const schedule = soakSchedule(random, 3, SOAK_SECONDS);
      const replay = `PLAYS_TEST_SOAK_SEED=${SOAK_SEED} PLAYS_TEST_SOAK_SECONDS=${SOAK_SECONDS} PLAYS_TEST_SOAK_RATE=${SOAK_RATE}`;
      const began = Date.now();
      const events: string[] = [];
      const note = (event: string) => {
        const line = `[soak +${((Date.now() - began) / 1000).toFixed(1)}s] ${event}`;
        events.push(line);
        console.log(line);
      };
      note(`${replay}: ${schedule.length} faults: ${JSON.stringify(schedule)}`);
      const emulator = emulatorProcesses();
      expect(emulator.length, `no emulator process found from ${testDeps.dir}/emulator.pid`).toBeGreaterThan(0);
      const names = await setUpTopics(admin, 6);
      const producer = steadyProducer(names.topic, SOAK_RATE, seededRandom(SOAK_SEED + 1));
      try {
        const replicas = [await start(names), await start(names), await start(names)];
        await stableWith(names, 3, 90_000);
        await expectDelivery(replicas[0]!);
        note(`3 replicas stable; producing ${SOAK_RATE}/s to ${names.topic}`);

        for (const fault of schedule) {
          await sleep(fault.gapS * 1_000);
          note(`${JSON.stringify(fault)} (${producer.counts.acknowledged} messages produced)`);
          switch (fault.kind) {
            case 'kill': {
              expect(await replicas[fault.replica]!.stop('SIGKILL')).toBe('SIGKILL');
              await sleep(fault.downS * 1_000);
              replicas[fault.replica] = await start(names, { SINK_BATCH_MAX_ROWS: String(fault.batchRows) });
              break;
            }
            case 'freeze-member': {
              const member = replicas[fault.replica]!;
              member.child.kill('SIGSTOP');
              try {
                // Past its session timeout: the group goes on without it.
                await stableWith(names, 2, 120_000);
                await sleep(fault.pastTimeoutS * 1_000);
              } finally {
                member.child.kill('SIGCONT');
              }
              break;
            }
            case 'freeze-emulator': {
              for (const pid of emulator) process.kill(pid, 'SIGSTOP');
              try {
                await sleep(fault.seconds * 1_000);
              } finally {
                for (const pid of emulator) process.kill(pid, 'SIGCONT');
              }
              break;
            }
            case 'restart-broker': {
              await stopDep('kafka');
              try {
                await sleep(fault.downS * 1_000);
              } finally {
                await startDep('kafka');
              }
              break;
            }
          }
          await stableWith(names, 3, 150_000);
          note(`${fault.kind} over, 3 replicas stable again`);
        }
        await sleep(3_000);
        await producer.stop();
        note(`producer stopped: ${JSON.stringify(producer.counts)}`);

        await committedToEnd(names, 240_000);
        for (const replica of replicas) expect(replica.child.exitCode, replica.log.slice(-3_000)).toBeNull();
        await stopAll();
        note('drained; every replica stopped gracefully');
        await expectSoakOutcome(names, producer.counts, replay);
        note('outcome checked');
      } catch (error) {
        if (error instanceof Error) error.message = `soak (${replay}): ${error.message}\n${events.join('\n')}`;
        throw error;
      } finally {
        // Never leave the producer running past the test, even when a fault failed it.
        await producer.stop().catch(() => undefined);
      }
    },
    Math.max(600_000, (SOAK_SECONDS * 2 + 360) * 1_000),
  );
});
