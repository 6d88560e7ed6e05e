import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { AppModule } from './app.module.js';
import { AppConfig, loadConfig } from './config/config.module.js';
import { ConfigValidationError } from './config/parse-env.js';

async function bootstrap(): Promise<void> {
  const app = await NestFactory.create(AppModule);
  app.enableShutdownHooks();
  await app.listen(app.get(AppConfig).PORT);
}

try {
  // Validate before Nest starts, so a bad environment is one clear message, not a stack trace.
  loadConfig();
} catch (error) {
  if (!(error instanceof ConfigValidationError)) throw error;
  console.error(`plays-pipeline: ${error.message}`);
  process.exit(1);
}
await bootstrap();
