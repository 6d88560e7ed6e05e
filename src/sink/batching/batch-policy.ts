import type { AppConfig } from '../../config/config.module.js';
import type { WriterDefaults } from '../writer.contract.js';

/** The batch policy: the configuration where it is set, else what the writer's API is best served with. */
export function batchPolicy(
  config: Pick<AppConfig, 'SINK_BATCH_MAX_ROWS' | 'SINK_BATCH_MAX_BYTES' | 'SINK_MAX_IN_FLIGHT'>,
  defaults: WriterDefaults,
): WriterDefaults {
  return {
    batchMaxRows: config.SINK_BATCH_MAX_ROWS ?? defaults.batchMaxRows,
    batchMaxBytes: config.SINK_BATCH_MAX_BYTES ?? defaults.batchMaxBytes,
    maxInFlight: config.SINK_MAX_IN_FLIGHT ?? defaults.maxInFlight,
  };
}
