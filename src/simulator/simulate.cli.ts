// The simulator as a command, for load tests and demos:
//
//   npm run simulate -- --count 100000 --rate 5000 [--topic T] [--brokers host:port,...] [--seed N]
//
// Same generator and settings (SIMULATOR_*, KAFKA_*) as the built-in simulator; flags override them.
// Plays go out in large batched sends, several in flight, paced to --rate plays/s (0: as fast as possible).
import { parseArgs } from 'node:util';
import { Logger } from '@nestjs/common';
import kafkajs, { type Producer } from 'kafkajs';
import type { Env } from '../config/env.schema.js';
import { ConfigValidationError, parseEnv } from '../config/parse-env.js';
import { errorText } from '../errors.js';
import { kafkaClientConfig } from '../kafka/kafka-client-config.js';
import { PlayGenerator } from './play-generator.js';

const USAGE = `usage: npm run simulate -- [--count N] [--rate N] [--topic T] [--brokers host:port,...] [--seed N]
  --count    plays to send (default: SIMULATOR_MAX_EVENTS, else 1000)
  --rate     plays per second, 0 for as fast as possible (default 1000)
  --topic    topic (default: SIMULATOR_TOPIC, else KAFKA_TOPIC)
  --brokers  bootstrap brokers (default: KAFKA_BROKERS)
  --seed     seed for reproducible plays (default: SIMULATOR_SEED, else random)
Other settings come from the SIMULATOR_* and KAFKA_* variables, as for the service.`;

/** Bytes per send at most: well under the broker's 1 MB record-batch limit, whatever the song names. */
const SEND_BYTES = 512 * 1024;
const MAX_BATCH = 5_000;
const IN_FLIGHT = 8;

interface Options {
  count: number;
  rate: number;
  topic: string;
  config: Env;
}

class UsageError extends Error {}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      count: { type: 'string' },
      rate: { type: 'string' },
      topic: { type: 'string' },
      brokers: { type: 'string' },
      seed: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }

  // Flags go through the service's own validation, under the variable they stand for.
  const flags = Object.fromEntries(
    Object.entries({
      KAFKA_BROKERS: values.brokers,
      SIMULATOR_TOPIC: values.topic,
      SIMULATOR_SEED: values.seed,
    }).filter(([, value]) => value !== undefined),
  );
  let config: Env;
  try {
    // The command never writes to BigQuery, so the service's one required variable gets a stand-in.
    config = parseEnv({ ...process.env, BIGQUERY_PROJECT_ID: 'plays-simulate', ...flags });
  } catch (error) {
    if (!(error instanceof ConfigValidationError)) throw error;
    const flagOf = { KAFKA_BROKERS: '--brokers', SIMULATOR_TOPIC: '--topic', SIMULATOR_SEED: '--seed' };
    const problems = error.problems.map((problem) => {
      const [variable] = problem.split(' ', 1) as [keyof typeof flagOf];
      return variable in flags ? problem.replace(variable, flagOf[variable]) : problem;
    });
    throw new UsageError(problems.join('; '));
  }
  return {
    count: whole('--count', values.count, config.SIMULATOR_MAX_EVENTS ?? 1_000, 1),
    rate: whole('--rate', values.rate, 1_000, 0),
    topic: config.SIMULATOR_TOPIC ?? config.KAFKA_TOPIC,
    config,
  };
}

function whole(flag: string, text: string | undefined, fallback: number, min: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (text.trim() === '' || !Number.isSafeInteger(value) || value < min)
    throw new UsageError(`${flag} must be a whole number of at least ${min} (got ${JSON.stringify(text)})`);
  return value;
}

async function simulate({ count, rate, topic, config }: Options): Promise<number> {
  const generator = new PlayGenerator(config);
  // A play's size, from a generator of its own so a seeded run still starts at the seed's first play.
  const sample = Buffer.byteLength(JSON.stringify(new PlayGenerator(config).next())) + 32;
  // Sends of about 1/20 s of plays keep a given rate smooth; unpaced, the biggest batches the byte cap allows.
  const byteCap = Math.max(1, Math.floor(SEND_BYTES / sample));
  const batch = Math.max(1, Math.min(MAX_BATCH, byteCap, rate > 0 ? Math.ceil(rate / 20) : Infinity));

  const kafka = new kafkajs.Kafka(kafkaClientConfig(config, 'simulate', new Logger('Kafka')));
  const producer: Producer = kafka.producer({
    allowAutoTopicCreation: true,
    createPartitioner: kafkajs.Partitioners.DefaultPartitioner,
  });
  await producer.connect();

  let interrupted = false;
  process.once('SIGINT', () => (interrupted = true));
  let sent = 0;
  let failure: unknown;
  const inFlight = new Set<Promise<void>>();
  const started = performance.now();
  const progress = setInterval(() => report(sent, started, 'so far', process.stderr), 1_000);

  try {
    for (let queued = 0; queued < count && !interrupted && failure === undefined;) {
      const size = Math.min(batch, count - queued);
      if (rate > 0) {
        const due = started + (queued / rate) * 1_000;
        if (due > performance.now()) await sleep(due - performance.now());
      }
      while (inFlight.size >= IN_FLIGHT) await Promise.race(inFlight);
      const now = Date.now();
      const messages = Array.from({ length: size }, () => ({ value: JSON.stringify(generator.next(now)) }));
      const send: Promise<void> = producer.send({ topic, acks: -1, messages }).then(
        () => void (sent += size),
        (error: unknown) => void (failure ??= error),
      );
      inFlight.add(send);
      void send.finally(() => inFlight.delete(send));
      queued += size;
    }
    await Promise.all(inFlight);
  } finally {
    clearInterval(progress);
    await producer.disconnect().catch(() => undefined);
  }

  const how = rate > 0 ? `asked ${rate} plays/s` : 'as fast as possible';
  report(sent, started, `to ${topic} (${how})${interrupted ? ', interrupted' : ''}`, process.stdout);
  if (failure !== undefined) {
    console.error(`simulate: a send failed: ${errorText(failure)}`);
    return 1;
  }
  return interrupted ? 130 : 0;
}

function report(sent: number, started: number, what: string, out: NodeJS.WriteStream): void {
  const seconds = (performance.now() - started) / 1_000;
  const perSecond = seconds > 0 ? Math.round(sent / seconds) : 0;
  out.write(`sent ${sent} plays ${what} in ${seconds.toFixed(2)} s: ${perSecond} plays/s\n`);
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

// kafkajs' info lines would drown the report; warnings and errors still show.
Logger.overrideLogger(['error', 'warn']);
try {
  process.exitCode = await simulate(parseOptions(process.argv.slice(2)));
} catch (error) {
  if (error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
    console.error(`simulate: ${(error as Error).message}\n\n${USAGE}`);
    process.exitCode = 2;
  } else {
    console.error(`simulate: ${errorText(error)}`);
    process.exitCode = 1;
  }
}
