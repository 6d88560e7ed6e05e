import type { IncomingMessage } from 'node:http';
import { Module, type DynamicModule } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import type { AppConfig } from '../config/config.module.js';

// Probes, scrapes and dashboards polling arrive every few seconds: logging each would drown everything else.
// The dashboard page polls all three of its API paths.
const QUIET_PATHS = ['/health', '/metrics', '/api/top-songs', '/api/artists', '/api/plays-over-time', '/dashboard'];

/** A request that is not logged: a probe, a scrape, the dashboard or one of its polls. */
export const isQuiet = (url: string | undefined) => QUIET_PATHS.some((path) => url?.startsWith(path) === true);

/** Structured logs with pino: JSON lines by default, readable lines with LOG_FORMAT=pretty. */
@Module({})
export class LoggingModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: LoggingModule,
      imports: [
        LoggerModule.forRoot({
          pinoHttp: {
            level: config.LOG_LEVEL,
            base: { service: 'plays-pipeline' },
            transport:
              config.LOG_FORMAT === 'pretty'
                ? { target: 'pino-pretty', options: { singleLine: true, translateTime: 'SYS:HH:MM:ss.l' } }
                : undefined,
            autoLogging: { ignore: (req: IncomingMessage) => isQuiet(req.url) },
            // Never write credentials a client sends.
            redact: ['req.headers.authorization', 'req.headers.cookie', 'req.headers["x-api-key"]'],
          },
        }),
      ],
    };
  }
}
