import type { IncomingMessage } from 'node:http';
import { Module, type DynamicModule } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import type { AppConfig } from '../config/config.module.js';

// Probes, scrapes and dashboards polling arrive every few seconds: logging each would drown everything else.
const QUIET_PATHS = ['/health', '/metrics', '/api/top-songs', '/dashboard'];

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
            autoLogging: { ignore: (req: IncomingMessage) => QUIET_PATHS.some((path) => req.url?.startsWith(path)) },
            // Never write credentials a client sends.
            redact: ['req.headers.authorization', 'req.headers.cookie', 'req.headers["x-api-key"]'],
          },
        }),
      ],
    };
  }
}
