import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/** The settings deps:up prints for the service. */
export type DepsSettings = Record<
  'KAFKA_BROKERS' | 'BIGQUERY_API_ENDPOINT' | 'BIGQUERY_STORAGE_API_ENDPOINT' | 'BIGQUERY_PROJECT_ID',
  string
>;

/** The broker and emulator: the benchmark's own deps:up instance, on ports of its own. */
export class BenchDeps {
  private readonly dir: string;

  constructor(private readonly root: string) {
    this.dir = path.join(root, '.deps', 'bench');
  }

  up(kafkaPort: string, emulatorPort: string): DepsSettings {
    const settings = Object.fromEntries(
      this.deps('up', '--kafka-port', kafkaPort, '--emulator-port', emulatorPort, '--project-id', 'plays-bench')
        .split('\n')
        .map((line) => /^([A-Z_]+)=(.*)$/.exec(line))
        .filter((match) => match !== null)
        .map((match) => [match[1]!, match[2]!]),
    ) as DepsSettings;
    if (!settings.BIGQUERY_STORAGE_API_ENDPOINT) throw new Error('deps:up printed no BIGQUERY_STORAGE_API_ENDPOINT');
    return settings;
  }

  down(): void {
    this.deps('down');
  }

  /** The broker's pid, to count its CPU seconds. */
  brokerPid(): number {
    return Number(fs.readFileSync(path.join(this.dir, 'kafka.pid'), 'utf8').trim());
  }

  private deps(...args: string[]): string {
    return execFileSync(
      process.execPath,
      [
        '--disable-warning=TimeoutNegativeWarning',
        path.join(this.root, 'scripts/deps.mjs'),
        ...args,
        '--dir',
        this.dir,
      ],
      { cwd: this.root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
    );
  }
}
