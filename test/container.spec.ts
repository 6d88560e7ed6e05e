import 'reflect-metadata';
import fs from 'node:fs';
import path from 'node:path';
import { PATH_METADATA } from '@nestjs/common/constants.js';
import { parse, parseAllDocuments } from 'yaml';
import {
  contextFiles,
  dockerignoreMatcher,
  healthcheckCommand,
  nodeVersionOf,
  parseDockerfile,
  type Instruction,
  type Stage,
} from '../scripts/replay-dockerfile.mjs';
import { envSchema } from '../src/config/env.schema.js';
import { HealthController } from '../src/health/health.controller.js';

// The container files (Dockerfile, .dockerignore, docker-compose.yaml, deploy/k8s/) checked against the
// app without Docker or a cluster: variable names and values, ports, health paths, pinned images, the
// order of start-up, shutdown and security settings. test/container.int-spec.ts replays the build itself.

const root = path.resolve(import.meta.dirname, '..');
const read = (file: string) => fs.readFileSync(path.join(root, file), 'utf8');

type EnvName = keyof typeof envSchema.shape;
const schemaNames = new Set(Object.keys(envSchema.shape));
const defaultOf = (name: EnvName): unknown => envSchema.shape[name].parse(undefined);

/** The app's health routes, from the controller's own route metadata. */
function healthPath(method: 'live' | 'ready'): string {
  const prefix = Reflect.getMetadata(PATH_METADATA, HealthController) as string;
  // eslint-disable-next-line @typescript-eslint/unbound-method -- read for its metadata only
  const route = Reflect.getMetadata(PATH_METADATA, HealthController.prototype[method]) as string;
  return `/${prefix}/${route}`.replace(/\/+/g, '/');
}
const LIVE = healthPath('live');
const READY = healthPath('ready');

/** An image reference pinned to a version (a tag with a number in it, not latest) or a digest. */
function isPinned(image: string): boolean {
  if (/@sha256:[0-9a-f]{64}$/.test(image)) return true;
  const tag = /:([^/:@]+)$/.exec(image)?.[1];
  return tag !== undefined && tag !== 'latest' && /\d+\.\d+/.test(tag);
}

/** The schema's verdict on an environment: every problem as `NAME: message`. */
function envProblems(env: Record<string, string>): string[] {
  const result = envSchema.safeParse(env);
  return result.success ? [] : result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
}

const stringify = (env: Record<string, unknown>): Record<string, string> =>
  Object.fromEntries(Object.entries(env).map(([key, value]) => [key, String(value)]));

// ---------------------------------------------------------------------------------------------

describe('Dockerfile', () => {
  const { stages } = parseDockerfile(read('Dockerfile'));
  const runtime = stages.at(-1)!;
  const stageNames = new Set(stages.map((stage) => stage.name));
  const all = (stage: Stage, keyword: string) => stage.instructions.filter((i) => i.keyword === keyword);
  const last = (stage: Stage, keyword: string): Instruction | undefined => all(stage, keyword).at(-1);

  it('builds on images pinned to a version, Node as in .nvmrc', () => {
    const nvmrc = read('.nvmrc').trim();
    const bases = stages.filter((stage) => !stageNames.has(stage.image));
    expect(bases.length).toBeGreaterThan(0);
    for (const stage of bases) {
      expect(isPinned(stage.image), `${stage.image} (line ${stage.line}) is not pinned to a version`).toBe(true);
      expect(nodeVersionOf(stage.image), `${stage.image} (line ${stage.line}) is not Node ${nvmrc}`).toBe(nvmrc);
      expect(stage.image, 'a slim base image').toMatch(/-slim\b/);
    }
  });

  it('compiles in a build stage and runs production dependencies and dist only', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const runs = (stage: Stage) => all(stage, 'RUN').map((i) => i.args);
    const build = stages.find((stage) => runs(stage).some((command) => /\bnest build\b/.test(command)));
    expect(build, 'a stage runs `nest build`').toBeDefined();
    expect(runs(build!).some((command) => /\bnpm ci\b/.test(command))).toBe(true);
    expect(build).not.toBe(runtime);
    // The runtime stage installs and builds nothing itself: it copies package.json from the context,
    // node_modules from a stage that installed production dependencies only, and dist from the build.
    expect(runs(runtime)).toEqual([]);
    const copies = all(runtime, 'COPY');
    const fromContext = copies
      .filter((copy) => copy.flags.from === undefined)
      .flatMap((copy) => copy.args.split(/\s+/).slice(0, -1));
    expect(fromContext).toEqual(['package.json']);
    const copiedFrom = (source: string) =>
      copies.find((copy) => copy.flags.from && copy.args.split(/\s+/)[0]?.endsWith(source));
    const modules = copiedFrom('/node_modules');
    const dist = copiedFrom('/dist');
    expect(modules, 'node_modules is copied from another stage').toBeDefined();
    expect(dist, 'dist is copied from the build stage').toBeDefined();
    expect(dist!.flags.from).toBe(build!.name);
    const depsStage = stages.find((stage) => stage.name === modules!.flags.from)!;
    expect(runs(depsStage).some((command) => /\bnpm (ci|prune)\b.*--omit=dev\b/.test(command))).toBe(true);
    expect(copies.length).toBe(3);
  });

  it('runs as a non-root user with NODE_ENV=production', () => {
    const user = last(runtime, 'USER')?.args;
    expect(user, 'the runtime stage sets USER').toBeDefined();
    expect(user!.split(':')[0]).not.toMatch(/^(root|0)$/);
    expect(all(runtime, 'ENV').some((env) => /\bNODE_ENV=production\b/.test(env.args))).toBe(true);
  });

  it('starts node itself as PID 1 (exec form), as `npm run start:prod` does', () => {
    const cmd = last(runtime, 'CMD')?.json;
    expect(cmd, 'CMD in exec form (JSON array): no shell between Docker and node').toBeTruthy();
    expect(last(runtime, 'ENTRYPOINT')).toBeUndefined();
    const [executable, ...args] = cmd!;
    expect(executable).toBe('node');
    expect(args.at(-1)).toBe('dist/main.js');
    const startProd = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts['start:prod'];
    const flags = /\bnode\s+(.*)\s+dist\/main\b/.exec(startProd ?? '')?.[1]?.split(/\s+/);
    expect(args.slice(0, -1)).toEqual(flags);
    expect(last(runtime, 'STOPSIGNAL')?.args ?? 'SIGTERM').toBe('SIGTERM');
  });

  it('exposes the PORT default and checks liveness with node (no curl)', () => {
    expect(last(runtime, 'EXPOSE')?.args).toBe(String(defaultOf('PORT')));
    const healthcheck = last(runtime, 'HEALTHCHECK');
    expect(healthcheck).toBeDefined();
    const command = healthcheckCommand(healthcheck!);
    expect(command?.[0]).toBe('node');
    const script = command!.join(' ');
    expect(script).toContain(LIVE);
    expect(script).toMatch(/process\.env\.PORT\s*\|\|\s*3000/);
    expect(script).not.toMatch(/\b(curl|wget)\b/);
    expect(defaultOf('PORT')).toBe(3000);
  });

  it('copies only what is in the build context', () => {
    const context = new Set(contextFiles(root));
    for (const stage of stages) {
      for (const copy of all(stage, 'COPY').filter((i) => i.flags.from === undefined)) {
        for (const source of copy.args.split(/\s+/).slice(0, -1)) {
          const present = context.has(source) || [...context].some((file) => file.startsWith(`${source}/`));
          expect(present, `COPY ${source} (line ${copy.line}): not in the build context`).toBe(true);
        }
      }
    }
  });
});

describe('.dockerignore', () => {
  const ignored = dockerignoreMatcher(read('.dockerignore'));

  it('keeps caches, build output, tests, logs and secrets out of the build context', () => {
    for (const file of [
      'node_modules/kafkajs/package.json',
      'dist/main.js',
      '.cache/node-24.21.0/x',
      '.deps/kafka.log',
      '.git/HEAD',
      'test/container.spec.ts',
      'src/plays/play.spec.ts',
      'test-artifacts/report.json',
      'coverage/index.html',
      'npm-debug.log',
      'src/deep/debug.log',
      '.env',
      '.env.production',
      'secrets/kafka.txt',
      'tls/client.pem',
      'gcp-key.json',
      'keys/service-account-key.json',
      'application_default_credentials.json',
    ])
      expect(ignored(file), `${file} is in the build context`).toBe(true);
  });

  it('keeps what the build needs', () => {
    for (const file of [
      'package.json',
      'package-lock.json',
      'nest-cli.json',
      'tsconfig.json',
      'tsconfig.build.json',
      'src/main.ts',
    ])
      expect(ignored(file), `${file} is not in the build context`).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------------

interface ComposeService {
  image?: string;
  build?: string | { context?: string; dockerfile?: string };
  command?: string | string[];
  environment?: Record<string, string | number | boolean | null> | string[];
  ports?: (string | { target: number; published?: string | number })[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  healthcheck?: { test?: string | string[]; disable?: boolean };
  stop_grace_period?: string;
}

function composeEnv(service: ComposeService): Record<string, string> {
  const env = service.environment ?? {};
  if (Array.isArray(env))
    return Object.fromEntries(env.map((item) => [item.split('=')[0]!, item.slice(item.indexOf('=') + 1)]));
  return stringify(env);
}

const containerPort = (port: string | { target: number }) =>
  typeof port === 'string' ? Number(port.split(':').at(-1)!.split('/')[0]) : port.target;

const seconds = (duration: string) => {
  const match = /^(?:(\d+)m)?(?:(\d+)s)?$/.exec(duration);
  return match ? Number(match[1] ?? 0) * 60 + Number(match[2] ?? 0) : NaN;
};

describe('docker-compose.yaml', () => {
  const compose = parse(read('docker-compose.yaml')) as { services: Record<string, ComposeService> };
  const { kafka, bigquery, app } = compose.services;
  const appEnv = composeEnv(app!);
  const emulatorStages = parseDockerfile(read('deps/bigquery-emulator/Dockerfile')).stages;

  it('has kafka, bigquery and app services', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['app', 'bigquery', 'kafka']);
  });

  it('uses images pinned to versions, Kafka as the tests do', () => {
    for (const [name, service] of Object.entries(compose.services)) {
      if (service.image !== undefined) expect(isPinned(service.image), `${name}: ${service.image}`).toBe(true);
      else expect(service.build, `${name} has neither image nor build`).toBeDefined();
    }
    const kafkaVersion = /KAFKA_VERSION \|\| '([\d.]+)'/.exec(read('scripts/deps.mjs'))?.[1];
    expect(kafka!.image).toBe(`apache/kafka:${kafkaVersion}`);
    for (const stage of emulatorStages) expect(isPinned(stage.image), stage.image).toBe(true);
    expect(emulatorStages.at(-1)!.image).toMatch(/^python:3\.13\.\d+-slim/);
  });

  it('builds the app from the Dockerfile and the emulator from its pinned requirements', () => {
    const context = (service: ComposeService) =>
      typeof service.build === 'string' ? service.build : service.build?.context;
    expect(context(app!)).toBe('.');
    expect(context(bigquery!)).toBe('deps/bigquery-emulator');
    const emulator = emulatorStages.at(-1)!;
    const runs = emulator.instructions
      .filter((i) => i.keyword === 'RUN')
      .map((i) => i.args)
      .join('\n');
    expect(runs).toMatch(/pip install -r requirements\.txt/);
    expect(runs).toMatch(/python install_extensions\.py/);
    // DuckDB finds the extensions under HOME, at install and at run time alike (as deps.mjs sets it).
    expect(emulator.instructions.some((i) => i.keyword === 'ENV' && /\bHOME=/.test(i.args))).toBe(true);
    for (const copy of emulator.instructions.filter((i) => i.keyword === 'COPY'))
      for (const source of copy.args.split(/\s+/).slice(0, -1))
        expect(fs.existsSync(path.join(root, 'deps/bigquery-emulator', source)), source).toBe(true);
    expect(read('scripts/deps.mjs')).toContain("const EMULATOR = 'local-bigquery 0.3.2'");
    expect(read('deps/bigquery-emulator/requirements.txt')).toMatch(/^local-bigquery==0\.3\.2$/m);
  });

  it('starts the app after Kafka and the emulator are healthy', () => {
    expect(app!.depends_on).toEqual({
      kafka: { condition: 'service_healthy' },
      bigquery: { condition: 'service_healthy' },
    });
    for (const service of [kafka!, bigquery!]) {
      expect(service.healthcheck?.test).toBeDefined();
      expect(service.healthcheck?.disable).not.toBe(true);
    }
    expect(String(kafka!.healthcheck!.test)).toMatch(/kafka-broker-api-versions\.sh.*--bootstrap-server/);
  });

  it('sets only variables the app reads, with values it accepts, and the simulator on', () => {
    for (const name of Object.keys(appEnv)) expect(schemaNames, `${name} is not in env.schema.ts`).toContain(name);
    expect(envProblems(appEnv)).toEqual([]);
    expect(appEnv.SIMULATOR_ENABLED).toBe('true');
  });

  it("states the dashboard's BigQuery bounds: the per-replica query ceiling and the bytes a query may bill", () => {
    expect(Number(appEnv.DASHBOARD_MAX_QUERIES_PER_SECOND)).toBe(defaultOf('DASHBOARD_MAX_QUERIES_PER_SECOND'));
    expect(Number(appEnv.DASHBOARD_MAX_BYTES_BILLED)).toBe(defaultOf('DASHBOARD_MAX_BYTES_BILLED'));
  });

  it('points the app at the kafka and bigquery services', () => {
    const kafkaEnv = composeEnv(kafka!);
    const advertised = (kafkaEnv.KAFKA_ADVERTISED_LISTENERS ?? '').split(',').map((l) => l.replace(/^\w+:\/\//, ''));
    for (const broker of appEnv.KAFKA_BROKERS!.split(',')) expect(advertised).toContain(broker);
    expect(appEnv.KAFKA_BROKERS!.split(':')[0]).toBe('kafka');
    // The broker's healthcheck asks a listener it has.
    const probed = /--bootstrap-server,?\s*([\w.-]+:\d+)/.exec(String(kafka!.healthcheck!.test))?.[1];
    const listenPorts = (kafkaEnv.KAFKA_LISTENERS ?? '').split(',').map((l) => l.split(':').at(-1));
    expect(listenPorts).toContain(probed?.split(':')[1]);

    const endpoint = new URL(appEnv.BIGQUERY_API_ENDPOINT!);
    expect(endpoint.hostname).toBe('bigquery');
    const entrypoint = emulatorStages.at(-1)!.instructions.find((i) => i.keyword === 'ENTRYPOINT')!.json!;
    expect(entrypoint).toContain('--host=0.0.0.0');
    // The image runs the emulator as the tests do: through serve.py, whose lock per write stream gives
    // BigQuery's one-at-a-time appends and finalize (test/bigquery.int-spec.ts).
    expect(entrypoint.slice(0, 3)).toEqual(['python', '/opt/local-bigquery/serve.py', 'serve']);
    expect(read('scripts/deps.mjs')).toMatch(/path\.join\(emulatorDir, 'serve\.py'\),\s*'serve',/);
    expect(entrypoint).toContain(`--port=${endpoint.port}`);
    // The Write API (SINK_API=storage-write) is the emulator's gRPC port.
    const [grpcHost, grpcPort] = appEnv.BIGQUERY_STORAGE_API_ENDPOINT!.split(':');
    expect(grpcHost).toBe('bigquery');
    expect(entrypoint).toContain(`--grpc-port=${grpcPort}`);
    // One project everywhere: the emulator's, its healthcheck's and the app's.
    const project = appEnv.BIGQUERY_PROJECT_ID!;
    expect([bigquery!.command].flat()).toContain(`--project=${project}`);
    expect(String(bigquery!.healthcheck!.test)).toContain(
      `http://127.0.0.1:${endpoint.port}/bigquery/v2/projects/${project}/datasets`,
    );
  });

  it("publishes the app's port and probes its health paths", () => {
    const port = Number(appEnv.PORT ?? defaultOf('PORT'));
    expect(app!.ports?.map(containerPort)).toContain(port);
    // The app's healthcheck is the Dockerfile's (on /health/live) unless compose sets its own.
    if (app!.healthcheck?.test !== undefined) expect(String(app!.healthcheck.test)).toMatch(/\/health\/(live|ready)\b/);
    expect(read('Dockerfile')).toContain(LIVE);
    const shutdownMs = Number(appEnv.SHUTDOWN_TIMEOUT_MS ?? defaultOf('SHUTDOWN_TIMEOUT_MS'));
    expect(seconds(app!.stop_grace_period ?? '10s') * 1000).toBeGreaterThan(shutdownMs);
  });
});

// ---------------------------------------------------------------------------------------------

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  data?: Record<string, string>;
  stringData?: Record<string, string>;
  spec?: Record<string, unknown>;
}
interface Probe {
  httpGet?: { path: string; port: string | number };
}
interface Container {
  name: string;
  image: string;
  ports?: { name?: string; containerPort: number }[];
  env?: { name: string; value?: string; valueFrom?: unknown }[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  startupProbe?: Probe;
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: {
    runAsNonRoot?: boolean;
    runAsUser?: number;
    allowPrivilegeEscalation?: boolean;
    readOnlyRootFilesystem?: boolean;
    capabilities?: { drop?: string[] };
  };
  volumeMounts?: { name: string; mountPath: string }[];
}
interface PodSpec {
  serviceAccountName?: string;
  terminationGracePeriodSeconds?: number;
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number };
  containers: Container[];
  volumes?: {
    name: string;
    emptyDir?: object;
    secret?: { secretName: string; items?: { key: string; path: string }[] };
  }[];
}
interface DeploymentSpec {
  replicas?: number;
  selector: { matchLabels: Record<string, string> };
  template: { metadata: { labels: Record<string, string> }; spec: PodSpec };
}

describe('deploy/k8s', () => {
  const dir = path.join(root, 'deploy/k8s');
  const objects: K8sObject[] = fs
    .readdirSync(dir)
    .filter((file) => /\.ya?ml$/.test(file))
    .flatMap((file) =>
      parseAllDocuments(fs.readFileSync(path.join(dir, file), 'utf8')).map((doc) => {
        expect(doc.errors, file).toEqual([]);
        return doc.toJS() as K8sObject;
      }),
    )
    .filter(Boolean);
  const ofKind = (kind: string) => objects.filter((object) => object.kind === kind);
  const named = (kind: string, name: string) => ofKind(kind).find((object) => object.metadata.name === name);

  const deployment = ofKind('Deployment')[0]!;
  const spec = deployment.spec as unknown as DeploymentSpec;
  const pod = spec.template.spec;
  const container = pod.containers[0]!;

  /** The container's environment as Kubernetes assembles it (envFrom, then env). */
  const env: Record<string, string> = {};
  for (const source of container.envFrom ?? []) {
    const object = source.configMapRef
      ? named('ConfigMap', source.configMapRef.name)
      : named('Secret', source.secretRef!.name);
    expect(object, `envFrom ${JSON.stringify(source)} names no object in deploy/k8s`).toBeDefined();
    Object.assign(env, object!.data ?? {}, object!.stringData ?? {});
  }
  for (const variable of container.env ?? []) env[variable.name] = variable.value ?? 'from-a-reference';

  it('has a Deployment, ConfigMap, Secret template, Service, PodDisruptionBudget and ServiceAccount', () => {
    for (const kind of ['Deployment', 'ConfigMap', 'Secret', 'Service', 'PodDisruptionBudget', 'ServiceAccount'])
      expect(ofKind(kind).length, kind).toBeGreaterThan(0);
    expect(ofKind('Deployment')).toHaveLength(1);
    expect(pod.containers).toHaveLength(1);
    expect(named('ServiceAccount', pod.serviceAccountName ?? '')).toBeDefined();
  });

  it('sets only variables the app reads, with values it accepts', () => {
    for (const name of Object.keys(env)) expect(schemaNames, `${name} is not in env.schema.ts`).toContain(name);
    for (const configMap of ofKind('ConfigMap'))
      for (const name of Object.keys(configMap.data ?? {})) expect(schemaNames).toContain(name);
    expect(envProblems(env)).toEqual([]);
  });

  it('ships Secrets as placeholders only', () => {
    for (const secret of ofKind('Secret')) {
      expect(secret.data, `${secret.metadata.name}: use stringData placeholders, not data`).toBeUndefined();
      for (const [key, value] of Object.entries(secret.stringData ?? {}))
        expect(value, `${secret.metadata.name}.${key} must be a REPLACE_ME placeholder`).toMatch(/^REPLACE_ME\b/);
    }
  });

  it('mounts the Google credentials file where GOOGLE_APPLICATION_CREDENTIALS says', () => {
    const file = env.GOOGLE_APPLICATION_CREDENTIALS!;
    expect(file).toMatch(/^\//);
    const mount = container.volumeMounts?.find((m) => path.posix.dirname(file) === m.mountPath);
    expect(mount, `a volumeMount at ${path.posix.dirname(file)}`).toBeDefined();
    const volume = pod.volumes?.find((v) => v.name === mount!.name);
    const secret = named('Secret', volume?.secret?.secretName ?? '');
    expect(secret, 'the mount is a Secret defined here').toBeDefined();
    const item = volume!.secret!.items?.find((i) => i.path === path.posix.basename(file));
    expect(Object.keys(secret!.stringData ?? {})).toContain(item?.key ?? path.posix.basename(file));
  });

  it("probes the app's health paths on its port", () => {
    const port = Number(env.PORT ?? defaultOf('PORT'));
    const resolve = (value: string | number) =>
      typeof value === 'number' ? value : container.ports?.find((p) => p.name === value)?.containerPort;
    expect(container.ports?.map((p) => p.containerPort)).toEqual([port]);
    expect(container.startupProbe?.httpGet?.path).toBe(LIVE);
    expect(container.livenessProbe?.httpGet?.path).toBe(LIVE);
    expect(container.readinessProbe?.httpGet?.path).toBe(READY);
    for (const probe of [container.startupProbe, container.livenessProbe, container.readinessProbe])
      expect(resolve(probe!.httpGet!.port)).toBe(port);
    const service = ofKind('Service')[0]!.spec as {
      selector: Record<string, string>;
      ports: { port: number; targetPort: string | number }[];
    };
    expect(service.ports.map((p) => resolve(p.targetPort))).toEqual([port]);
    expect(spec.template.metadata.labels).toMatchObject(service.selector);
    expect(spec.template.metadata.labels).toMatchObject(spec.selector.matchLabels);
    const pdb = ofKind('PodDisruptionBudget')[0]!.spec as { selector: { matchLabels: Record<string, string> } };
    expect(spec.template.metadata.labels).toMatchObject(pdb.selector.matchLabels);
  });

  it("caps the dashboard's BigQuery bytes a query and says next to replicas that the query ceiling is per pod", () => {
    expect(Number(env.DASHBOARD_MAX_BYTES_BILLED)).toBeGreaterThan(0);
    const perPod = Number(env.DASHBOARD_MAX_QUERIES_PER_SECOND);
    expect(perPod).toBeGreaterThan(0);
    // The comment lines right above `replicas:` do the arithmetic with the values in force.
    const lines = read('deploy/k8s/deployment.yaml').split('\n');
    const at = lines.findIndex((line) => /^\s+replicas:/.test(line));
    let start = at;
    while (start > 0 && /^\s+#/.test(lines[start - 1]!)) start--;
    const comment = lines.slice(start, at).join(' ');
    expect(comment).toMatch(/DASHBOARD_MAX_QUERIES_PER_SECOND.*per pod/);
    const replicas = spec.replicas ?? 1;
    expect(comment).toContain(`${replicas} replicas × ${perPod} = ${replicas * perPod} queries a`);
  });

  it('gives the flush on SIGTERM longer than SHUTDOWN_TIMEOUT_MS', () => {
    const shutdownMs = Number(env.SHUTDOWN_TIMEOUT_MS ?? defaultOf('SHUTDOWN_TIMEOUT_MS'));
    expect((pod.terminationGracePeriodSeconds ?? 30) * 1000).toBeGreaterThan(shutdownMs);
  });

  it('runs non-root with a read-only root filesystem, no privilege escalation and no capabilities', () => {
    const runAsNonRoot = container.securityContext?.runAsNonRoot ?? pod.securityContext?.runAsNonRoot;
    expect(runAsNonRoot).toBe(true);
    // runAsNonRoot needs a numeric user: from the pod, the container or the image's USER.
    const imageUser = parseDockerfile(read('Dockerfile'))
      .stages.at(-1)!
      .instructions.findLast((i) => i.keyword === 'USER')?.args;
    const uid =
      container.securityContext?.runAsUser ?? pod.securityContext?.runAsUser ?? Number(imageUser?.split(':')[0]);
    expect(uid).toBeGreaterThan(0);
    expect(container.securityContext?.allowPrivilegeEscalation).toBe(false);
    expect(container.securityContext?.readOnlyRootFilesystem).toBe(true);
    expect(container.securityContext?.capabilities?.drop).toContain('ALL');
    // A writable /tmp under the read-only root.
    const tmp = container.volumeMounts?.find((m) => m.mountPath === '/tmp');
    expect(pod.volumes?.find((v) => v.name === tmp?.name)?.emptyDir).toBeDefined();
  });

  it('requests and limits resources and pins its image', () => {
    expect(Object.keys(container.resources?.requests ?? {}).sort()).toEqual(['cpu', 'memory']);
    expect(container.resources?.limits?.memory).toBeDefined();
    expect(isPinned(container.image), container.image).toBe(true);
  });
});
