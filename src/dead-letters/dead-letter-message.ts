import type { IHeaders, Message } from 'kafkajs';
import type { DeadLetter } from './dead-letters.service.js';

/** Headers added to each dead letter, beside the original ones. */
export const DEAD_LETTER_HEADERS = {
  reason: 'dlq.reason',
  detail: 'dlq.detail',
  topic: 'dlq.source.topic',
  partition: 'dlq.source.partition',
  offset: 'dlq.source.offset',
  time: 'dlq.time',
} as const;

/** A dead letter as the topic gets it: the original key, value and headers untouched, plus why. */
export function deadLetterMessage(letter: Pick<DeadLetter, 'source' | 'reason' | 'detail'>): Message {
  const { source } = letter;
  const headers: IHeaders = {
    ...source.headers,
    [DEAD_LETTER_HEADERS.reason]: letter.reason,
    [DEAD_LETTER_HEADERS.detail]: letter.detail,
    [DEAD_LETTER_HEADERS.topic]: source.topic,
    [DEAD_LETTER_HEADERS.partition]: String(source.partition),
    [DEAD_LETTER_HEADERS.offset]: source.offset,
    [DEAD_LETTER_HEADERS.time]: new Date().toISOString(),
  };
  return { key: source.key, value: source.value, headers };
}

/** A record's size in a batch, uncompressed: its key, value and headers plus Kafka's per-record framing. */
export function messageBytes(message: Message): number {
  let bytes = 32 + byteLength(message.key) + byteLength(message.value);
  for (const [name, value] of Object.entries(message.headers ?? {})) {
    bytes += 8 + Buffer.byteLength(name);
    for (const v of Array.isArray(value) ? value : [value]) bytes += byteLength(v ?? null);
  }
  return bytes;
}

const byteLength = (value: Buffer | string | null | undefined): number =>
  value === null || value === undefined ? 0 : typeof value === 'string' ? Buffer.byteLength(value) : value.length;
