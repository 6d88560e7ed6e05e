import kafkajs from 'kafkajs';
import { sleep } from '../src/retry/backoff.js';
import type { BenchContext } from './bench-context.js';
import { DEFAULT_SINK } from './sinks.js';

export type FreshnessViewer = (
  baseUrl: string,
  produceOnePlay: () => Promise<void>,
  samples: number,
) => Promise<number[]>;

/** A viewer's freshness against a service at its defaults (plus `extra`) writing to the emulator. */
export async function measureFreshness(
  { flags, topics, service, standIns, kafka, originals }: BenchContext,
  extra: Record<string, string>,
  viewer: FreshnessViewer,
  samples: number,
): Promise<number[]> {
  const freshnessTopic = await topics.fresh();
  const freshnessPort = flags['freshness-port'];
  const run = service.start(freshnessTopic, DEFAULT_SINK, standIns.emulator, { PORT: String(freshnessPort), ...extra });
  try {
    await run.joinedAt;
    const producer = kafka.producer({ createPartitioner: kafkajs.Partitioners.DefaultPartitioner });
    await producer.connect();
    try {
      // The live view answers once rebuilt: ready first (as an orchestrator would wait).
      for (let i = 0; ; i++) {
        const ready = await fetch(`http://127.0.0.1:${freshnessPort}/health/ready`).catch(() => null);
        if (ready?.ok) break;
        if (i > 300) throw new Error('the freshness run never became ready');
        await sleep(100);
      }
      return await viewer(
        `http://127.0.0.1:${freshnessPort}`,
        async () => {
          const play = JSON.parse(originals[0]!.toString()) as Record<string, unknown>;
          const now = new Date().toISOString().slice(0, 19).replace('T', ' ');
          await producer.send({
            topic: freshnessTopic,
            acks: -1,
            messages: [{ value: JSON.stringify({ ...play, timestamp: now }) }],
          });
        },
        samples,
      );
    } finally {
      await producer.disconnect();
    }
  } finally {
    await run.stop();
  }
}
