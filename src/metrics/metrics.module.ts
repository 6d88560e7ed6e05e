import { Global, Module } from '@nestjs/common';
import { PrometheusModule } from '@willsoto/nestjs-prometheus';
import { metricProviders } from './metrics.js';

/** GET /metrics (Prometheus text format) with Node's process metrics and the service's own. */
@Global()
@Module({
  imports: [PrometheusModule.register({ path: '/metrics', defaultMetrics: { enabled: true } })],
  providers: metricProviders,
  exports: metricProviders,
})
export class MetricsModule {}
