import { Counter } from 'prom-client';
import { Logger } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import kafkajs, { type Producer } from 'kafkajs';
import type { MockInstance } from 'vitest';
import { parseEnv } from '../config/parse-env.js';
import { PlayGenerator } from './play-generator.js';
import { SIMULATOR_JOB, SimulatorService } from './simulator.service.js';

/** A kafkajs producer stand-in: `send` and `connect` do what the test queues, else succeed. */
function fakeProducer() {
  const sends: { topic: string; acks?: number; values: string[] }[] = [];
  const listeners = new Map<string, () => void>();
  const producer = {
    events: { CONNECT: 'producer.connect', DISCONNECT: 'producer.disconnect' },
    on: vi.fn((event: string, listener: () => void) => listeners.set(event, listener)),
    connect: vi.fn(() => {
      listeners.get('producer.connect')?.();
      return Promise.resolve();
    }),
    disconnect: vi.fn(() => Promise.resolve()),
    send: vi.fn(({ topic, acks, messages }: { topic: string; acks?: number; messages: { value: string }[] }) => {
      sends.push({ topic, acks, values: messages.map((message) => message.value) });
      return Promise.resolve([]);
    }),
  };
  return { producer, sends };
}

function simulator(env: Record<string, string> = {}) {
  const { producer, sends } = fakeProducer();
  vi.spyOn(kafkajs.Kafka.prototype, 'producer').mockReturnValue(producer as unknown as Producer);
  const config = parseEnv({ BIGQUERY_PROJECT_ID: 'plays-test', SIMULATOR_ENABLED: 'true', ...env });
  const scheduler = new SchedulerRegistry();
  const counter = (name: string) => new Counter({ name, help: name, registers: [] });
  const service = new SimulatorService(
    config,
    scheduler,
    new PlayGenerator(config),
    counter('produced'),
    counter('failed'),
    counter('skipped'),
  );
  return { service, scheduler, producer, sends };
}

/** A promise with its resolve/reject outside, to hold a send in flight. */
function deferred<T = unknown>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

describe('SimulatorService', () => {
  let errors: MockInstance<Logger['error']>;
  let logs: MockInstance<Logger['log']>;
  beforeEach(() => {
    errors = vi.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    logs = vi.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
  });
  afterEach(() => {
    vi.restoreAllMocks();
    vi.useRealTimers();
  });

  it('registers its interval at bootstrap and sends SIMULATOR_EVENTS_PER_TICK plays per tick, acks all', async () => {
    vi.useFakeTimers();
    const { service, scheduler, sends } = simulator({
      SIMULATOR_INTERVAL_MS: '1000',
      SIMULATOR_EVENTS_PER_TICK: '3',
      KAFKA_TOPIC: 'ingest-topic',
    });
    service.onApplicationBootstrap();
    expect(scheduler.getIntervals()).toEqual([SIMULATOR_JOB]);
    await vi.advanceTimersByTimeAsync(2_500);
    expect(sends).toHaveLength(3); // at once, then at 1 s and 2 s
    for (const send of sends) {
      expect(send).toMatchObject({ topic: 'ingest-topic', acks: -1 });
      expect(send.values).toHaveLength(3);
    }
    expect(service.stats).toEqual({ produced: 9, failed: 0, skippedTicks: 0, outages: 0 });
    await service.beforeApplicationShutdown();
    expect(scheduler.getIntervals()).toEqual([]);
  });

  it('produces to SIMULATOR_TOPIC when set', async () => {
    const { service, sends } = simulator({ SIMULATOR_TOPIC: 'demo-plays' });
    await service.tick();
    expect(sends[0]?.topic).toBe('demo-plays');
  });

  it('never overlaps ticks: a slow send makes the next ticks skip, and counts them', async () => {
    const { service, producer } = simulator();
    const slow = deferred<[]>();
    producer.send.mockReturnValueOnce(slow.promise);
    const first = service.tick();
    await vi.waitFor(() => expect(producer.send).toHaveBeenCalledTimes(1));
    void service.tick();
    void service.tick();
    slow.resolve([]);
    await first;
    expect(producer.send).toHaveBeenCalledTimes(1);
    await service.tick();
    expect(producer.send).toHaveBeenCalledTimes(2);
    expect(service.stats).toMatchObject({ produced: 2, skippedTicks: 2 });
  });

  it('logs a broker outage once, counts it, and resumes by itself', async () => {
    const { service, producer } = simulator({ SIMULATOR_EVENTS_PER_TICK: '2' });
    await service.tick();
    const down = new kafkajs.KafkaJSError('Connection error: connect ECONNREFUSED');
    producer.send.mockRejectedValueOnce(down).mockRejectedValueOnce(down).mockRejectedValueOnce(down);
    for (let i = 0; i < 3; i++) await service.tick();
    expect(errors).toHaveBeenCalledTimes(1);
    expect(String(errors.mock.calls[0]![0])).toMatch(/cannot produce to tony-allen-plays: Connection error/);
    expect(service.stats).toEqual({ produced: 2, failed: 6, skippedTicks: 0, outages: 1 });

    await service.tick();
    expect(service.stats).toMatchObject({ produced: 4, failed: 6, outages: 1 });
    expect(logs.mock.calls.map((call) => String(call[0]))).toContainEqual(
      expect.stringMatching(/producing to tony-allen-plays again after \d+ s/),
    );
  });

  it('tries a failed connect again on the next tick', async () => {
    const { service, producer, sends } = simulator();
    producer.connect.mockRejectedValueOnce(new Error('broker down at start-up'));
    await service.tick();
    expect(sends).toHaveLength(0);
    expect(service.stats.failed).toBe(1);
    await service.tick();
    expect(producer.connect).toHaveBeenCalledTimes(2);
    expect(sends).toHaveLength(1);
  });

  it('stops after SIMULATOR_MAX_EVENTS plays: the last tick sends only what is left', async () => {
    const { service, scheduler, producer, sends } = simulator({
      SIMULATOR_EVENTS_PER_TICK: '2',
      SIMULATOR_MAX_EVENTS: '5',
    });
    service.onApplicationBootstrap();
    for (let i = 0; i < 5; i++) await service.tick();
    expect(sends.map((send) => send.values.length)).toEqual([2, 2, 1]);
    expect(service.stats.produced).toBe(5);
    expect(scheduler.getIntervals()).toEqual([]);
    expect(producer.disconnect).toHaveBeenCalled();
  });

  it('sends the same plays for the same seed', async () => {
    const runs = [];
    for (let run = 0; run < 2; run++) {
      const { service, sends } = simulator({ SIMULATOR_SEED: '99', SIMULATOR_EVENTS_PER_TICK: '5' });
      await service.tick();
      runs.push(sends[0]!.values.map((value) => JSON.parse(value) as Record<string, unknown>));
      vi.restoreAllMocks();
    }
    const withoutTime = (plays: Record<string, unknown>[]) => plays.map(({ timestamp: _, ...play }) => play);
    expect(withoutTime(runs[1]!)).toEqual(withoutTime(runs[0]!));
  });
});
