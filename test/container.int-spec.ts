import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { baseEnv, replay, type ReplayResult } from '../scripts/replay-dockerfile.mjs';
import { eventually, freePort, queryRows, serviceEnv, setUpTopics, useAdmin, type Names } from './support/service.js';

// The image without Docker: scripts/replay-dockerfile.mjs runs the Dockerfile's COPY and RUN steps in a
// temporary folder (npm ci, nest build, npm ci --omit=dev), then this test starts the runtime stage the way
// CMD says, with docker-compose.yaml's app environment pointed at the tests' Kafka and emulator, and checks
// that it becomes ready, passes its HEALTHCHECK, writes the simulator's plays and exits 0 on SIGTERM.

const root = path.resolve(import.meta.dirname, '..');

/** docker-compose.yaml's environment for the app service, as strings. */
function composeAppEnv(): Record<string, string> {
  const compose = parse(fs.readFileSync(path.join(root, 'docker-compose.yaml'), 'utf8')) as {
    services: { app: { environment: Record<string, string | number | boolean> } };
  };
  return Object.fromEntries(Object.entries(compose.services.app.environment).map(([k, v]) => [k, String(v)]));
}

async function status(url: string): Promise<number> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
    await response.body?.cancel();
    return response.status;
  } catch {
    return 0;
  }
}

/** Runs a command to its end: its exit code. */
function exitCode(command: string[], options: { cwd: string; env: NodeJS.ProcessEnv }): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const child = spawn(command[0]!, command.slice(1), { ...options, stdio: 'ignore' });
    child.on('error', reject);
    child.on('exit', (code) => resolve(code));
  });
}

describe('the Dockerfile, replayed without Docker', () => {
  const admin = useAdmin();
  const buildLog: string[] = [];
  const appLog: string[] = [];
  let outDir: string;
  let built: ReplayResult;
  let app: ChildProcess | undefined;

  beforeAll(async () => {
    outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'plays-replay-'));
    try {
      built = await replay({ outDir, log: (text) => buildLog.push(text) });
    } catch (error) {
      throw new Error(`replaying the Dockerfile failed:\n${buildLog.join('').slice(-8_000)}`, { cause: error });
    }
  }, 300_000);

  afterAll(() => {
    if (app && app.exitCode === null) app.kill('SIGKILL');
    if (outDir) fs.rmSync(outDir, { recursive: true, force: true });
  });

  it('puts production dependencies and the compiled app into the runtime stage, nothing else', () => {
    const { dir } = built.runtime;
    expect(fs.readdirSync(dir).sort()).toEqual(['dist', 'node_modules', 'package.json']);
    expect(fs.existsSync(path.join(dir, 'dist/main.js'))).toBe(true);
    const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
      devDependencies: Record<string, string>;
    };
    for (const name of Object.keys(pkg.dependencies))
      expect(fs.existsSync(path.join(dir, 'node_modules', name, 'package.json')), name).toBe(true);
    // A dev dependency that a production one also needs (e.g. @types/node, a dependency of protobufjs)
    // is rightly in the image: the lockfile marks the dev-only ones.
    const lock = JSON.parse(fs.readFileSync(path.join(root, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { dev?: boolean }>;
    };
    const devOnly = Object.keys(pkg.devDependencies).filter((name) => lock.packages[`node_modules/${name}`]?.dev);
    expect(devOnly).toContain('typescript');
    for (const name of devOnly)
      expect(fs.existsSync(path.join(dir, 'node_modules', name)), `dev dependency ${name} in the image`).toBe(false);
    // No tests and no sources in the build output.
    const files = fs.readdirSync(path.join(dir, 'dist'), { recursive: true }).map(String);
    expect(files.filter((file) => /\.spec\.js$|\.ts$/.test(file) && !file.endsWith('.d.ts'))).toEqual([]);
  });

  it('runs as CMD says with the compose environment: ready, healthy, writes plays, exits 0 on SIGTERM', async () => {
    const { runtime } = built;
    const names: Names = await setUpTopics(admin);
    const port = await freePort();
    const compose = composeAppEnv();
    expect(compose.SIMULATOR_ENABLED).toBe('true');
    const env = {
      PATH: baseEnv().PATH,
      // Not created: a write to HOME fails, as it would under a read-only root filesystem.
      HOME: path.join(outDir, 'home'),
      NO_COLOR: '1',
      ...runtime.env,
      ...compose,
      // Where the compose file names its own services and ports, the tests' dependencies and fresh names.
      ...serviceEnv(names, port),
    };
    expect(runtime.env.NODE_ENV).toBe('production');
    expect(runtime.command[0]).toBe('node');

    app = spawn(runtime.command[0]!, runtime.command.slice(1), {
      cwd: runtime.dir,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    app.stdout!.on('data', (chunk: Buffer) => appLog.push(chunk.toString()));
    app.stderr!.on('data', (chunk: Buffer) => appLog.push(chunk.toString()));
    const base = `http://127.0.0.1:${port}`;
    const running = () => {
      if (app!.exitCode !== null) throw new Error(`the app exited (${app!.exitCode}):\n${appLog.join('')}`);
    };

    try {
      await eventually(
        () => {
          running();
          return status(`${base}/health/ready`);
        },
        (code) => code === 200,
        90_000,
      );

      // The image's HEALTHCHECK, run as Docker would (same environment), passes; against a closed port it fails.
      const healthcheck = runtime.healthcheck?.command;
      expect(healthcheck).toBeTruthy();
      expect(await exitCode(healthcheck!, { cwd: runtime.dir, env })).toBe(0);
      const closed = await freePort();
      expect(await exitCode(healthcheck!, { cwd: runtime.dir, env: { ...env, PORT: String(closed) } })).toBe(1);

      // The simulator's plays reach BigQuery.
      const rows = await eventually(
        () => {
          running();
          return queryRows<{ n: number; with_id: number }>(
            names,
            "SELECT COUNT(*) AS n, COUNTIF(event_id IS NOT NULL AND artist = 'tony-allen') AS with_id FROM $table",
          );
        },
        (result) => (result[0]?.with_id ?? 0) >= 2,
        90_000,
      );
      expect(rows[0]!.n).toBe(rows[0]!.with_id);

      const metrics = await fetch(`${base}/metrics`);
      expect(metrics.status).toBe(200);
      expect(await metrics.text()).toMatch(/^plays_written_total \d+/m);

      // The dashboard's page, scripts and chart library are in the image (assets copied by the build).
      for (const asset of [
        '/dashboard',
        '/dashboard/dashboard.js',
        '/dashboard/dashboard-charts.js',
        '/dashboard/chart.umd.min.js',
      ]) {
        const response = await fetch(`${base}${asset}`);
        expect(response.status, asset).toBe(200);
        expect((await response.text()).length, asset).toBeGreaterThan(500);
      }
      const topSongs = await fetch(`${base}/api/top-songs?window=1h`);
      expect(topSongs.status).toBe(200);
      expect(((await topSongs.json()) as { total_plays: number }).total_plays).toBeGreaterThanOrEqual(2);
    } catch (error) {
      throw new Error(
        `${error instanceof Error ? error.message : String(error)}\napp output:\n${appLog.join('').slice(-6_000)}`,
        {
          cause: error,
        },
      );
    }

    // Docker stops a container with SIGTERM to PID 1: the app flushes, commits, leaves and exits 0.
    const exited = new Promise<number | string>((resolve) =>
      app!.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')),
    );
    app.kill('SIGTERM');
    expect(await exited, appLog.join('').slice(-4_000)).toBe(0);
  }, 240_000);
});
