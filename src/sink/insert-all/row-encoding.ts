import type { Play } from '../../plays/play.js';
import { insertIdOf, type SourceMessage } from '../../plays/source-message.js';
import type { RowEncoding } from '../writer.contract.js';

/**
 * A play as one row of an insertAll request, `{"insertId":…,"json":{…}}`, in the plays table's
 * columns. A pure function of its inputs, so it can run on a worker thread; the sink joins these
 * rows into request bodies as they are.
 */
export function encodePlayRow(
  play: Play,
  source: Pick<SourceMessage, 'topic' | 'partition' | 'offset'>,
  ingestedAt: string,
): string {
  return new PlayRowEncoder(source.topic, source.partition, ingestedAt).row(play, source.offset);
}

const quote = JSON.stringify;

/**
 * encodePlayRow for the plays of one partition's batch: the same JSON, byte for byte, as
 * JSON.stringify of the row object (same keys in the same order, strings escaped by JSON.stringify),
 * built as one template with the batch's constant parts escaped once, which is several times
 * cheaper than stringifying a nested object per play.
 */
export class PlayRowEncoder {
  private readonly source: string;
  private readonly tail: string;

  constructor(
    private readonly topic: string,
    private readonly partition: number,
    ingestedAt: string,
  ) {
    this.source = `,"kafka_topic":${quote(topic)},"kafka_partition":${partition},"kafka_offset":`;
    this.tail = `,"ingested_at":${quote(ingestedAt)}}}`;
  }

  row(play: Play, offset: string): string {
    const insertId = quote(insertIdOf({ topic: this.topic, partition: this.partition, offset }, play.event_id));
    const eventId = play.event_id === undefined ? 'null' : quote(play.event_id);
    return (
      `{"insertId":${insertId},"json":{"user_id":${play.user_id},"artist":${quote(play.artist)},` +
      `"song_id":${play.song_id},"song_name":${quote(play.song_name)},"event_type":${quote(play.event_type)},` +
      `"timestamp":${quote(play.timestamp)},"event_id":${eventId}${this.source}${Number(offset)}${this.tail}`
    );
  }
}

/** insertAll's rows, comma-separated: a run of them is the body of a request's `rows` array as it is. */
export function createRowEncoding(): RowEncoding {
  return {
    separator: 0x2c,
    createEncoder: (topic, partition, ingestedAt) => new PlayRowEncoder(topic, partition, ingestedAt),
  };
}
