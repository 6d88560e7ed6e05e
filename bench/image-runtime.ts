import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

/** How the image runs the service, for B to run it the same way. */
export interface ImageRuntime {
  /** The image's NODE_OPTIONS and CMD flags, then --service-node-options. */
  serviceNodeOptions: string[];
  /** The image's other ENV (NODE_ENV, the allocator's settings). */
  env: Record<string, string>;
  /** `env` as NAME=value words for the report, or 'none'. */
  envText: string;
}

// B runs as the image runs it: the Dockerfile's NODE_OPTIONS and CMD flags and its other ENV
// (NODE_ENV, the allocator's settings), plus any given here.
export async function readImageRuntime(root: string, extraNodeOptions: string): Promise<ImageRuntime> {
  const dockerfile = (await import(
    pathToFileURL(path.join(root, 'scripts/replay-dockerfile.mjs')).href
  )) as typeof import('../scripts/replay-dockerfile.mjs');
  const runtime = dockerfile.parseDockerfile(fs.readFileSync(path.join(root, 'Dockerfile'), 'utf8')).stages.at(-1)!;
  const cmd = runtime.instructions.filter((instruction) => instruction.keyword === 'CMD').at(-1)?.json;
  if (cmd?.[0] !== 'node' || cmd.at(-1) !== 'dist/main.js')
    throw new Error(`unexpected Dockerfile CMD: ${cmd?.join(' ')}`);
  const imageEnv: Record<string, string> = Object.fromEntries(
    runtime.instructions
      .filter((instruction) => instruction.keyword === 'ENV')
      .flatMap((instruction) => [...instruction.args.matchAll(/([A-Za-z_]\w*)=(?:"([^"]*)"|(\S*))/g)])
      .map(([, name, quoted, plain]) => [name!, quoted ?? plain ?? '']),
  );
  const { NODE_OPTIONS: imageNodeOptionsText = '', ...env } = imageEnv;
  const imageNodeOptions = imageNodeOptionsText.split(' ').filter(Boolean);
  const envText =
    Object.entries(env)
      .map(([name, value]) => `${name}=${value}`)
      .join(' ') || 'none';
  const serviceNodeOptions = [...imageNodeOptions, ...cmd.slice(1, -1), ...extraNodeOptions.split(' ').filter(Boolean)];
  return { serviceNodeOptions, env, envText };
}
