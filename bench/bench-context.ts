import type { Kafka } from 'kafkajs';
import type { DepsSettings } from './bench-deps.js';
import type { BenchFlags } from './bench-flags.js';
import type { ImageRuntime } from './image-runtime.js';
import type { PlayTopics } from './play-topics.js';
import type { ServiceRunner } from './service-runner.js';
import type { StandIns } from './stand-ins.js';

/** What every section of the benchmark runs with: the options, the broker and emulator, the stand-ins. */
export interface BenchContext {
  /** The checkout (dist/, dist-bench/, docs/). */
  root: string;
  flags: BenchFlags;
  settings: DepsSettings;
  image: ImageRuntime;
  kafka: Kafka;
  /** The plays the benchmark produces, round-robin. */
  originals: Buffer[];
  topics: PlayTopics;
  standIns: StandIns;
  service: ServiceRunner;
  /** --plays: the backlog each drain drains. */
  plays: number;
  /** --repeat: the rounds of drains. */
  repeat: number;
  /** --round-trip-ms: how long the slow stand-ins take to answer. */
  roundTripMs: number;
}
