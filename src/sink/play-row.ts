import type { Play } from '../plays/play.js';
import { insertIdOf, type SourceMessage } from '../plays/source-message.js';

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
  return JSON.stringify({
    insertId: insertIdOf(source, play.event_id),
    json: {
      user_id: play.user_id,
      artist: play.artist,
      song_id: play.song_id,
      song_name: play.song_name,
      event_type: play.event_type,
      timestamp: play.timestamp,
      event_id: play.event_id ?? null,
      kafka_topic: source.topic,
      kafka_partition: source.partition,
      kafka_offset: Number(source.offset),
      ingested_at: ingestedAt,
    },
  });
}
