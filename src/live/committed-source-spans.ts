import type { Admin } from 'kafkajs';

/** Offsets [from, to) of a source partition. */
export interface SourceSpan {
  partition: number;
  from: number;
  to: number;
}

/**
 * Per source partition, the offsets the group committed that are still in the topic: [low,
 * committed). Each has its delta if the live view was on when it was written.
 */
export async function committedSourceSpans(admin: Admin, source: string, groupId: string): Promise<SourceSpan[]> {
  if (!(await admin.listTopics()).includes(source)) return [];
  const [lows, [committed]] = await Promise.all([
    admin.fetchTopicOffsets(source),
    admin.fetchOffsets({ groupId, topics: [source] }),
  ]);
  return lows.map(({ partition, low }) => ({
    partition,
    from: Number(low),
    to: Number(committed?.partitions.find((p) => p.partition === partition)?.offset ?? -1),
  }));
}
