/** The write paths the service has: SINK_API, and for storage-write each SINK_DELIVERY. The first is the default. */
export const SINK_SETTINGS = {
  'storage-write exactly-once': { SINK_API: 'storage-write', SINK_DELIVERY: 'exactly-once' },
  'storage-write at-least-once': { SINK_API: 'storage-write', SINK_DELIVERY: 'at-least-once' },
  'insert-all': { SINK_API: 'insert-all', SINK_DELIVERY: 'at-least-once' },
} as const;
export type Sink = keyof typeof SINK_SETTINGS;
export const SINKS = Object.keys(SINK_SETTINGS) as Sink[];
export const DEFAULT_SINK: Sink = 'storage-write exactly-once';
export const EO: Sink = 'storage-write exactly-once';
export const SW: Sink = 'storage-write at-least-once';
export const IA: Sink = 'insert-all';
export const perSink = <T>(value: () => T): Record<Sink, T> =>
  Object.fromEntries(SINKS.map((sink) => [sink, value()])) as Record<Sink, T>;

/** The sinks in round `round`'s order: each goes first in turn, so none always meets the machine coldest. */
export const inTurn = (round: number): Sink[] => SINKS.map((_, j) => SINKS[(j + round) % SINKS.length]!);

/** Where a service writes: the REST endpoint (table checks; insertAll) and the Write API's (gRPC). */
export interface Endpoints {
  rest: string;
  storageWrite: string;
}
