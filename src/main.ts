import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Logger as PinoLogger } from 'nestjs-pino';
import { AppModule } from './app.module.js';
import { loadConfig, type AppConfig } from './config/config.module.js';
import { ConfigValidationError } from './config/parse-env.js';
import { PlaysServer } from './consumer/plays-server.js';
import { KafkaStartRetry } from './kafka/kafka-start-retry.js';
import { LiveView } from './live/live-view.js';
import { sleep } from './retry/backoff.js';

const logger = new Logger('Bootstrap');
/** The longest the ingest waits for the live view's reader to start (see LiveView.started). */
const LIVE_READER_WAIT_MS = 5_000;

async function bootstrap(config: AppConfig): Promise<void> {
  const app = await NestFactory.create(AppModule.forRoot(config), { bufferLogs: true });
  app.useLogger(app.get(PinoLogger));
  // Exit 0 after the shutdown hooks ran (flush, commit, leave the group), not by re-raising the signal.
  app.enableShutdownHooks(['SIGTERM', 'SIGINT'], { useProcessExit: true });
  if (config.INGEST_ENABLED) app.connectMicroservice({ strategy: app.get(PlaysServer) }, { inheritAppConfig: true });
  // HTTP first, so the orchestrator sees a live (not yet ready) process while Kafka connects.
  await app.listen(config.PORT);
  logger.log(`listening on port ${config.PORT}`);
  if (!config.INGEST_ENABLED) return;
  await app.get(LiveView).started(LIVE_READER_WAIT_MS);
  await startConsuming(app.startAllMicroservices.bind(app), config.KAFKA_BROKERS);
}

/**
 * A broker that is down or refuses us at start-up (wrong password, untrusted certificate) is retried,
 * not a reason to exit: one log line saying why, again only when the reason changes or every tenth try.
 */
async function startConsuming(start: () => Promise<unknown>, brokers: readonly string[]): Promise<void> {
  const retry = new KafkaStartRetry(brokers);
  for (let failed = false; ;) {
    try {
      await start();
      if (failed) logger.log('consuming now (the start-up failure is over)');
      return;
    } catch (error) {
      failed = true;
      const { log, attempt, delayMs } = retry.failed(error);
      if (log !== null)
        logger.error(
          `cannot start consuming: ${log}; retrying (attempt ${attempt}, next in ${(delayMs / 1000).toFixed(1)}s)`,
        );
      await sleep(delayMs);
    }
  }
}

let config: AppConfig;
try {
  config = loadConfig();
} catch (error) {
  if (!(error instanceof ConfigValidationError)) throw error;
  console.error(`plays-pipeline: ${error.message}`);
  process.exit(1);
}
await bootstrap(config);
