import { randomUUID } from 'node:crypto';
import { Kafka, logLevel, type EachBatchPayload, type EachMessagePayload } from 'kafkajs';
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

  // The service commits with eachBatch's commitOffsetsIfNecessary(offsets): one request as the member
  // kafkajs is at the call, never retried by kafkajs. What that rests on: a member whose generation is
  // over (here: stuck past its session timeout while another took its partition) is refused, so its
  // late commit cannot replace the new owner's commit and metadata.
  it("refuses a commit of a member whose generation is over, and keeps the new owner's offset and metadata", async () => {
    const single = `stale-commit-${randomUUID()}`;
    const group = `stale-commit-group-${randomUUID()}`;
    await admin.createTopics({ topics: [{ topic: single, numPartitions: 1 }], waitForLeaders: true });
    await producer.send({
      topic: single,
      acks: -1,
      messages: Array.from({ length: 10 }, (_, i) => ({ value: `m${i}` })),
    });
    const options = { groupId: group, sessionTimeout: 6_000, rebalanceTimeout: 8_000, heartbeatInterval: 500 };
    const stale = kafka.consumer(options);
    const next = kafka.consumer(options);
    let staleCommit: EachBatchPayload['commitOffsetsIfNecessary'] | null = null;
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let nextCommitted = false;
    try {
      await stale.connect();
      await stale.subscribe({ topics: [single], fromBeginning: true });
      void stale.run({
        autoCommit: false,
        eachBatch: async (payload) => {
          staleCommit ??= (offsets) => payload.commitOffsetsIfNecessary(offsets);
          // Stuck, with no heartbeat, until its session times out and the partition moves on.
          await released;
        },
      });
      await vi.waitFor(() => expect(staleCommit).not.toBeNull(), { timeout: 30_000 });
      await next.connect();
      await next.subscribe({ topics: [single], fromBeginning: true });
      void next.run({
        autoCommit: false,
        eachBatch: async (payload) => {
          if (nextCommitted) return;
          await payload.commitOffsetsIfNecessary({
            topics: [{ topic: single, partitions: [{ partition: 0, offset: '10', metadata: 'next owner' } as never] }],
          });
          nextCommitted = true;
        },
      });
      await vi.waitFor(() => expect(nextCommitted).toBe(true), { timeout: 45_000, interval: 200 });

      const late = staleCommit!({
        topics: [{ topic: single, partitions: [{ partition: 0, offset: '3', metadata: 'stale owner' } as never] }],
      });
      await expect(late).rejects.toMatchObject({
        type: expect.stringMatching(/UNKNOWN_MEMBER_ID|ILLEGAL_GENERATION/) as string,
      });
      const [committed] = await admin.fetchOffsets({ groupId: group, topics: [single] });
      expect(committed!.partitions).toEqual([{ partition: 0, offset: '10', metadata: 'next owner' }]);
    } finally {
      release();
      await Promise.all([stale.disconnect(), next.disconnect()]);
    }
  }, 90_000);
});
