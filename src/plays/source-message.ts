import type { IHeaders } from 'kafkajs';

/** Where a play came from: the Kafka message, kept byte for byte for the dead-letter topic. */
export interface SourceMessage {
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: IHeaders;
}

/** The insertId of a play's row: the same for every redelivery of the same message. */
export function insertIdOf(
  source: Pick<SourceMessage, 'topic' | 'partition' | 'offset'>,
  eventId: string | undefined,
): string {
  return eventId ?? `${source.topic}/${source.partition}/${source.offset}`;
}
