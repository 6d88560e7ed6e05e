import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { sleep } from '../src/retry/backoff.js';
import type { DepsSettings } from './bench-deps.js';
import type { ImageRuntime } from './image-runtime.js';
import type { PlayTopics } from './play-topics.js';
import { benchCpu, cpuSeconds } from './process-stats.js';
import { say } from './say.js';
import { DEFAULT_SINK, SINK_SETTINGS, type Endpoints, type Sink } from './sinks.js';
import type { StandIns } from './stand-ins.js';
import { startProcess, type Run } from './start-process.js';

export interface ServiceRunnerOptions {
  root: string;
  settings: DepsSettings;
  image: ImageRuntime;
  /** --service-env's settings, over the image's. */
  serviceEnv: Record<string, string>;
  /** --service-port: the service's HTTP port during drains. */
  servicePort: string;
  /** --service-logs, where each run's log lines are kept. */
  logsDir: string | undefined;
  topics: PlayTopics;
  standIns: StandIns;
  brokerPid: () => number;
  roundTripMs: number;
  /** --plays: what a drain drains unless told otherwise. */
  plays: number;
}

/** B: the real service (dist/main.js), writing to a stand-in or the emulator, and its drains. */
export class ServiceRunner {
  constructor(private readonly options: ServiceRunnerOptions) {}

  start(
    topic: string,
    sink: Sink,
    endpoints: Endpoints,
    extra: Record<string, string> = {},
  ): Run & { groupId: string } {
    const { root, settings, image } = this.options;
    const groupId = `service-${randomUUID()}`;
    const run = startProcess(
      root,
      path.join(root, 'dist/main.js'),
      {
        KAFKA_BROKERS: settings.KAFKA_BROKERS,
        ...SINK_SETTINGS[sink],
        BIGQUERY_API_ENDPOINT: endpoints.rest,
        BIGQUERY_STORAGE_API_ENDPOINT: endpoints.storageWrite,
        BIGQUERY_PROJECT_ID: settings.BIGQUERY_PROJECT_ID,
        BIGQUERY_DATASET: `bench_${randomUUID().slice(0, 8)}`,
        KAFKA_TOPIC: topic,
        KAFKA_DLQ_TOPIC: `${topic}.dlq`,
        KAFKA_GROUP_ID: groupId,
        // Its own live topic: each run's live view reads only its own deltas, as one deployment's would.
        LIVE_TOPIC: `${topic}.live-${groupId}`,
        PORT: this.options.servicePort,
        ...image.env,
        ...this.options.serviceEnv,
        ...extra,
      },
      { nodeOptions: image.serviceNodeOptions, logsDir: this.options.logsDir },
    );
    return { ...run, groupId };
  }

  /** Drains `count` plays of `topic` until `rows()` has them all and the group has committed them. */
  async drain(
    topic: string,
    count: number,
    sink: Sink,
    endpoints: Endpoints,
    rows: () => Promise<number> | number,
    extra: Record<string, string> = {},
  ): Promise<{ rate: number; peakRssMb: number }> {
    const { topics, brokerPid } = this.options;
    const run = this.start(topic, sink, endpoints, extra);
    try {
      const joinedAt = await run.joinedAt;
      const cpuAtJoin = [cpuSeconds(run.child.pid!), cpuSeconds(brokerPid()), benchCpu()];
      let firstRowAt = 0;
      let allRowsAt = 0;
      // The stand-in's count is local and cheap to poll often; the group's offsets are read once all rows are in.
      for (;;) {
        const written = await rows();
        if (written > 0 && firstRowAt === 0) firstRowAt = Date.now();
        if (written >= count && allRowsAt === 0) allRowsAt = Date.now();
        if (written >= count && (await topics.committed(topic, run.groupId)) >= count) break;
        if (run.child.exitCode !== null) throw new Error('the service exited during the drain');
        await sleep(10);
      }
      const drainedAt = Date.now();
      const cpu = [cpuSeconds(run.child.pid!), cpuSeconds(brokerPid()), benchCpu()].map((c, i) => c - cpuAtJoin[i]!);
      say(
        `${sink}${endpoints === this.options.standIns.slow ? ` at ${this.options.roundTripMs} ms` : ''}: ${drainedAt - joinedAt} ms from the join ` +
          `(first row in at ${firstRowAt - joinedAt} ms, all at ${allRowsAt - joinedAt} ms, then committed); ` +
          `CPU seconds: service ${cpu[0]!.toFixed(2)}, broker ${cpu[1]!.toFixed(2)}, benchmark and stand-ins ${cpu[2]!.toFixed(2)}`,
      );
      return { rate: count / ((drainedAt - joinedAt) / 1000), peakRssMb: run.peakRssMb() };
    } finally {
      await run.stop();
    }
  }

  /** A drain into a stand-in, counted by it; with its requests per 1,000 rows. */
  async drainWith(
    topic: string,
    sink: Sink,
    endpoints: Endpoints,
    count = this.options.plays,
    extra: Record<string, string> = {},
  ) {
    const counter = this.options.standIns.counterOf(sink, endpoints);
    counter.reset();
    const drained = await this.drain(topic, count, sink, endpoints, () => counter.rows, extra);
    return { ...drained, requestsPer1000: (counter.requests / counter.rows) * 1000 };
  }

  /** Peak RSS of B (default sink) draining a preloaded backlog, --memory-repeat times, each with a fresh group. */
  async memoryDrains(count: number, repeat: number) {
    const { topics, standIns } = this.options;
    const memoryTopic = await topics.fresh();
    await topics.preload(memoryTopic, count);
    const drains = [];
    for (let i = 0; i < repeat; i++) {
      drains.push(await this.drainWith(memoryTopic, DEFAULT_SINK, standIns.instant, count));
      say(
        `memory drain ${i + 1}: peak RSS ${drains.at(-1)!.peakRssMb.toFixed(0)} MB, ${drains.at(-1)!.rate.toFixed(0)}/s`,
      );
    }
    return drains;
  }
}
