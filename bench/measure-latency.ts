import kafkajs from 'kafkajs';
import { sleep } from '../src/retry/backoff.js';
import type { BenchContext } from './bench-context.js';
import { DEFAULT_SINK } from './sinks.js';

/** Latency: a steady 1,000 plays/s through B with the default sink, produce to row; its p50 and p99 (ms). */
export async function measureLatency({
  flags,
  topics,
  service,
  standIns,
  kafka,
  originals,
}: BenchContext): Promise<{ p50: number; p99: number }> {
  const latencyTopic = await topics.fresh();
  const latencyCounter = standIns.counterOf(DEFAULT_SINK, standIns.instant);
  latencyCounter.reset();
  const latencyRun = service.start(latencyTopic, DEFAULT_SINK, standIns.instant);
  try {
    await latencyRun.joinedAt;
    await sleep(2_000);
    const producer = kafka.producer({ createPartitioner: kafkajs.Partitioners.DefaultPartitioner });
    await producer.connect();
    const seconds = flags['latency-seconds'];
    for (let tick = 0; tick < seconds * 10; tick++) {
      const tickStart = Date.now();
      const messages = Array.from({ length: 100 }, (_, i) => {
        const play = JSON.parse(originals[i]!.toString()) as Record<string, unknown>;
        return { value: JSON.stringify({ ...play, event_id: `lat-${Date.now()}-${tick}-${i}` }) };
      });
      await producer.send({ topic: latencyTopic, acks: 1, messages });
      await sleep(Math.max(0, 100 - (Date.now() - tickStart)));
    }
    await producer.disconnect();
    await sleep(3_000);
    const sorted = [...latencyCounter.latencies].sort((a, b) => a - b);
    if (sorted.length < seconds * 1_000)
      throw new Error(`latency run wrote ${sorted.length} of ${seconds * 1_000} plays`);
    return { p50: sorted[Math.floor(sorted.length * 0.5)]!, p99: sorted[Math.floor(sorted.length * 0.99)]! };
  } finally {
    await latencyRun.stop();
  }
}
