import { parseEnv } from '../src/config/parse-env.js';
import { PlayGenerator } from '../src/simulator/play-generator.js';

/** 1,000 seeded plays in the original format (no event_id), serialized: what the benchmark produces, round-robin. */
export function originalPlays(): Buffer[] {
  const generator = new PlayGenerator(parseEnv({ BIGQUERY_PROJECT_ID: 'plays-bench', SIMULATOR_SEED: '7' }));
  return generator.batch(1_000).map(({ event_id: _eventId, ...play }) => Buffer.from(JSON.stringify(play)));
}
