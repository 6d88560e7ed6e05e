import { randomUUID } from 'node:crypto';
import kafkajs, { type Admin, type Kafka } from 'kafkajs';
import { sleep } from '../src/retry/backoff.js';
import { say } from './say.js';

export const PARTITIONS = 6;

/** The drains' topics: made fresh, preloaded with original plays as fast as the broker takes them. */
export class PlayTopics {
  constructor(
    private readonly kafka: Kafka,
    private readonly admin: Admin,
    private readonly originals: Buffer[],
  ) {}

  async fresh(partitions = PARTITIONS): Promise<string> {
    const topic = `bench-${randomUUID().slice(0, 8)}`;
    await this.admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: false });
    // kafkajs' waitForLeaders gives up on UNKNOWN_TOPIC_OR_PARTITION, which a just-started broker answers for a while.
    for (const deadline = Date.now() + 30_000; ; await sleep(200)) {
      try {
        const { topics } = await this.admin.fetchTopicMetadata({ topics: [topic] });
        if (topics[0]?.partitions.length === partitions && topics[0].partitions.every((p) => p.leader >= 0))
          return topic;
      } catch (error) {
        if (Date.now() > deadline) throw error;
      }
      if (Date.now() > deadline) throw new Error(`topic ${topic} has no leaders after 30 s`);
    }
  }

  async preload(topic: string, count: number): Promise<void> {
    const producer = this.kafka.producer({ createPartitioner: kafkajs.Partitioners.DefaultPartitioner });
    await producer.connect();
    const started = Date.now();
    const inFlight = new Set<Promise<unknown>>();
    for (let sent = 0; sent < count; sent += 2_000) {
      const messages = Array.from({ length: Math.min(2_000, count - sent) }, (_, i) => ({
        value: this.originals[(sent + i) % this.originals.length]!,
      }));
      const send = producer.send({ topic, acks: 1, messages }).finally(() => inFlight.delete(send));
      inFlight.add(send);
      if (inFlight.size >= 6) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    await producer.disconnect();
    say(`preloaded ${count} plays into ${topic} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }

  /**
   * Deletes every topic a benchmark made on its own broker (.deps/bench): the plays topics and the
   * service's dead-letter and live topics named after them, this run's and any a killed run left.
   * Left there, they piled up run after run (2,826 partitions, 2.2 GB after a few weeks), and each
   * live-view drain's topic creation then held up its first row by about 40 ms.
   */
  async removeAll(): Promise<void> {
    const topics = (await this.admin.listTopics()).filter((topic) => topic.startsWith('bench-'));
    if (topics.length > 0) await this.admin.deleteTopics({ topics });
  }

  /** The plays a group has committed on `topic`, over all partitions. */
  async committed(topic: string, groupId: string): Promise<number> {
    const [offsets] = await this.admin.fetchOffsets({ groupId, topics: [topic] });
    return (offsets?.partitions ?? []).reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0);
  }
}
