/** Why a message is not a play: the decoder's verdict (decodePlay). */
export type InvalidReason =
  | 'tombstone'
  | 'not_utf8'
  | 'not_json'
  | 'not_object'
  | 'missing_field'
  | 'wrong_type'
  | 'bad_event_type'
  | 'bad_id'
  | 'empty_string'
  | 'string_too_long'
  | 'bad_timestamp'
  | 'timestamp_out_of_range';

/**
 * Why the sink dead-letters a valid play's row: BigQuery refused the row itself (`bigquery_invalid`),
 * it is too large for any request on its own (`bigquery_too_large`), or writing it failed in a way no
 * retry mends (`bigquery_error`).
 */
export type UnwritableReason = 'bigquery_invalid' | 'bigquery_too_large' | 'bigquery_error';

/**
 * Every reason a dead letter can carry: the `dlq.reason` header of the dead-letter topic and the
 * `reason` label of plays_dead_lettered_total, so consumers of either can rely on this list.
 */
export type DeadLetterReason = InvalidReason | UnwritableReason;
