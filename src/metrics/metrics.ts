import {
  makeCounterProvider,
  makeGaugeProvider,
  makeHistogramProvider,
  InjectMetric,
} from '@willsoto/nestjs-prometheus';
import type { Counter, Gauge, Histogram } from 'prom-client';

// The service's own metrics, by name. Prometheus conventions: _total for counters, base units.
export const METRIC = {
  playsConsumed: 'plays_consumed_total',
  playsWritten: 'plays_written_total',
  playsDeadLettered: 'plays_dead_lettered_total',
  writeDuration: 'sink_write_duration_seconds',
  batchRows: 'sink_batch_rows',
  bufferedRows: 'sink_buffered_rows',
  writeRetries: 'sink_write_retries_total',
  sinkInfo: 'sink_info',
  exactlyOnceFallbacks: 'exactly_once_fallbacks_total',
  consumerLag: 'kafka_consumer_lag',
  partitionStalled: 'kafka_partition_stalled_seconds',
  heldBytes: 'ingest_held_bytes',
  simulatorProduced: 'simulator_plays_produced_total',
  simulatorFailed: 'simulator_plays_failed_total',
  simulatorSkippedTicks: 'simulator_ticks_skipped_total',
  topSongsQueryDuration: 'top_songs_query_duration_seconds',
} as const;

export const metricProviders = [
  makeCounterProvider({ name: METRIC.playsConsumed, help: 'Kafka messages taken from the plays topic.' }),
  makeCounterProvider({ name: METRIC.playsWritten, help: 'Plays written to BigQuery.' }),
  makeCounterProvider({
    name: METRIC.playsDeadLettered,
    help: 'Messages written to the dead-letter topic, by reason.',
    labelNames: ['reason'],
  }),
  makeHistogramProvider({
    name: METRIC.writeDuration,
    help: 'Duration of write requests (insertAll requests or appends), successful or not.',
    labelNames: ['outcome'],
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  }),
  makeHistogramProvider({
    name: METRIC.batchRows,
    help: 'Rows per write request (insertAll request or append).',
    buckets: [1, 5, 10, 25, 50, 100, 250, 500, 1_000, 5_000, 10_000],
  }),
  makeGaugeProvider({ name: METRIC.bufferedRows, help: 'Rows held in memory: buffered or being written.' }),
  makeCounterProvider({ name: METRIC.writeRetries, help: 'Write requests retried after a failure.' }),
  makeGaugeProvider({
    name: METRIC.sinkInfo,
    help: 'Which write path runs: 1 for the API (SINK_API) and delivery guarantee in use.',
    labelNames: ['api', 'delivery'],
  }),
  makeCounterProvider({
    name: METRIC.exactlyOnceFallbacks,
    help: 'Stretches of a partition written at-least-once because the exactly-once writer could not reconcile them (the recorded write stream no longer existed): some of their plays may be in the table twice.',
  }),
  makeGaugeProvider({
    name: METRIC.consumerLag,
    help: "Messages behind the partition's end offset, from the group's committed offset.",
    labelNames: ['topic', 'partition'],
  }),
  makeGaugeProvider({
    name: METRIC.partitionStalled,
    help: 'Seconds a partition with lag has gone without its commit point moving, once past INGEST_STALL_TIMEOUT_MS; 0 otherwise.',
    labelNames: ['topic', 'partition'],
  }),
  makeGaugeProvider({
    name: METRIC.heldBytes,
    help: 'Bytes held for messages taken and not yet committed (the INGEST_MEMORY_BUDGET_MB budget).',
  }),
  makeCounterProvider({ name: METRIC.simulatorProduced, help: 'Simulated plays the broker acknowledged.' }),
  makeCounterProvider({ name: METRIC.simulatorFailed, help: 'Simulated plays whose send failed.' }),
  makeCounterProvider({
    name: METRIC.simulatorSkippedTicks,
    help: "Simulator ticks skipped because the previous tick's send was still under way.",
  }),
  makeHistogramProvider({
    name: METRIC.topSongsQueryDuration,
    help: 'BigQuery queries behind the top-songs API (/api/top-songs, /api/artists, /api/plays-over-time; cached answers are not counted), by outcome.',
    labelNames: ['outcome'],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  }),
];

export { InjectMetric };
export type { Counter, Gauge, Histogram };
