import { randomUUID } from 'node:crypto';
import { Kafka, logLevel, type EachMessagePayload } from 'kafkajs';
import { inject } from 'vitest';

// Proves the broker that deps:up starts works through kafkajs, the client the service uses:
// a consumer group, manual commits, and resuming from the committed offset.
const { KAFKA_BROKERS } = inject('deps');
const kafka = new Kafka({ clientId: 'plays-test', brokers: KAFKA_BROKERS.split(','), logLevel: logLevel.NOTHING });

async function consumeUntil(
  groupId: string,
  topic: string,
  count: number,
  commit: boolean,
): Promise<EachMessagePayload[]> {
  const consumer = kafka.consumer({ groupId });
  const seen: EachMessagePayload[] = [];
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`saw ${seen.length} of ${count} messages`)), 60_000);
      void consumer.run({
        autoCommit: false,
        eachMessage: async (payload) => {
          seen.push(payload);
          if (commit) {
            const next = (BigInt(payload.message.offset) + 1n).toString();
            await consumer.commitOffsets([{ topic, partition: payload.partition, offset: next }]);
          }
          if (seen.length === count) {
            clearTimeout(timer);
            resolve();
          }
        },
      });
    });
  } finally {
    await consumer.disconnect();
  }
  return seen;
}

describe('Kafka broker (deps:up)', () => {
  const topic = `deps-check-${randomUUID()}`;
  const groupId = `deps-check-group-${randomUUID()}`;
  const admin = kafka.admin();
  const producer = kafka.producer();

  beforeAll(async () => {
    await Promise.all([admin.connect(), producer.connect()]);
    await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true });
  });
  afterAll(async () => {
    await Promise.all([admin.disconnect(), producer.disconnect()]);
  });

  it('produces, consumes in a group with manual commits, and resumes from the committed offset', async () => {
    const values = Array.from({ length: 30 }, (_, i) => `play-${i}`);
    await producer.send({ topic, acks: -1, messages: values.slice(0, 20).map((value) => ({ key: value, value })) });

    const first = await consumeUntil(groupId, topic, 20, true);
    expect(first.map((p) => p.message.value?.toString()).sort()).toEqual(values.slice(0, 20).sort());

    const committed = await admin.fetchOffsets({ groupId, topics: [topic] });
    const total = committed[0]!.partitions.reduce((sum, p) => sum + Number(p.offset), 0);
    expect(total).toBe(20);

    await producer.send({ topic, acks: -1, messages: values.slice(20).map((value) => ({ key: value, value })) });
    const second = await consumeUntil(groupId, topic, 10, false);
    expect(second.map((p) => p.message.value?.toString()).sort()).toEqual(values.slice(20).sort());
  });
});
