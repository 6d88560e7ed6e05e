#!/usr/bin/env node
// Replays the Dockerfile without Docker: the same build context (git's files less .dockerignore), the
// same COPY lines and RUN commands, one folder per stage in a temporary directory, so the image's
// install and build steps are checked on a machine without a Docker engine. The base image is this
// machine: its Node must be the major version the FROM lines name (the commands run with this Node first
// on PATH). test/container.int-spec.ts starts the runtime stage the way CMD says and checks that it works.
//
//   node scripts/replay-dockerfile.mjs build [--out DIR] [--dockerfile Dockerfile]   replay; print the runtime stage as JSON
//   node scripts/replay-dockerfile.mjs run   [--out DIR] [--keep]                     replay, then run CMD in it (Ctrl-C stops)
//   node scripts/replay-dockerfile.mjs parse [--dockerfile Dockerfile]               print the parsed stages as JSON
//
// Supported: FROM (an image or an earlier stage), ARG, ENV, WORKDIR, COPY (from the context or
// --from=stage; files and folders, no wildcards), RUN (shell and exec form; --mount flags are ignored),
// and USER, EXPOSE, HEALTHCHECK, CMD, ENTRYPOINT, LABEL, VOLUME, STOPSIGNAL as recorded metadata.
// Anything else (ADD, SHELL, ONBUILD, heredocs) fails loudly rather than being replayed wrongly.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export class ReplayError extends Error {}

// The types are spelled out in replay-dockerfile.d.mts (the tests import them from there).
/** @typedef {import('./replay-dockerfile.mjs').Instruction} Instruction */
/** @typedef {import('./replay-dockerfile.mjs').Stage} Stage */
/** @typedef {import('./replay-dockerfile.mjs').ParsedDockerfile} ParsedDockerfile */
/** @typedef {import('./replay-dockerfile.mjs').ReplayedStage} ReplayedStage */
/** @typedef {import('./replay-dockerfile.mjs').ReplayResult} ReplayResult */

// ---------------------------------------------------------------------------------------------
// Parsing

/**
 * Splits a Dockerfile into instructions: comments dropped, continuation lines joined.
 * @param {string} text
 */
function logicalLines(text) {
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  /** @type {{ text: string; line: number }[]} */
  const result = [];
  /** @type {{ text: string; line: number } | null} */
  let current = null;
  for (let i = 0; i < lines.length; i++) {
    const raw = /** @type {string} */ (lines[i]);
    if (/^\s*#/.test(raw) || (current !== null && raw.trim() === '')) continue; // comments, blank lines inside a continuation
    if (current === null && raw.trim() === '') continue;
    const continues = /\\\s*$/.test(raw);
    const piece = continues ? raw.replace(/\\\s*$/, '') : raw;
    if (current === null) current = { text: piece.trim(), line: i + 1 };
    else current.text += ` ${piece.trim()}`;
    if (!continues) {
      result.push(current);
      current = null;
    }
  }
  if (current !== null) result.push(current);
  return result;
}

/**
 * Leading `--name=value` flags of an instruction, and the rest.
 * @param {string} rest
 */
function takeFlags(rest) {
  /** @type {Record<string, string>} */
  const flags = {};
  let remaining = rest;
  for (;;) {
    const match = /^--([a-z-]+)(?:=(\S*))?\s*/.exec(remaining);
    if (!match) break;
    flags[/** @type {string} */ (match[1])] = match[2] ?? 'true';
    remaining = remaining.slice(match[0].length);
  }
  return { flags, rest: remaining.trim() };
}

/**
 * @param {string} text
 * @returns {string[] | null}
 */
function jsonArray(text) {
  if (!text.startsWith('[')) return null;
  try {
    const value = JSON.parse(text);
    return Array.isArray(value) && value.every((item) => typeof item === 'string') ? value : null;
  } catch {
    return null;
  }
}

/**
 * Words of a shell-like string, honouring single and double quotes and backslash escapes.
 * @param {string} text
 */
function words(text) {
  /** @type {string[]} */
  const result = [];
  /** @type {string | null} */
  let word = null;
  /** @type {string | null} */
  let quote = null;
  for (let i = 0; i < text.length; i++) {
    const c = /** @type {string} */ (text[i]);
    if (quote) {
      if (c === quote) quote = null;
      else if (c === '\\' && quote === '"' && i + 1 < text.length) word += /** @type {string} */ (text[++i]);
      else word += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      word ??= '';
    } else if (c === '\\' && i + 1 < text.length) {
      word = (word ?? '') + text[++i];
    } else if (/\s/.test(c)) {
      if (word !== null) result.push(word);
      word = null;
    } else {
      word = (word ?? '') + c;
    }
  }
  if (quote) throw new ReplayError(`unterminated quote in: ${text}`);
  if (word !== null) result.push(word);
  return result;
}

/**
 * `KEY=value ...` pairs (ENV, ARG, LABEL), or the legacy `ENV KEY value`.
 * @param {string} text
 * @param {string} keyword
 * @returns {Record<string, string | undefined>}
 */
function pairs(text, keyword) {
  const parts = words(text);
  const first = /** @type {string} */ (parts[0]);
  if (keyword === 'ENV' && parts.length >= 2 && !first.includes('=')) {
    return { [first]: text.trim().slice(first.length).trim() };
  }
  /** @type {Record<string, string | undefined>} */
  const result = {};
  for (const part of parts) {
    const at = part.indexOf('=');
    if (at < 0) result[part] = undefined;
    else result[part.slice(0, at)] = part.slice(at + 1);
  }
  return result;
}

/**
 * `$NAME`, `${NAME}` and `${NAME:-default}` from `vars`.
 * @param {string} text
 * @param {Record<string, string | undefined>} vars
 */
function substitute(text, vars) {
  return text.replace(
    /\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))/g,
    /** @type {(match: string, a: string | undefined, fallback: string | undefined, b: string | undefined) => string} */
    (_, a, fallback, b) => {
      // One of the two names matched: `${NAME...}` or `$NAME`.
      const value = vars[/** @type {string} */ (a ?? b)];
      return value !== undefined && value !== '' ? value : (fallback ?? '');
    },
  );
}

const METADATA = new Set(['USER', 'EXPOSE', 'LABEL', 'VOLUME', 'STOPSIGNAL', 'HEALTHCHECK', 'CMD', 'ENTRYPOINT']);
const SUPPORTED = new Set(['FROM', 'ARG', 'ENV', 'WORKDIR', 'COPY', 'RUN', ...METADATA]);

/**
 * The Dockerfile's stages. Each instruction keeps its keyword, flags, arguments as written (`args`),
 * and the exec form as an array (`json`) where it has one.
 * @param {string} text
 * @returns {ParsedDockerfile}
 */
export function parseDockerfile(text) {
  /** @type {Record<string, string | undefined>} */
  const globalArgs = {};
  /** @type {Stage[]} */
  const stages = [];
  for (const { text: line, line: lineNumber } of logicalLines(text)) {
    const match = /^(\S+)\s*(.*)$/.exec(line);
    if (!match) continue;
    const keyword = /** @type {string} */ (match[1]).toUpperCase();
    const afterKeyword = /** @type {string} */ (match[2]);
    if (!SUPPORTED.has(keyword)) throw new ReplayError(`line ${lineNumber}: ${keyword} is not supported by the replay`);
    if (/<<-?\s*["']?[A-Z]/.test(afterKeyword) && keyword === 'RUN')
      throw new ReplayError(`line ${lineNumber}: heredocs are not supported by the replay`);
    const { flags, rest } = ['FROM', 'COPY', 'RUN', 'HEALTHCHECK'].includes(keyword)
      ? takeFlags(afterKeyword)
      : { flags: {}, rest: afterKeyword.trim() };
    /** @type {Instruction} */
    const instruction = { keyword, flags, args: rest, json: jsonArray(rest), line: lineNumber };
    if (keyword === 'FROM') {
      const [imageRaw, as, name] = words(rest);
      if (!imageRaw || (as !== undefined && (as.toUpperCase() !== 'AS' || !name)))
        throw new ReplayError(`line ${lineNumber}: cannot read FROM ${rest}`);
      const image = substitute(imageRaw, globalArgs);
      stages.push({ index: stages.length, name: name ?? null, image, line: lineNumber, instructions: [] });
    } else if (stages.length === 0) {
      if (keyword !== 'ARG') throw new ReplayError(`line ${lineNumber}: ${keyword} before the first FROM`);
      for (const [key, value] of Object.entries(pairs(rest, keyword))) globalArgs[key] = value;
    } else {
      /** @type {Stage} */ (stages.at(-1)).instructions.push(instruction);
    }
  }
  if (stages.length === 0) throw new ReplayError('the Dockerfile has no FROM');
  return { args: globalArgs, stages };
}

/**
 * The exec-form command of a HEALTHCHECK (`CMD [...]`), its shell form, or null for NONE.
 * @param {Instruction} instruction
 */
export function healthcheckCommand(instruction) {
  const { rest } = takeFlags(instruction.args);
  if (/^NONE$/i.test(rest)) return null;
  const match = /^CMD\s+(.*)$/is.exec(rest);
  if (!match) throw new ReplayError(`line ${instruction.line}: cannot read HEALTHCHECK ${instruction.args}`);
  const command = /** @type {string} */ (match[1]).trim();
  return jsonArray(command) ?? ['/bin/sh', '-c', command];
}

// ---------------------------------------------------------------------------------------------
// The build context: git's files (tracked and new, not git-ignored) less .dockerignore

/** @param {string} pattern */
function globToRegExp(pattern) {
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = /** @type {string} */ (pattern[i]);
    if (c === '*' && pattern[i + 1] === '*') {
      const slash = pattern[i + 2] === '/';
      source += slash ? '(?:.*/)?' : '.*';
      i += slash ? 2 : 1;
    } else if (c === '*') source += '[^/]*';
    else if (c === '?') source += '[^/]';
    else if (c === '[') {
      const end = pattern.indexOf(']', i);
      if (end < 0) source += '\\[';
      else {
        source += `[${pattern
          .slice(i + 1, end)
          .replace(/^!/, '^')
          .replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else if (c === '\\' && i + 1 < pattern.length) source += `\\${pattern[++i]}`;
    else source += /[.+^${}()|\\/]/.test(c) ? `\\${c}` : c;
  }
  return new RegExp(`^${source}$`);
}

/**
 * A .dockerignore's rules as Docker applies them: patterns anchored at the context's root (`**` for any
 * depth), a pattern that matches a folder excludes what is in it, `!` re-includes, the last match wins.
 * @param {string} text
 */
export function dockerignoreMatcher(text) {
  const rules = text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const negate = line.startsWith('!');
      const pattern = path.posix
        .normalize(negate ? line.slice(1).trim() : line)
        .replace(/^\/+/, '')
        .replace(/\/+$/, '');
      return { negate, regexp: globToRegExp(pattern) };
    });
  return (/** @type {string} */ file) => {
    const parts = path.posix.normalize(file).split('/');
    const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
    let ignored = false;
    for (const rule of rules) {
      if (prefixes.some((prefix) => rule.regexp.test(prefix))) ignored = !rule.negate;
    }
    return ignored;
  };
}

/** The files Docker would send as the build context, relative to `dir` (git's view of the tree). */
export function contextFiles(dir = root) {
  const listed = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
    cwd: dir,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  })
    .split('\0')
    .filter((file) => file !== '');
  const ignoreFile = path.join(dir, '.dockerignore');
  const ignored = fs.existsSync(ignoreFile) ? dockerignoreMatcher(fs.readFileSync(ignoreFile, 'utf8')) : () => false;
  return [...new Set(listed)]
    .filter((file) => !ignored(file) && fs.statSync(path.join(dir, file), { throwIfNoEntry: false })?.isFile())
    .sort();
}

// ---------------------------------------------------------------------------------------------
// Replaying

// What the commands see besides the stage's ARG and ENV: this Node first on PATH, and what npm needs to
// reach its registry here. Nothing else of this process's environment (npm_config_* of an `npm test`
// would change what `npm ci` does).
const PASS_THROUGH = [
  'HOME',
  'TMPDIR',
  'HTTP_PROXY',
  'HTTPS_PROXY',
  'NO_PROXY',
  'http_proxy',
  'https_proxy',
  'no_proxy',
  'NODE_EXTRA_CA_CERTS',
  'SSL_CERT_FILE',
  'npm_config_registry',
  'npm_config_cafile',
  'npm_config_userconfig',
  'npm_config_cache',
];

export function baseEnv() {
  /** @type {Record<string, string>} */
  const env = { PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH ?? ''}` };
  for (const key of PASS_THROUGH) {
    const value = process.env[key];
    if (value !== undefined) env[key] = value;
  }
  return env;
}

/**
 * The base image's Node version, from an image like node:24.21.0-bookworm-slim.
 * @param {string} image
 */
export function nodeVersionOf(image) {
  return /^(?:docker\.io\/)?(?:library\/)?node:(\d+(?:\.\d+){0,2})/.exec(image)?.[1] ?? null;
}

/**
 * @param {string} command
 * @param {string[]} args
 * @param {{ cwd: string; env: Record<string, string> }} options
 * @param {(text: string) => void} log
 * @returns {Promise<void>}
 */
function run(command, args, options, log) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    /** @type {string[]} */
    const output = [];
    const take = (/** @type {Buffer} */ chunk) => {
      output.push(chunk.toString());
      log(chunk.toString());
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve();
      else {
        const tail = output.join('').trimEnd().split('\n').slice(-40).join('\n');
        reject(new ReplayError(`exit ${code}: ${[command, ...args].join(' ')}\n${tail}`));
      }
    });
  });
}

/**
 * @param {string} source
 * @param {string} destination
 * @param {boolean} intoFolder
 */
function copyInto(source, destination, intoFolder) {
  const stat = fs.statSync(source);
  if (stat.isDirectory()) {
    // Docker copies a folder's contents, not the folder itself.
    fs.mkdirSync(destination, { recursive: true });
    fs.cpSync(source, destination, { recursive: true });
  } else {
    const target = intoFolder ? path.join(destination, path.basename(source)) : destination;
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.copyFileSync(source, target);
  }
}

/**
 * Replays the Dockerfile in `outDir` (created; must be empty or missing). Returns every stage and the
 * final one as `runtime`: its folder on this machine (`dir`, WORKDIR mapped), ENV, USER, CMD, EXPOSE,
 * HEALTHCHECK.
 * @param {{ dir?: string; outDir?: string; dockerfile?: string; log?: (text: string) => void }} [options]
 * @returns {Promise<ReplayResult>}
 */
export async function replay({
  dir = root,
  outDir,
  dockerfile = 'Dockerfile',
  log = (text) => process.stderr.write(text),
} = {}) {
  if (!outDir) throw new ReplayError('replay needs an outDir');
  outDir = path.resolve(outDir);
  // A node_modules above the replay would lend its packages to the runtime stage and hide a missing
  // production dependency.
  for (let up = path.dirname(outDir); ; up = path.dirname(up)) {
    if (fs.existsSync(path.join(up, 'node_modules')))
      throw new ReplayError(`${up}/node_modules exists: replay somewhere without node_modules above it`);
    if (path.dirname(up) === up) break;
  }
  if (fs.existsSync(outDir) && fs.readdirSync(outDir).length > 0) throw new ReplayError(`${outDir} is not empty`);
  const { args: globalArgs, stages } = parseDockerfile(fs.readFileSync(path.join(dir, dockerfile), 'utf8'));

  const context = path.join(outDir, 'context');
  const files = contextFiles(dir);
  for (const file of files) {
    fs.mkdirSync(path.dirname(path.join(context, file)), { recursive: true });
    fs.copyFileSync(path.join(dir, file), path.join(context, file));
  }
  log(`replay: build context of ${files.length} files in ${context}\n`);

  /** @type {Map<string, ReplayedStage>} */
  const done = new Map();
  const stageByName = (/** @type {string} */ name) => {
    const stage = done.get(name) ?? done.get(String(Number(name)));
    if (!stage) throw new ReplayError(`no earlier stage named ${name}`);
    return stage;
  };
  const started = Date.now();
  for (const stage of stages) {
    const id = stage.name ?? String(stage.index);
    const fsRoot = path.join(outDir, 'stages', id);
    /** @type {ReplayedStage} */
    const state = {
      id,
      name: stage.name,
      image: stage.image,
      root: fsRoot,
      workdir: '/',
      args: { ...globalArgs },
      env: {},
      user: null,
      cmd: null,
      entrypoint: null,
      expose: [],
      healthcheck: null,
      stopsignal: null,
    };
    const parent = stage.name === stage.image ? null : done.get(stage.image);
    if (parent) {
      fs.cpSync(parent.root, fsRoot, { recursive: true });
      Object.assign(state, {
        workdir: parent.workdir,
        env: { ...parent.env },
        user: parent.user,
        cmd: parent.cmd,
        entrypoint: parent.entrypoint,
        expose: [...parent.expose],
        healthcheck: parent.healthcheck,
      });
    } else {
      fs.mkdirSync(fsRoot, { recursive: true });
      const wanted = nodeVersionOf(stage.image);
      if (wanted === null) throw new ReplayError(`stage ${id}: only node:<version> base images can be replayed`);
      if (wanted.split('.')[0] !== process.versions.node.split('.')[0])
        throw new ReplayError(`stage ${id} is ${stage.image}; this replay runs Node ${process.versions.node}`);
      if (wanted !== process.versions.node)
        log(`replay: warning: ${stage.image} has Node ${wanted}; replaying with Node ${process.versions.node}\n`);
    }
    const host = (/** @type {string} */ p) => path.join(fsRoot, path.posix.resolve(state.workdir, p));
    log(`replay: stage ${id} (FROM ${stage.image})\n`);
    for (const instruction of stage.instructions) {
      const vars = { ...state.args, ...state.env };
      const { keyword } = instruction;
      switch (keyword) {
        case 'ARG':
          for (const [key, value] of Object.entries(pairs(instruction.args, keyword)))
            state.args[key] = value ?? globalArgs[key];
          break;
        case 'ENV':
          for (const [key, value] of Object.entries(pairs(instruction.args, keyword)))
            state.env[key] = substitute(value ?? '', vars);
          break;
        case 'WORKDIR':
          state.workdir = path.posix.resolve(state.workdir, substitute(instruction.args, vars));
          fs.mkdirSync(host('.'), { recursive: true });
          break;
        case 'COPY': {
          const items = (instruction.json ?? words(instruction.args)).map((item) => substitute(item, vars));
          if (items.length < 2)
            throw new ReplayError(`line ${instruction.line}: COPY needs a source and a destination`);
          const destination = /** @type {string} */ (items.at(-1));
          const sources = items.slice(0, -1);
          const from = instruction.flags.from;
          const base = from === undefined ? context : stageByName(from).root;
          const intoFolder = destination.endsWith('/') || sources.length > 1;
          for (const source of sources) {
            if (/[*?[]/.test(source))
              throw new ReplayError(`line ${instruction.line}: COPY wildcards are not supported`);
            const sourcePath = path.join(base, path.posix.normalize(`/${source}`));
            if (!fs.existsSync(sourcePath))
              throw new ReplayError(
                from === undefined
                  ? `line ${instruction.line}: COPY ${source}: not in the build context (missing, git-ignored or in .dockerignore)`
                  : `line ${instruction.line}: COPY --from=${from} ${source}: stage ${from} has no ${source}`,
              );
            copyInto(sourcePath, host(destination), intoFolder);
          }
          log(`replay: COPY ${from ? `--from=${from} ` : ''}${sources.join(' ')} ${destination}\n`);
          break;
        }
        case 'RUN': {
          const [command, ...commandArgs] = instruction.json ?? ['/bin/sh', '-c', instruction.args];
          log(`replay: RUN ${instruction.args}\n`);
          /** @type {Record<string, string | undefined>} */
          const env = { ...baseEnv(), ...state.args, ...state.env };
          for (const key of Object.keys(env)) if (env[key] === undefined) delete env[key];
          await run(
            /** @type {string} */ (command),
            commandArgs,
            { cwd: host('.'), env: /** @type {Record<string, string>} */ (env) },
            log,
          );
          break;
        }
        case 'USER':
          state.user = instruction.args;
          break;
        case 'EXPOSE':
          state.expose.push(...words(instruction.args));
          break;
        case 'HEALTHCHECK':
          state.healthcheck = { flags: instruction.flags, command: healthcheckCommand(instruction) };
          break;
        case 'CMD':
          state.cmd = instruction.json ?? ['/bin/sh', '-c', instruction.args];
          break;
        case 'ENTRYPOINT':
          state.entrypoint = instruction.json ?? ['/bin/sh', '-c', instruction.args];
          break;
        case 'STOPSIGNAL':
          state.stopsignal = instruction.args;
          break;
        default: // LABEL, VOLUME: nothing to replay
      }
    }
    done.set(id, state);
  }
  // parseDockerfile fails on a Dockerfile without a FROM, so there is a last stage.
  const runtime = /** @type {ReplayedStage} */ ([...done.values()].at(-1));
  log(`replay: done in ${Math.round((Date.now() - started) / 1000)} s\n`);
  return {
    outDir,
    contextFiles: files,
    stages: [...done.values()],
    runtime: {
      ...runtime,
      dir: path.join(runtime.root, runtime.workdir),
      command: [...(runtime.entrypoint ?? []), ...(runtime.cmd ?? [])],
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Command line

async function main() {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      out: { type: 'string' },
      dockerfile: { type: 'string', default: 'Dockerfile' },
      keep: { type: 'boolean', default: false },
    },
  });
  const [command] = positionals;
  if (command === 'parse') {
    process.stdout.write(
      JSON.stringify(parseDockerfile(fs.readFileSync(path.join(root, values.dockerfile), 'utf8')), null, 2) + '\n',
    );
    return;
  }
  if (command !== 'build' && command !== 'run')
    throw new ReplayError('usage: replay-dockerfile.mjs build|run|parse [--out DIR] [--dockerfile FILE] [--keep]');
  const outDir = values.out ? path.resolve(values.out) : fs.mkdtempSync(path.join(os.tmpdir(), 'plays-replay-'));
  const result = await replay({ outDir, dockerfile: values.dockerfile });
  if (command === 'build') {
    const { runtime } = result;
    process.stdout.write(
      JSON.stringify(
        {
          outDir,
          dir: runtime.dir,
          env: runtime.env,
          user: runtime.user,
          command: runtime.command,
          expose: runtime.expose,
        },
        null,
        2,
      ) + '\n',
    );
    return;
  }
  const { runtime } = result;
  const [executable, ...args] = runtime.command;
  process.stderr.write(`replay: running ${runtime.command.join(' ')} in ${runtime.dir}\n`);
  const child = spawn(/** @type {string} */ (executable), args, {
    cwd: runtime.dir,
    env: { ...process.env, PATH: baseEnv().PATH, ...runtime.env },
    stdio: 'inherit',
  });
  for (const signal of /** @type {const} */ (['SIGINT', 'SIGTERM'])) process.on(signal, () => child.kill(signal));
  /** @type {number} */
  const code = await new Promise((resolve) =>
    child.on('exit', (exitCode, signal) => resolve(exitCode ?? (signal ? 1 : 0))),
  );
  if (!values.keep && !values.out) fs.rmSync(outDir, { recursive: true, force: true });
  process.exitCode = code;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    await main();
  } catch (error) {
    if (!(error instanceof ReplayError)) throw error;
    process.stderr.write(`replay: ${error.message}\n`);
    process.exit(1);
  }
}
