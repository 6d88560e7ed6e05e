import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Logger as PinoLogger } from 'nestjs-pino';
import { AppModule } from './app.module.js';
import { loadConfig, type AppConfig } from './config/config.module.js';
import { ConfigValidationError } from './config/parse-env.js';
import { errorText } from './errors.js';
import { PlaysServer } from './ingest/plays-server.js';

const logger = new Logger('Bootstrap');

async function bootstrap(config: AppConfig): Promise<void> {
  const app = await NestFactory.create(AppModule.forRoot(config), { bufferLogs: true });
  app.useLogger(app.get(PinoLogger));
  // Exit 0 after the shutdown hooks ran (flush, commit, leave the group), not by re-raising the signal.
  app.enableShutdownHooks(['SIGTERM', 'SIGINT'], { useProcessExit: true });
  if (config.INGEST_ENABLED) app.connectMicroservice({ strategy: app.get(PlaysServer) }, { inheritAppConfig: true });
  // HTTP first, so the orchestrator sees a live (not yet ready) process while Kafka connects.
  await app.listen(config.PORT);
  logger.log(`listening on port ${config.PORT}`);
  if (config.INGEST_ENABLED) await startConsuming(app.startAllMicroservices.bind(app));
}

/** A broker that is down at start-up is waited for, not a reason to exit. */
async function startConsuming(start: () => Promise<unknown>): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await start();
      return;
    } catch (error) {
      const delay = Math.min(30_000, 1_000 * 2 ** attempt);
      logger.error(`cannot start consuming: ${errorText(error)}; retrying in ${delay / 1000}s`);
      await new Promise((resolve) => setTimeout(resolve, delay));
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
