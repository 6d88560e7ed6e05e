import { Module, type DynamicModule, type Provider } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import type { AppConfig } from '../config/config.module.js';
import { DeadLettersModule } from '../dead-letters/dead-letters.module.js';
import { ConsumerModule } from '../consumer/consumer.module.js';
import { LiveModule } from '../live/live.module.js';
import { SimulatorModule } from '../simulator/simulator.module.js';
import { SinkModule } from '../sink/sink.module.js';
import { HealthController } from './health.controller.js';
import { IngestReadiness } from './ingest-readiness.js';
import { LiveReadiness } from './live-readiness.js';
import { SimulatorReadiness } from './simulator-readiness.js';

/** /health/live and /health/ready; readiness checks only the parts this deployment runs. */
@Module({})
export class HealthModule {
  static forRoot(config: AppConfig): DynamicModule {
    // Terminus would log every failing probe with its whole body; each part logs its own faults, once an outage.
    const imports: DynamicModule['imports'] = [TerminusModule.forRoot({ logger: false })];
    const providers: Provider[] = [];
    if (config.INGEST_ENABLED) {
      imports.push(ConsumerModule, SinkModule, DeadLettersModule);
      providers.push(IngestReadiness);
    }
    if (config.LIVE_ENABLED && config.DASHBOARD_ENABLED) {
      imports.push(LiveModule);
      providers.push(LiveReadiness);
    }
    if (config.SIMULATOR_ENABLED) {
      imports.push(SimulatorModule);
      providers.push(SimulatorReadiness);
    }
    return { module: HealthModule, imports, providers, controllers: [HealthController] };
  }
}
