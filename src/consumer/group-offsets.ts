import type { Admin, Kafka } from '@nestjs/microservices/external/kafka.interface.js';
import type { PartitionStart } from '../sink/sink.contract.js';

/**
 * The group's committed offsets and the topic's, read with the service's one admin client: where an
 * assignment starts, the consumer lag, and what a stop left committed.
 */
export class GroupOffsets {
  /** The admin client withAdmin keeps (of the current Kafka client), while it connects or once connected. */
  private admin: { of: object; connecting: Promise<Admin> } | null = null;

  /** @param client the Kafka client of the moment (the transport makes a new one on each start). */
  constructor(
    private readonly client: () => Kafka | null,
    private readonly groupId: string,
    private readonly topic: string,
  ) {}

  /** Connects the admin client (ahead of its first use). */
  connect(): Promise<void> {
    return this.withAdmin(() => Promise.resolve());
  }

  /** The group's committed offsets (the earliest offset where there is none) and their metadata. */
  async readStarts(partitions: readonly number[]): Promise<Map<number, PartitionStart>> {
    return this.withAdmin(async (admin) => {
      const [[committed], earliest] = await Promise.all([
        admin.fetchOffsets({ groupId: this.groupId, topics: [this.topic] }),
        admin.fetchTopicOffsets(this.topic),
      ]);
      const lowOf = new Map(earliest.map((p) => [p.partition, BigInt(p.low)]));
      const committedOf = new Map(committed?.partitions.map((p) => [p.partition, p]));
      const starts = new Map<number, PartitionStart>();
      for (const partition of partitions) {
        const { offset = '-1', metadata = null } = committedOf.get(partition) ?? {};
        const at = BigInt(offset);
        starts.set(
          partition,
          at >= 0n ? { offset: at, metadata } : { offset: lowOf.get(partition) ?? 0n, metadata: null },
        );
      }
      return starts;
    });
  }

  /** Consumer lag per partition: the broker's end offsets less the group's committed offsets. */
  async lag(): Promise<Map<number, number>> {
    const [ends, [committed]] = await this.withAdmin((admin) =>
      Promise.all([
        admin.fetchTopicOffsets(this.topic),
        admin.fetchOffsets({ groupId: this.groupId, topics: [this.topic] }),
      ]),
    );
    const committedOf = new Map(committed?.partitions.map((p) => [p.partition, Number(p.offset)]));
    const lagOf = new Map<number, number>();
    for (const { partition, high, low } of ends) {
      const from = committedOf.get(partition) ?? -1;
      lagOf.set(partition, Math.max(0, Number(high) - (from >= 0 ? from : Number(low))));
    }
    return lagOf;
  }

  /** The group's committed offset per partition (-1 where there is none). */
  async committed(): Promise<Map<number, bigint>> {
    const [offsets] = await this.withAdmin((admin) =>
      admin.fetchOffsets({ groupId: this.groupId, topics: [this.topic] }),
    );
    return new Map(offsets?.partitions.map((p) => [p.partition, BigInt(p.offset)]));
  }

  /**
   * Runs `use` with the service's one admin client (lag, assignment starts, the shutdown report),
   * connected on first use and kept: a new kafkajs admin client finds the group coordinator only
   * after a metadata refresh, ~300 ms of retry backoff, which every assignment would wait out.
   * After a failure the next use connects a new one.
   */
  private async withAdmin<T>(use: (admin: Admin) => Promise<T>): Promise<T> {
    const client = this.client();
    if (client === null) throw new Error('no Kafka client');
    if (this.admin?.of !== client) {
      void this.dropAdmin();
      const connecting = (async () => {
        const admin = client.admin();
        await admin.connect();
        // Learns the brokers' ids, so finding the group coordinator needs no retry.
        await admin.describeCluster();
        return admin;
      })();
      this.admin = { of: client, connecting };
    }
    const kept = this.admin;
    try {
      return await use(await kept.connecting);
    } catch (error) {
      if (this.admin === kept) void this.dropAdmin();
      throw error;
    }
  }

  /** Forgets the kept admin client; resolves once it is disconnected. */
  async dropAdmin(): Promise<void> {
    const connecting = this.admin?.connecting;
    this.admin = null;
    await connecting?.then((admin) => admin.disconnect()).catch(() => undefined);
  }
}
