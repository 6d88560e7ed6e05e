#!/usr/bin/env node
// Local dependencies without Docker: a single-node KRaft Apache Kafka broker (jars from Maven
// Central) and a BigQuery emulator (from a public package registry), on loopback. The broker has a
// plaintext listener, a SASL_SSL one (throwaway CA and certificate, PLAIN and SCRAM-SHA-512 users) and
// an SSL one that requires a client certificate (mutual TLS).
//
//   node scripts/deps.mjs up     [--dir .deps] [--kafka-port 9092] [--kafka-secure-port 9094]
//                                [--kafka-mtls-port 9095] [--emulator-port 9050] [--project-id plays-local]
//   node scripts/deps.mjs down   [--dir .deps]
//   node scripts/deps.mjs stop   kafka|emulator [--dir .deps]   (keeps its data; for outage tests)
//   node scripts/deps.mjs start  kafka|emulator [--dir .deps]
//   node scripts/deps.mjs status [--dir .deps]
//
// `up` is idempotent, waits until both really answer, then prints NAME=value settings for the app on
// stdout (progress goes to stderr), and writes them to DIR/env; DIR/secure.env holds the same settings
// with the SASL_SSL listener instead of the plaintext one, DIR/mtls.env with the mutual-TLS one. `down` stops only the processes this folder's pid files name, and
// only if they still are the processes it started.
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cacheDir = path.join(root, '.cache');

// Kafka's version is pinned here; override with KAFKA_VERSION=4.x.y for a one-off try.
const KAFKA_VERSION = process.env.KAFKA_VERSION || '4.4.0';
// The emulator and its dependencies are pinned in deps/bigquery-emulator/requirements.txt.
const EMULATOR = 'local-bigquery 0.3.2';

const log = (/** @type {string} */ message) => process.stderr.write(`deps: ${message}\n`);

class DepsError extends Error {}

/**
 * The ports and project a deps folder runs on (DIR/settings.json).
 * @typedef {{
 *   kafkaPort: number;
 *   controllerPort: number;
 *   kafkaSecurePort: number;
 *   kafkaMtlsPort: number;
 *   emulatorPort: number;
 *   emulatorGrpcPort: number;
 *   projectId: string;
 * }} Settings
 */

/**
 * The secured listeners' throwaway secrets (kafka/secure/secure.json).
 * @typedef {{
 *   caFile: string;
 *   keystore: string;
 *   truststore: string;
 *   keystorePassword: string;
 *   clientCertFile: string;
 *   clientKeyFile: string;
 *   username: string;
 *   password: string;
 *   scramAdded: boolean;
 * }} Secure
 */

// ---------------------------------------------------------------------------------------------
// Settings and state folder

/**
 * @param {string} dir
 * @param {Record<string, string | undefined>} flags
 * @returns {Settings}
 */
function readSettings(dir, flags) {
  const file = path.join(dir, 'settings.json');
  /** @type {Partial<Record<keyof Settings, number | string>>} */
  const saved = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : {};
  /**
   * @param {string | undefined} flag
   * @param {keyof Settings} key
   * @param {number | string | undefined} fallback
   */
  const pick = (flag, key, fallback) => (flag !== undefined ? flag : (saved[key] ?? fallback));
  /** @type {Settings} */
  const settings = {
    kafkaPort: Number(pick(flags['kafka-port'], 'kafkaPort', 9092)),
    controllerPort: Number(pick(flags['controller-port'], 'controllerPort', undefined)),
    kafkaSecurePort: Number(pick(flags['kafka-secure-port'], 'kafkaSecurePort', undefined)),
    kafkaMtlsPort: Number(pick(flags['kafka-mtls-port'], 'kafkaMtlsPort', undefined)),
    emulatorPort: Number(pick(flags['emulator-port'], 'emulatorPort', 9050)),
    emulatorGrpcPort: Number(pick(flags['emulator-grpc-port'], 'emulatorGrpcPort', undefined)),
    projectId: /** @type {string} */ (pick(flags['project-id'], 'projectId', 'plays-local')),
  };
  if (!Number.isInteger(settings.controllerPort)) settings.controllerPort = settings.kafkaPort + 1;
  if (!Number.isInteger(settings.kafkaSecurePort)) settings.kafkaSecurePort = settings.kafkaPort + 2;
  if (!Number.isInteger(settings.kafkaMtlsPort)) settings.kafkaMtlsPort = settings.kafkaPort + 3;
  if (!Number.isInteger(settings.emulatorGrpcPort)) settings.emulatorGrpcPort = settings.emulatorPort + 10;
  return settings;
}

/** @param {string} dir @param {Settings} settings */
function saveSettings(dir, settings) {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'settings.json'), JSON.stringify(settings, null, 2) + '\n');
}

/** @param {Settings} settings */
function appEnv(settings) {
  return {
    KAFKA_BROKERS: `127.0.0.1:${settings.kafkaPort}`,
    BIGQUERY_API_ENDPOINT: `http://127.0.0.1:${settings.emulatorPort}`,
    // The emulator's Storage Write API (plain gRPC), for SINK_API=storage-write.
    BIGQUERY_STORAGE_API_ENDPOINT: `127.0.0.1:${settings.emulatorGrpcPort}`,
    BIGQUERY_PROJECT_ID: settings.projectId,
  };
}

/**
 * The app's settings for the SASL_SSL listener: everything else as for the plaintext one.
 * @param {string} dir
 * @param {Settings} settings
 */
function secureAppEnv(dir, settings) {
  const secure = readSecure(dir);
  return {
    ...appEnv(settings),
    KAFKA_BROKERS: `127.0.0.1:${settings.kafkaSecurePort}`,
    KAFKA_SSL: 'true',
    KAFKA_SSL_CA_FILE: secure.caFile,
    KAFKA_SASL_MECHANISM: 'scram-sha-512',
    KAFKA_SASL_USERNAME: secure.username,
    KAFKA_SASL_PASSWORD: secure.password,
  };
}

/**
 * The app's settings for the mutual-TLS listener: a client certificate instead of SASL.
 * @param {string} dir
 * @param {Settings} settings
 */
function mtlsAppEnv(dir, settings) {
  const secure = readSecure(dir);
  return {
    ...appEnv(settings),
    KAFKA_BROKERS: `127.0.0.1:${settings.kafkaMtlsPort}`,
    KAFKA_SSL: 'true',
    KAFKA_SSL_CA_FILE: secure.caFile,
    KAFKA_SSL_CERT_FILE: secure.clientCertFile,
    KAFKA_SSL_KEY_FILE: secure.clientKeyFile,
  };
}

const envLines = (/** @type {Record<string, string>} */ env) =>
  Object.entries(env).map(([key, value]) => `${key}=${value}`);

// ---------------------------------------------------------------------------------------------
// Processes: pid files, ownership, stopping

const pidFile = (/** @type {string} */ dir, /** @type {string} */ name) => path.join(dir, `${name}.pid`);

/** @param {number} pid */
function cmdline(pid) {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return null;
  }
}

/**
 * The pid this folder started for `name`, if that process still runs (and still is ours).
 * @param {string} dir
 * @param {string} name
 */
function ownedPid(dir, name) {
  const file = pidFile(dir, name);
  if (!fs.existsSync(file)) return null;
  const pid = Number(fs.readFileSync(file, 'utf8').trim());
  const command = Number.isInteger(pid) && pid > 0 ? cmdline(pid) : null;
  // Every process we start carries the state folder's path in its command line.
  if (command && command.includes(path.resolve(dir))) return pid;
  fs.rmSync(file, { force: true });
  return null;
}

/** @param {number} pid */
function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return cmdline(pid) !== null;
  } catch {
    return false;
  }
}

/** @param {string} dir @param {string} name */
async function stopProcess(dir, name, timeoutMs = 30_000) {
  const pid = ownedPid(dir, name);
  if (pid === null) return false;
  log(`stopping ${name} (pid ${pid})`);
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid) && Date.now() < deadline) await sleep(100);
  if (isAlive(pid)) {
    log(`${name} did not stop within ${timeoutMs / 1000}s; killing it`);
    process.kill(pid, 'SIGKILL');
    while (isAlive(pid)) await sleep(50);
  }
  fs.rmSync(pidFile(dir, name), { force: true });
  return true;
}

/**
 * @param {string} dir
 * @param {string} name
 * @param {string} command
 * @param {string[]} args
 * @param {{ cwd?: string; env?: NodeJS.ProcessEnv }} [options]
 */
function startProcess(dir, name, command, args, options = {}) {
  const logPath = path.join(dir, `${name}.log`);
  const out = fs.openSync(logPath, 'a');
  const child = spawn(command, args, {
    cwd: options.cwd ?? dir,
    env: { ...process.env, ...options.env },
    detached: true,
    stdio: ['ignore', out, out],
  });
  fs.closeSync(out);
  child.unref();
  fs.writeFileSync(pidFile(dir, name), `${child.pid}\n`);
  // A failed spawn is the child's 'error' event, not a missing pid.
  return { pid: /** @type {number} */ (child.pid), logPath };
}

const sleep = (/** @type {number} */ ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** @param {string} file */
function tail(file, lines = 30) {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** @param {number} port @returns {Promise<boolean>} */
async function portInUse(port) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * @param {string} what
 * @param {number} pid
 * @param {string | string[]} logPaths
 * @param {number} timeoutMs
 * @param {() => Promise<boolean>} probe
 */
async function waitFor(what, pid, logPaths, timeoutMs, probe) {
  const logs = () =>
    [logPaths]
      .flat()
      .map((file) => `Last lines of ${file}:\n${tail(file)}`)
      .join('\n');
  const deadline = Date.now() + timeoutMs;
  let lastError = 'no answer yet';
  while (Date.now() < deadline) {
    if (!isAlive(pid)) throw new DepsError(`${what} exited during start-up.\n${logs()}`);
    try {
      if (await probe()) return;
    } catch (error) {
      lastError = error instanceof Error ? error.message : String(error);
    }
    await sleep(250);
  }
  throw new DepsError(`${what} did not answer within ${timeoutMs / 1000}s (${lastError}).\n${logs()}`);
}

// ---------------------------------------------------------------------------------------------
// Prerequisites

/**
 * @param {string} command
 * @param {string[]} args
 * @param {string} hint
 * @param {(output: string) => boolean} [check]
 */
function requireTool(command, args, hint, check = () => true) {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}`;
  if (result.error || result.status !== 0 || !check(output)) throw new DepsError(hint);
  return output;
}

function javaCommand() {
  const java = process.env.JAVA_HOME ? path.join(process.env.JAVA_HOME, 'bin', 'java') : 'java';
  requireTool(
    java,
    ['-version'],
    'Java 17 or newer is needed for the Kafka broker: install a JDK 17+ (e.g. apt-get install openjdk-17-jdk-headless) or set JAVA_HOME',
    (out) => {
      const match = /version "(\d+)/.exec(out);
      return match !== null && Number(match[1]) >= 17;
    },
  );
  return java;
}

// ---------------------------------------------------------------------------------------------
// Kafka

function kafkaLibs() {
  const libs = path.join(cacheDir, `kafka-${KAFKA_VERSION}`, 'libs');
  const marker = path.join(libs, '.complete');
  if (fs.existsSync(marker)) return libs;
  requireTool(
    'mvn',
    ['-v'],
    'Maven is needed to fetch the Kafka broker from Maven Central: install it (e.g. apt-get install maven)',
  );
  log(`fetching Apache Kafka ${KAFKA_VERSION} from Maven Central (once; cached in .cache/)`);
  fs.rmSync(libs, { recursive: true, force: true });
  const result = spawnSync(
    'mvn',
    [
      '-q',
      '-B',
      '-f',
      path.join(root, 'deps/kafka/pom.xml'),
      `-Dkafka.version=${KAFKA_VERSION}`,
      `-Dkafka.libs.dir=${libs}`,
      'dependency:copy-dependencies',
    ],
    // stdout is for the NAME=value settings alone: Maven's output goes to stderr.
    { stdio: ['ignore', process.stderr, 'inherit'] },
  );
  if (result.status !== 0)
    throw new DepsError(
      `Maven could not fetch Apache Kafka ${KAFKA_VERSION} (exit ${result.status}); see its output above`,
    );
  fs.writeFileSync(marker, `${KAFKA_VERSION}\n`);
  return libs;
}

/** @param {string} dir @param {string} libs */
function kafkaJvmArgs(dir, libs) {
  return [
    '-Xms256m',
    '-Xmx512m',
    '-XX:+UseG1GC',
    '-XX:MaxGCPauseMillis=20',
    // C1 only: the broker starts in ~3 s instead of ~8 s on a busy 2-core machine.
    '-XX:TieredStopAtLevel=1',
    '-Djava.awt.headless=true',
    `-Dlog4j2.configurationFile=${path.join(root, 'deps/kafka/log4j2.xml')}`,
    `-Dkafka.logs.dir=${path.join(dir, 'kafka')}`,
    `-Dplays.deps.dir=${path.resolve(dir)}`,
    '-cp',
    `${libs}/*`,
  ];
}

// The SASL_SSL listener's throwaway secrets: a CA, the broker's key and certificate (signed by the CA,
// for 127.0.0.1 and localhost), a keystore password and one user for PLAIN and SCRAM-SHA-512. Made
// with the JDK's keytool (always there with the broker's JDK), once per deps folder, under kafka/secure/.
const secureDir = (/** @type {string} */ dir) => path.join(dir, 'kafka', 'secure');
/** @type {(dir: string) => Secure} */
const readSecure = (dir) => JSON.parse(fs.readFileSync(path.join(secureDir(dir), 'secure.json'), 'utf8'));

function keytoolCommand() {
  return process.env.JAVA_HOME ? path.join(process.env.JAVA_HOME, 'bin', 'keytool') : 'keytool';
}

/** @param {string} dir @param {string} java @returns {Secure} */
function prepareSecure(dir, java) {
  const folder = secureDir(dir);
  if (fs.existsSync(path.join(folder, 'secure.json'))) return readSecure(dir);
  log('making a throwaway CA, broker and client certificates and a SASL user for the secured listeners (keytool)');
  fs.rmSync(folder, { recursive: true, force: true });
  fs.mkdirSync(folder, { recursive: true, mode: 0o700 });
  const secret = () => randomBytes(18).toString('hex');
  const storePassword = secret();
  const file = (/** @type {string} */ name) => path.join(folder, name);
  const store = (/** @type {string} */ name) => [
    '-keystore',
    file(name),
    '-storetype',
    'PKCS12',
    '-storepass',
    storePassword,
  ];
  const key = ['-keyalg', 'EC', '-groupname', 'secp256r1', '-validity', '3650'];
  // A key pair in NAME.p12 whose certificate the CA signs, in NAME.pem and in the keystore.
  /** @type {(name: string, subject: string, ...extensions: string[]) => string[][]} */
  const signed = (name, subject, ...extensions) => [
    ['-genkeypair', '-alias', name, '-dname', `CN=${subject}`, ...extensions, ...key, ...store(`${name}.p12`)],
    ['-certreq', '-alias', name, '-file', file(`${name}.csr`), ...store(`${name}.p12`)],
    ['-gencert', '-rfc', '-alias', 'ca', '-infile', file(`${name}.csr`), '-outfile', file(`${name}.pem`)].concat([
      '-validity',
      '3650',
      ...extensions,
      ...store('ca.p12'),
    ]),
    ['-importcert', '-noprompt', '-alias', 'ca', '-file', file('ca.pem'), ...store(`${name}.p12`)],
    ['-importcert', '-noprompt', '-alias', name, '-file', file(`${name}.pem`), ...store(`${name}.p12`)],
  ];
  const steps = [
    ['-genkeypair', '-alias', 'ca', '-dname', 'CN=plays-pipeline local CA', '-ext', 'bc:c', ...key, ...store('ca.p12')],
    ['-exportcert', '-rfc', '-alias', 'ca', '-file', file('ca.pem'), ...store('ca.p12')],
    // The broker trusts client certificates from this CA alone.
    ['-importcert', '-noprompt', '-alias', 'ca', '-file', file('ca.pem'), ...store('truststore.p12')],
    ...signed('broker', 'localhost', '-ext', 'SAN=ip:127.0.0.1,dns:localhost', '-ext', 'EKU=serverAuth'),
    ...signed('client', 'plays', '-ext', 'EKU=clientAuth'),
  ];
  const keytool = keytoolCommand();
  for (const args of steps) {
    const result = spawnSync(keytool, args, { encoding: 'utf8' });
    if (result.error)
      throw new DepsError(`keytool (from the JDK) is needed for the secured listeners: ${result.error.message}`);
    if (result.status !== 0) throw new DepsError(`keytool ${args[0]} failed:\n${result.stdout}${result.stderr}`);
  }
  // Node takes the client key as PEM, which keytool does not write.
  const exported = spawnSync(
    java,
    [path.join(root, 'deps/kafka/ExportKey.java'), file('client.p12'), 'client'].concat(file('client-key.pem')),
    {
      encoding: 'utf8',
      env: { ...process.env, PLAYS_STORE_PASSWORD: storePassword },
    },
  );
  if (exported.status !== 0)
    throw new DepsError(`exporting the client key failed:\n${exported.stdout}${exported.stderr}`);
  fs.chmodSync(file('client-key.pem'), 0o600);
  const secure = {
    caFile: file('ca.pem'),
    keystore: file('broker.p12'),
    truststore: file('truststore.p12'),
    keystorePassword: storePassword,
    clientCertFile: file('client.pem'),
    clientKeyFile: file('client-key.pem'),
    username: 'plays',
    password: secret(),
    // Set once the SCRAM user is known to be in the cluster metadata (at format time, or added later).
    scramAdded: false,
  };
  saveSecure(dir, secure);
  return secure;
}

/** @param {string} dir @param {Secure} secure */
function saveSecure(dir, secure) {
  fs.writeFileSync(path.join(secureDir(dir), 'secure.json'), JSON.stringify(secure, null, 2) + '\n', { mode: 0o600 });
}

/** @param {string} dir @param {Settings} settings @param {string} java @param {string} libs */
function prepareKafka(dir, settings, java, libs) {
  const kafkaDir = path.join(dir, 'kafka');
  const dataDir = path.join(kafkaDir, 'data');
  const properties = path.join(kafkaDir, 'server.properties');
  fs.mkdirSync(kafkaDir, { recursive: true });
  const secure = prepareSecure(dir, java);
  const template = fs.readFileSync(path.join(root, 'deps/kafka/server.properties.template'), 'utf8');
  fs.writeFileSync(
    properties,
    template
      .replaceAll('@PORT@', String(settings.kafkaPort))
      .replaceAll('@CONTROLLER_PORT@', String(settings.controllerPort))
      .replaceAll('@SECURE_PORT@', String(settings.kafkaSecurePort))
      .replaceAll('@LOG_DIR@', dataDir)
      .replaceAll('@MTLS_PORT@', String(settings.kafkaMtlsPort))
      .replaceAll('@KEYSTORE@', secure.keystore)
      .replaceAll('@TRUSTSTORE@', secure.truststore)
      .replaceAll('@KEYSTORE_PASSWORD@', secure.keystorePassword)
      .replaceAll('@SASL_USERNAME@', secure.username)
      .replaceAll('@SASL_PASSWORD@', secure.password),
    { mode: 0o600 },
  );
  if (!fs.existsSync(path.join(dataDir, 'meta.properties'))) {
    const format = spawnSync(
      java,
      [
        ...kafkaJvmArgs(dir, libs),
        'kafka.tools.StorageTool',
        'format',
        '-t',
        randomUUID().replaceAll('-', '').slice(0, 22),
        '-c',
        properties,
        '--ignore-formatted',
        '--add-scram',
        `SCRAM-SHA-512=[name=${secure.username},password=${secure.password}]`,
      ],
      {
        encoding: 'utf8',
      },
    );
    if (format.status !== 0)
      throw new DepsError(`formatting Kafka's storage failed:\n${format.stdout}${format.stderr}`);
    saveSecure(dir, { ...secure, scramAdded: true });
  }
  return properties;
}

/**
 * Storage formatted before the SASL_SSL listener existed has no SCRAM user: add it to the running broker.
 * @param {string} dir
 * @param {Settings} settings
 * @param {string} java
 * @param {string} libs
 */
function addScramUser(dir, settings, java, libs) {
  const secure = readSecure(dir);
  if (secure.scramAdded) return;
  log(`adding the SCRAM-SHA-512 user ${secure.username} to the broker (its storage predates the SASL_SSL listener)`);
  const result = spawnSync(
    java,
    [
      '-cp',
      `${libs}/*`,
      path.join(root, 'deps/kafka/AddScramUser.java'),
      `127.0.0.1:${settings.kafkaPort}`,
      secure.username,
    ],
    { encoding: 'utf8', env: { ...process.env, PLAYS_SCRAM_PASSWORD: secure.password } },
  );
  if (result.status !== 0) throw new DepsError(`adding the SCRAM user failed:\n${result.stdout}${result.stderr}`);
  saveSecure(dir, { ...secure, scramAdded: true });
}

// The JVM's own output (kafka.log) and the broker's log4j2 log.
const kafkaLogs = (/** @type {string} */ dir) => [path.join(dir, 'kafka.log'), path.join(dir, 'kafka', 'server.log')];

/** @typedef {{ port: number; ssl?: import('node:tls').ConnectionOptions; sasl?: import('kafkajs').SASLOptions }} Listener */

/**
 * The broker answers a metadata request on a listener: plaintext by default, or a secured one with `dir`'s secrets.
 * @param {Settings} settings
 * @param {'sasl_ssl' | 'mtls'} [secured]
 * @param {string} [dir] needed with `secured`
 */
async function kafkaAnswers(settings, secured, dir) {
  const { Kafka, logLevel } = await import('kafkajs');
  const secure = secured ? readSecure(/** @type {string} */ (dir)) : null;
  const ca = secure ? [fs.readFileSync(secure.caFile, 'utf8')] : undefined;
  // `secure` is null for the plaintext listener alone, so the secured one picked has its secrets.
  const listener = /** @type {Listener} */ (
    {
      plaintext: { port: settings.kafkaPort },
      sasl_ssl: {
        port: settings.kafkaSecurePort,
        ssl: { ca },
        sasl: { mechanism: 'scram-sha-512', username: secure?.username, password: secure?.password },
      },
      mtls: {
        port: settings.kafkaMtlsPort,
        ssl: secure && {
          ca,
          cert: fs.readFileSync(secure.clientCertFile, 'utf8'),
          key: fs.readFileSync(secure.clientKeyFile, 'utf8'),
        },
      },
    }[secured ?? 'plaintext']
  );
  const admin = new Kafka({
    clientId: 'plays-pipeline-deps',
    brokers: [`127.0.0.1:${listener.port}`],
    ssl: listener.ssl,
    sasl: listener.sasl,
    logLevel: logLevel.NOTHING,
    retry: { retries: 0 },
    connectionTimeout: 1000,
  }).admin();
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    return cluster.brokers.length > 0;
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

/** @param {string} dir @param {Settings} settings @param {number} pid */
async function waitForSecured(dir, settings, pid) {
  for (const listener of /** @type {const} */ (['sasl_ssl', 'mtls'])) {
    await waitFor(`Kafka (${listener})`, pid, kafkaLogs(dir), 30_000, () => kafkaAnswers(settings, listener, dir));
  }
}

/** @param {string} dir @param {Settings} settings */
async function startKafka(dir, settings) {
  const running = ownedPid(dir, 'kafka');
  if (running !== null) {
    await waitFor('Kafka', running, kafkaLogs(dir), 60_000, () => kafkaAnswers(settings));
    await waitForSecured(dir, settings, running);
    return false;
  }
  const java = javaCommand();
  const libs = kafkaLibs();
  for (const port of [settings.kafkaPort, settings.controllerPort, settings.kafkaSecurePort, settings.kafkaMtlsPort]) {
    if (await portInUse(port))
      throw new DepsError(
        `port ${port} is already in use by another process; choose others with --kafka-port/--controller-port/--kafka-secure-port/--kafka-mtls-port`,
      );
  }
  const properties = prepareKafka(dir, settings, java, libs);
  log(
    `starting Apache Kafka ${KAFKA_VERSION} on 127.0.0.1:${settings.kafkaPort} (SASL_SSL on ${settings.kafkaSecurePort}, mutual TLS on ${settings.kafkaMtlsPort})`,
  );
  const { pid } = startProcess(dir, 'kafka', java, [...kafkaJvmArgs(dir, libs), 'kafka.Kafka', properties]);
  await waitFor('Kafka', pid, kafkaLogs(dir), 90_000, () => kafkaAnswers(settings));
  addScramUser(dir, settings, java, libs);
  await waitForSecured(dir, settings, pid);
  return true;
}

// ---------------------------------------------------------------------------------------------
// BigQuery emulator

// local-bigquery (PyPI), pinned with all its dependencies in deps/bigquery-emulator/requirements.txt,
// installed into a virtualenv under .cache/ keyed by that file's hash. It needs Python 3.13.
const emulatorDir = path.join(root, 'deps/bigquery-emulator');

function python313() {
  const candidates = [
    process.env.PLAYS_PYTHON,
    'python3.13',
    ...['/root/.pyenv/versions', path.join(process.env.HOME ?? '', '.pyenv/versions')].flatMap((base) =>
      fs.existsSync(base)
        ? fs
            .readdirSync(base)
            .filter((version) => version.startsWith('3.13'))
            .map((version) => path.join(base, version, 'bin', 'python3'))
        : [],
    ),
    'python3',
  ].filter(/** @type {(candidate: string | undefined) => candidate is string} */ (candidate) => Boolean(candidate));
  for (const candidate of candidates) {
    const probe = spawnSync(candidate, ['-c', 'import sys; print("%d.%d" % sys.version_info[:2])'], {
      encoding: 'utf8',
    });
    if (probe.status === 0 && probe.stdout.trim() === '3.13') return candidate;
  }
  throw new DepsError(
    'Python 3.13 is needed for the BigQuery emulator (local-bigquery): install it (e.g. pyenv install 3.13, or apt-get install python3.13) or name it with PLAYS_PYTHON=/path/to/python3.13',
  );
}

function emulatorInstall() {
  const requirements = path.join(emulatorDir, 'requirements.txt');
  const pin = createHash('sha256').update(fs.readFileSync(requirements)).digest('hex').slice(0, 12);
  const home = path.join(cacheDir, `local-bigquery-${pin}`);
  const venv = path.join(home, 'venv');
  const marker = path.join(home, '.complete');
  if (fs.existsSync(marker)) return { home, python: path.join(venv, 'bin', 'python') };
  const python = python313();
  log(`installing ${EMULATOR} into .cache/ (once, about a minute)`);
  fs.rmSync(home, { recursive: true, force: true });
  /** @type {[string, string[]][]} */
  const steps = [
    [python, ['-m', 'venv', venv]],
    [path.join(venv, 'bin', 'pip'), ['install', '--quiet', '--disable-pip-version-check', '-r', requirements]],
    [path.join(venv, 'bin', 'python'), [path.join(emulatorDir, 'install_extensions.py')]],
  ];
  for (const [command, args] of steps) {
    const result = spawnSync(command, args, {
      env: { ...process.env, HOME: home },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    if (result.status !== 0)
      throw new DepsError(`installing the BigQuery emulator failed at: ${path.basename(command)} ${args.join(' ')}`);
  }
  fs.writeFileSync(marker, `${pin}\n`);
  return { home, python: path.join(venv, 'bin', 'python') };
}

/** @param {Settings} settings */
async function emulatorAnswers(settings) {
  const response = await fetch(
    `http://127.0.0.1:${settings.emulatorPort}/bigquery/v2/projects/${settings.projectId}/datasets`,
    {
      signal: AbortSignal.timeout(2000),
    },
  );
  return response.ok;
}

/** @param {string} dir @param {Settings} settings */
async function startEmulator(dir, settings) {
  const running = ownedPid(dir, 'emulator');
  if (running !== null) {
    await waitFor('the BigQuery emulator', running, path.join(dir, 'emulator.log'), 30_000, () =>
      emulatorAnswers(settings),
    );
    return false;
  }
  const { home, python } = emulatorInstall();
  for (const port of [settings.emulatorPort, settings.emulatorGrpcPort]) {
    if (await portInUse(port))
      throw new DepsError(
        `port ${port} is already in use by another process; choose others with --emulator-port/--emulator-grpc-port`,
      );
  }
  const dataDir = path.join(path.resolve(dir), 'emulator');
  fs.mkdirSync(dataDir, { recursive: true });
  log(`starting the BigQuery emulator (${EMULATOR}) on 127.0.0.1:${settings.emulatorPort}`);
  // HOME is where DuckDB finds the extensions installed with the emulator. serve.py is the emulator's
  // own CLI with a stream's appends and finalize made one at a time, as in BigQuery (see that file).
  const { pid, logPath } = startProcess(
    dir,
    'emulator',
    python,
    [
      path.join(emulatorDir, 'serve.py'),
      'serve',
      '--host=127.0.0.1',
      `--port=${settings.emulatorPort}`,
      `--grpc-port=${settings.emulatorGrpcPort}`,
      `--project=${settings.projectId}`,
      `--data-dir=${dataDir}`,
    ],
    { env: { HOME: home } },
  );
  await waitFor('the BigQuery emulator', pid, logPath, 60_000, () => emulatorAnswers(settings));
  return true;
}

// ---------------------------------------------------------------------------------------------
// Commands

const services = {
  kafka: { start: startKafka },
  emulator: { start: startEmulator },
};
/** @type {(name: string | undefined) => name is keyof typeof services} */
const isService = (name) => name !== undefined && name in services;

/** @param {string} dir @param {Settings} settings */
async function up(dir, settings) {
  saveSettings(dir, settings);
  try {
    // Fetch both first (the slow, network part), then start them side by side.
    await Promise.all([startKafka(dir, settings), startEmulator(dir, settings)]);
  } catch (error) {
    await down(dir);
    throw error;
  }
  const lines = envLines(appEnv(settings));
  fs.writeFileSync(path.join(dir, 'env'), lines.join('\n') + '\n');
  // Holds the throwaway SASL password: readable by its owner only.
  fs.writeFileSync(path.join(dir, 'secure.env'), envLines(secureAppEnv(dir, settings)).join('\n') + '\n', {
    mode: 0o600,
  });
  fs.writeFileSync(path.join(dir, 'mtls.env'), envLines(mtlsAppEnv(dir, settings)).join('\n') + '\n');
  const shown = path.relative(process.cwd(), dir) || '.';
  log(`ready: logs and pids in ${shown}/ (kafka.log, emulator.log)`);
  log(`SASL_SSL listener on 127.0.0.1:${settings.kafkaSecurePort}: its settings are in ${shown}/secure.env`);
  log(`mutual-TLS listener on 127.0.0.1:${settings.kafkaMtlsPort}: its settings are in ${shown}/mtls.env`);
  process.stdout.write(lines.join('\n') + '\n');
}

/** @param {string} dir */
async function down(dir) {
  /** @type {string[]} */
  const stopped = [];
  for (const name of Object.keys(services)) {
    if (await stopProcess(dir, name)) stopped.push(name);
  }
  log(stopped.length ? `stopped ${stopped.join(' and ')}` : 'nothing was running');
}

/** @param {string} dir */
function status(dir) {
  for (const name of Object.keys(services)) {
    const pid = ownedPid(dir, name);
    process.stdout.write(`${name}: ${pid === null ? 'stopped' : `running (pid ${pid})`}\n`);
  }
}

async function main() {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      dir: { type: 'string', default: path.join(root, '.deps') },
      'kafka-port': { type: 'string' },
      'controller-port': { type: 'string' },
      'kafka-secure-port': { type: 'string' },
      'kafka-mtls-port': { type: 'string' },
      'emulator-port': { type: 'string' },
      'emulator-grpc-port': { type: 'string' },
      'project-id': { type: 'string' },
    },
  });
  const [command, service] = positionals;
  const dir = path.resolve(values.dir);
  const settings = readSettings(dir, values);
  switch (command) {
    case 'up':
      return up(dir, settings);
    case 'down':
      return down(dir);
    case 'status':
      return status(dir);
    case 'stop':
    case 'start': {
      if (!isService(service)) throw new DepsError(`usage: deps.mjs ${command} kafka|emulator [--dir DIR]`);
      if (command === 'stop') return void (await stopProcess(dir, service));
      saveSettings(dir, settings);
      return void (await services[service].start(dir, settings));
    }
    default:
      throw new DepsError(
        'usage: deps.mjs up|down|status|stop NAME|start NAME [--dir DIR] [--kafka-port N] [--kafka-secure-port N] [--kafka-mtls-port N] [--emulator-port N] [--project-id ID]',
      );
  }
}

try {
  await main();
} catch (error) {
  if (!(error instanceof DepsError)) throw error;
  process.stderr.write(`deps: ${error.message}\n`);
  process.exit(1);
}
