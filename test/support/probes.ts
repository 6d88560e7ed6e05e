import type { Service } from './service.js';

export interface HealthBody {
  status: string;
  info?: Record<string, { status: string } & Record<string, unknown>>;
  error?: Record<string, { status: string; reason?: string } & Record<string, unknown>>;
}

/** GET a health endpoint of a running service. */
export async function probe(service: Service, path: string): Promise<{ status: number; body: HealthBody }> {
  const response = await fetch(`http://127.0.0.1:${service.port}${path}`, { signal: AbortSignal.timeout(5_000) });
  return { status: response.status, body: (await response.json()) as HealthBody };
}

/** The service's /metrics text. */
export async function metricsOf(service: Service): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${service.port}/metrics`, { signal: AbortSignal.timeout(5_000) });
  return response.text();
}

/** The value of one sample of the Prometheus text format, summed over label sets. */
export function sample(text: string, name: string, labels = ''): number {
  return text
    .split('\n')
    .filter((line) => line.startsWith(`${name}{${labels}`) || line.startsWith(`${name} `))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}
