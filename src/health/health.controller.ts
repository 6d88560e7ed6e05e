import { Controller, Get, Optional } from '@nestjs/common';
import { HealthCheck, HealthCheckService } from '@nestjs/terminus';
import { IngestReadiness } from './ingest-readiness.js';
import { LiveReadiness } from './live-readiness.js';
import { SimulatorReadiness } from './simulator-readiness.js';

@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    @Optional() private readonly ingest?: IngestReadiness,
    @Optional() private readonly simulator?: SimulatorReadiness,
    @Optional() private readonly liveView?: LiveReadiness,
  ) {}

  /** Liveness: the process answers. Never checks Kafka or BigQuery, so their outages do not restart pods. */
  @Get('live')
  @HealthCheck()
  live() {
    return this.health.check([]);
  }

  /** Readiness: every part that runs in this deployment can do its job; 503 with a reason each when not. */
  @Get('ready')
  @HealthCheck()
  ready() {
    return this.health.check([
      ...(this.ingest?.checks() ?? []),
      ...(this.simulator?.checks() ?? []),
      ...(this.liveView?.checks() ?? []),
    ]);
  }
}
