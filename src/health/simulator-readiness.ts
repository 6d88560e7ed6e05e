import { Injectable } from '@nestjs/common';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import { SimulatorService } from '../simulator/simulator.service.js';

/** Readiness of the simulator: its producer's sends go through. */
@Injectable()
export class SimulatorReadiness {
  constructor(
    private readonly indicators: HealthIndicatorService,
    private readonly simulator: SimulatorService,
  ) {}

  checks(): (() => HealthIndicatorResult)[] {
    return [
      () => {
        const check = this.indicators.check('simulator_producer');
        const { failingSince, stats } = this.simulator;
        return failingSince === null
          ? check.up({ produced: stats.produced })
          : check.down({ reason: `sends failing since ${new Date(failingSince).toISOString()}` });
      },
    ];
  }
}
