import kafkajs, { type Message } from 'kafkajs';
import { Counter } from 'prom-client';
import { parseEnv } from '../config/parse-env.js';
import type { DeadLetterTopic } from './dead-letter-topic.js';
import { DeadLetters, type DeadLetter } from './dead-letters.service.js';

/** A broker's answer as kafkajs raises it (its typings know only the message). */
const protocolError = (type: string, message: string) =>
  new kafkajs.KafkaJSProtocolError({ type, message, retriable: false } as unknown as Error);
const tooLarge = () =>
  protocolError(
    'MESSAGE_TOO_LARGE',
    'The request included a message larger than the max message size the server will accept',
  );

/**
 * A dead-letter topic with a size limit, like the broker's: a send whose records add up to more than
 * `limit` bytes is refused as too large; `failNext` queues other failures.
 */
class FakeTopic implements DeadLetterTopic {
  readonly name = 'plays.dlq';
  connected = true;
  sends: Message[][] = [];
  written: Message[] = [];
  failNext: Error[] = [];
  constructor(public limit: number) {}
  start = () => Promise.resolve();
  stop = () => Promise.resolve();
  maxMessageBytes = () => Promise.resolve(this.limit);
  send(messages: Message[]): Promise<void> {
    this.sends.push(messages);
    const failure = this.failNext.shift();
    if (failure) return Promise.reject(failure);
    const bytes = messages.reduce((sum, m) => sum + (m.value as Buffer).length, 0);
    if (bytes > this.limit) return Promise.reject(tooLarge());
    this.written.push(...messages);
    return Promise.resolve();
  }
}

function letter(index: number, size: number, done: () => void): DeadLetter {
  return {
    source: {
      topic: 'plays',
      partition: 0,
      offset: String(index),
      key: null,
      value: Buffer.alloc(size, 97 + (index % 26)),
      headers: {},
    },
    reason: 'bad_event_type',
    detail: 'event_type must be "song_completed"',
    done,
  };
}

function deadLetters(topic: FakeTopic) {
  const config = parseEnv({ BIGQUERY_PROJECT_ID: 'plays-test', SINK_RETRY_MAX_DELAY_MS: '100' });
  const counter = new Counter({ name: 'dead_lettered', help: 'x', labelNames: ['reason'], registers: [] });
  const service = new DeadLetters(config, counter, topic);
  service.onApplicationBootstrap();
  return service;
}

const soon = (ms = 20_000) => Date.now() + ms;

describe('DeadLetters', () => {
  beforeEach(() => vi.spyOn(console, 'error').mockImplementation(() => undefined));
  afterEach(() => vi.useRealTimers());

  it('sends letters in batches bounded by the topic limit, every letter once, each done once', async () => {
    const topic = new FakeTopic(100_000);
    const service = deadLetters(topic);
    const done = vi.fn();
    // 3,000 letters of 5 KB: 15 MB, far over one request.
    service.put(Array.from({ length: 3_000 }, (_, i) => letter(i, 5_000, done)));
    expect(await service.flush(soon())).toBe(true);
    expect(topic.written).toHaveLength(3_000);
    expect(topic.written.map((m) => m.headers!['dlq.source.offset'])).toEqual(
      Array.from({ length: 3_000 }, (_, i) => String(i)),
    );
    expect(done).toHaveBeenCalledTimes(3_000);
    // Bounded by bytes (about 19 letters of 5 KB fit in 100 KB), and no request refused.
    expect(Math.max(...topic.sends.map((s) => s.length))).toBeLessThanOrEqual(20);
    expect(topic.sends.length).toBe(Math.ceil(3_000 / Math.max(...topic.sends.map((s) => s.length))));
    expect(service.health).toMatchObject({ queued: 0, queuedBytes: 0, failingSince: null, problem: null });
    await service.onApplicationShutdown();
  });

  it('splits a batch the broker refuses as too large (its limit lowered since it was read) until each part fits', async () => {
    const topic = new FakeTopic(1_000_000);
    const service = deadLetters(topic);
    await new Promise((resolve) => setTimeout(resolve, 10));
    topic.limit = 12_000; // lowered behind the service's back
    const done = vi.fn();
    service.put(Array.from({ length: 40 }, (_, i) => letter(i, 5_000, done)));
    expect(await service.flush(soon())).toBe(true);
    expect(topic.written).toHaveLength(40);
    expect(new Set(topic.written.map((m) => m.headers!['dlq.source.offset'])).size).toBe(40);
    expect(done).toHaveBeenCalledTimes(40);
    expect(topic.sends.some((s) => s.length === 40)).toBe(true); // the first, refused whole
    await service.onApplicationShutdown();
  });

  it('keeps a letter too large even alone, reports it once, sends the others, and sends it once the limit is raised', async () => {
    const topic = new FakeTopic(10_000);
    const service = deadLetters(topic);
    const logged = vi.spyOn(service['logger'], 'error').mockImplementation(() => undefined);
    const small = vi.fn();
    const big = vi.fn();
    service.put([letter(0, 1_000, small), letter(1, 50_000, big), letter(2, 1_000, small)]);
    await vi.waitFor(() => expect(small).toHaveBeenCalledTimes(2));
    expect(await service.flush(soon(100))).toBe(false);
    expect(big).not.toHaveBeenCalled();
    const { problem, failingSince, queued } = service.health;
    expect(queued).toBe(1);
    expect(failingSince).not.toBeNull();
    expect(problem).toContain('plays/0@1');
    expect(problem).toContain('raise max.message.bytes on topic plays.dlq');
    expect(logged).toHaveBeenCalledTimes(1);

    topic.limit = 100_000; // the operator raises the topic's limit
    await vi.waitFor(() => expect(big).toHaveBeenCalledTimes(1), { timeout: 15_000 });
    expect(service.health).toMatchObject({ queued: 0, problem: null, failingSince: null });
    expect(logged).toHaveBeenCalledTimes(1);
    await service.onApplicationShutdown();
  }, 20_000);

  it('retries transient and permanent faults with backoff and loses nothing', async () => {
    const topic = new FakeTopic(1_000_000);
    const service = deadLetters(topic);
    topic.failNext = [
      new kafkajs.KafkaJSConnectionError('Connection error: connect ECONNREFUSED'),
      protocolError('TOPIC_AUTHORIZATION_FAILED', 'denied'),
    ];
    const done = vi.fn();
    service.put(Array.from({ length: 10 }, (_, i) => letter(i, 100, done)));
    await vi.waitFor(() => expect(service.health.problem).toContain('grant'));
    // For readiness: the kind and what to change, not the broker's words.
    expect(service.health.summary).toBe(
      "kafka error (TOPIC_AUTHORIZATION_FAILED); to fix: grant this client's principal Write/Read (and Describe) on topic plays.dlq",
    );
    expect(await service.flush(soon())).toBe(true);
    expect(topic.written.map((m) => m.headers!['dlq.source.offset'])).toEqual(
      Array.from({ length: 10 }, (_, i) => String(i)),
    );
    expect(done).toHaveBeenCalledTimes(10);
    expect(service.health.failingSince).toBeNull();
    await service.onApplicationShutdown();
  });

  it('keeps the original key, value and headers, and adds why', async () => {
    const topic = new FakeTopic(1_000_000);
    const service = deadLetters(topic);
    const original = letter(7, 10, () => undefined);
    original.source.key = Buffer.from('k');
    original.source.headers = { trace: Buffer.from('t') };
    service.put([original]);
    await service.flush(soon());
    const [message] = topic.written;
    expect(message!.key).toEqual(Buffer.from('k'));
    expect(message!.value).toEqual(original.source.value);
    expect(message!.headers).toMatchObject({
      trace: Buffer.from('t'),
      'dlq.reason': 'bad_event_type',
      'dlq.source.topic': 'plays',
      'dlq.source.partition': '0',
      'dlq.source.offset': '7',
    });
    await service.onApplicationShutdown();
  });
});
