// Types of scripts/replay-dockerfile.mjs, for the tests that import it.

export class ReplayError extends Error {}

export interface Instruction {
  keyword: string;
  flags: Record<string, string>;
  /** The arguments as written, flags removed. */
  args: string;
  /** The exec form (JSON array), where the instruction has one. */
  json: string[] | null;
  line: number;
}

export interface Stage {
  index: number;
  name: string | null;
  image: string;
  line: number;
  instructions: Instruction[];
}

export interface ParsedDockerfile {
  /** ARGs declared before the first FROM. */
  args: Record<string, string | undefined>;
  stages: Stage[];
}

export interface ReplayedStage {
  id: string;
  name: string | null;
  image: string;
  /** The stage's filesystem root on this machine. */
  root: string;
  workdir: string;
  args: Record<string, string | undefined>;
  env: Record<string, string>;
  user: string | null;
  cmd: string[] | null;
  entrypoint: string[] | null;
  expose: string[];
  healthcheck: { flags: Record<string, string>; command: string[] | null } | null;
  stopsignal: string | null;
}

export interface ReplayResult {
  outDir: string;
  contextFiles: string[];
  stages: ReplayedStage[];
  /** The final stage, with WORKDIR mapped to a folder on this machine and ENTRYPOINT + CMD. */
  runtime: ReplayedStage & { dir: string; command: string[] };
}

export function parseDockerfile(text: string): ParsedDockerfile;
export function healthcheckCommand(instruction: Instruction): string[] | null;
export function dockerignoreMatcher(text: string): (file: string) => boolean;
export function contextFiles(dir?: string): string[];
export function baseEnv(): Record<string, string>;
export function nodeVersionOf(image: string): string | null;
export function replay(options: {
  dir?: string;
  outDir: string;
  dockerfile?: string;
  log?: (text: string) => void;
}): Promise<ReplayResult>;
