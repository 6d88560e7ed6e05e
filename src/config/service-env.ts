import { z } from 'zod';
import { int } from './env-fields.js';

/** The service as a process: its HTTP port and its logs. */
export const serviceEnv = {
  PORT: int(1, 65535, 3000).describe('HTTP port for health, metrics and the dashboard.'),
  LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace'], {
      error: 'must be one of fatal, error, warn, info, debug, trace',
    })
    .default('info')
    .describe('Lowest log level written.'),
  LOG_FORMAT: z
    .enum(['json', 'pretty'], { error: 'must be json or pretty' })
    .default('json')
    .describe('json: one JSON object a line (for log collectors); pretty: readable lines for a terminal.'),
};

/** How long a stop may take. */
export const shutdownEnv = {
  SHUTDOWN_TIMEOUT_MS: int(1_000, 600_000, 20_000).describe(
    'On SIGTERM/SIGINT: time to flush, commit and leave the group before exiting anyway.',
  ),
};
