/** Injection token of the plays sink, so another sink can take BigQuery's place. */
export const PLAY_SINK = Symbol('PLAY_SINK');
/** Injection token of the chosen PlayWriter. */
export const PLAY_WRITER = Symbol('PLAY_WRITER');
/** Injection token of the chosen writer's RowEncodingSource. */
export const ROW_ENCODING = Symbol('ROW_ENCODING');
