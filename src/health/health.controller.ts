import { Controller, Get } from '@nestjs/common';
import { HealthCheck, HealthCheckService } from '@nestjs/terminus';

@Controller('health')
export class HealthController {
  constructor(private readonly health: HealthCheckService) {}

  /** Liveness: the process answers. Never checks Kafka or BigQuery, so their outages do not restart pods. */
  @Get('live')
  @HealthCheck()
  live() {
    return this.health.check([]);
  }
}
