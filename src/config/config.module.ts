import { Global, Module, type DynamicModule } from '@nestjs/common';
import type { Env } from './env.schema.js';
import { parseEnv } from './parse-env.js';

/**
 * The validated, typed environment. Inject it by class: `constructor(private readonly config: AppConfig)`.
 * The interface gives the instance Env's fields; the class is the DI token.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type, @typescript-eslint/no-unsafe-declaration-merging
export interface AppConfig extends Env {}
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export abstract class AppConfig {}

/** Reads and validates process.env: the only place in the service that reads it. */
export function loadConfig(): AppConfig {
  return parseEnv(process.env);
}

@Global()
@Module({})
export class AppConfigModule {
  /** Provides the configuration main.ts loaded (tests pass their own). */
  static forRoot(config: AppConfig): DynamicModule {
    return { module: AppConfigModule, providers: [{ provide: AppConfig, useValue: config }], exports: [AppConfig] };
  }
}
