import { Module, type DynamicModule } from '@nestjs/common';
import { AppConfig, AppConfigModule } from './config/config.module.js';
import { ConsumerModule } from './consumer/consumer.module.js';
import { HealthModule } from './health/health.module.js';
import { LoggingModule } from './logging/logging.module.js';
import { MetricsModule } from './metrics/metrics.module.js';
import { SimulatorModule } from './simulator/simulator.module.js';
import { TopSongsModule } from './top-songs/top-songs.module.js';

@Module({})
export class AppModule {
  /** The app for this configuration: the ingest only when INGEST_ENABLED, the simulator only when SIMULATOR_ENABLED, the dashboard only when DASHBOARD_ENABLED. */
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        AppConfigModule.forRoot(config),
        LoggingModule.forRoot(config),
        HealthModule.forRoot(config),
        MetricsModule,
        ...(config.INGEST_ENABLED ? [ConsumerModule] : []),
        ...(config.SIMULATOR_ENABLED ? [SimulatorModule] : []),
        ...(config.DASHBOARD_ENABLED ? [TopSongsModule] : []),
      ],
    };
  }
}
