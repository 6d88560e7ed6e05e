import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { rssMb } from './process-stats.js';

/** A process under test: when it joined its group, its peak RSS, and how to stop it. */
export interface Run {
  child: ChildProcess;
  joinedAt: Promise<number>;
  peakRssMb: () => number;
  stop: () => Promise<void>;
}

export interface StartProcessOptions {
  nodeOptions?: string[];
  /** --service-logs: a folder to keep the process's log lines in. */
  logsDir?: string;
}

/** Starts `script` with Node in `root`, with only PATH and `env` as its environment. */
export function startProcess(
  root: string,
  script: string,
  env: Record<string, string>,
  { nodeOptions = [], logsDir }: StartProcessOptions = {},
): Run {
  const child = spawn(process.execPath, ['--disable-warning=TimeoutNegativeWarning', ...nodeOptions, script], {
    cwd: root,
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  if (logsDir !== undefined) {
    fs.mkdirSync(logsDir, { recursive: true });
    const name = [path.basename(script, '.js'), env.SINK_API, env.SINK_DELIVERY, Date.now()].filter(Boolean).join('-');
    const log = fs.createWriteStream(path.join(logsDir, `${name}.log`));
    child.stdout.pipe(log);
  }
  const joinedAt = new Promise<number>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('joined group')) resolve(Date.now());
    });
    // A process that dies before it joins (a bad flag, a bad setting) fails the run instead of hanging it.
    child.once('exit', (code, signal) =>
      reject(new Error(`${script} exited (${signal ?? code}) before it joined its group`)),
    );
  });
  joinedAt.catch(() => {}); // Handled where awaited; a run stopped before its join is no failure.
  let peak = 0;
  const sampler = setInterval(() => (peak = Math.max(peak, rssMb(child.pid!))), 100);
  return {
    child,
    joinedAt,
    peakRssMb: () => peak,
    stop: async () => {
      clearInterval(sampler);
      if (child.exitCode !== null) return;
      // SIGTERM first, so a service run with --cpu-prof or --heap-prof writes its profile on exit.
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(killer);
    },
  };
}
