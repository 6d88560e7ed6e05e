import { Module } from '@nestjs/common';
import { ScheduleModule } from '@nestjs/schedule';
import { AppConfig } from '../config/config.module.js';
import { PLAY_GENERATOR, SimulatorService } from './simulator.service.js';

/** The built-in simulator. AppModule imports it only when SIMULATOR_ENABLED, so off means no producer, no timer. */
@Module({
  imports: [ScheduleModule.forRoot()],
  providers: [
    {
      provide: PLAY_GENERATOR,
      inject: [AppConfig],
      // Imported only when the simulator runs: Faker adds about 50 MB and 0.2 s to a start-up.
      useFactory: async (config: AppConfig) => new (await import('./play-generator.js')).PlayGenerator(config),
    },
    SimulatorService,
  ],
  exports: [SimulatorService],
})
export class SimulatorModule {}
