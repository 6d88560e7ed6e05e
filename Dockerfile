# syntax=docker/dockerfile:1
# plays-pipeline as a container: `docker build -t plays-pipeline .`, or `docker compose up --build` for
# the whole demo (Kafka, the BigQuery emulator and this app with the simulator on).
#
# Node is pinned to the version in .nvmrc (test/container.spec.ts keeps them equal). Pinning by digest
# as well (node:24.21.0-bookworm-slim@sha256:...) is better still where you can resolve one: a tag
# can be re-pushed, a digest cannot.
#
# test/container.int-spec.ts replays this file's stages without Docker (scripts/replay-dockerfile.mjs):
# it runs these RUN commands and COPY lines in a temporary folder, starts the result the way CMD says
# and checks that it becomes ready and writes plays. Keep the steps plain commands it can run.

# ---- build: every dependency, then compile src/ to dist/ ----------------------------------------
FROM node:24.21.0-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY nest-cli.json tsconfig.json tsconfig.build.json ./
COPY src ./src
# npm scripts wrap their tools in scripts/with-node24.sh (for machines without Node 24); the image
# has Node 24, so call the build tool directly.
RUN npx nest build

# ---- prod-deps: production dependencies only, from the same lock file ---------------------------
FROM node:24.21.0-bookworm-slim AS prod-deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

# ---- runtime: production dependencies and the compiled app, nothing else -------------------------
FROM node:24.21.0-bookworm-slim AS runtime
ENV NODE_ENV=production
# A small young generation and a capped heap keep a drain of a large backlog near 250 MB RSS instead of
# ~480 MB, and one V8 helper thread (not four) suits the 1-CPU limit of deploy/k8s (docs/BENCHMARKS.md).
# Raise --max-old-space-size with SINK_MAX_BUFFERED_ROWS, by setting NODE_OPTIONS.
ENV NODE_OPTIONS="--max-semi-space-size=8 --max-old-space-size=192 --v8-pool-size=1"
# glibc's allocator holds the buffers Node keeps outside the V8 heap (Kafka fetch responses, packed
# batches, rows, gRPC requests): at most 2 arenas rather than 8 per core, and every buffer of
# 128 KiB or more mapped on its own and unmapped when freed (by default that threshold climbs to
# 32 MiB, and freed buffers stay in the heap). Peak RSS draining 1,000,000 plays: median 254 -> 241 MB,
# no measurable cost in drain rate (docs/BENCHMARKS.md).
ENV MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=131072
WORKDIR /app
# Owned by root and not writable by the app's user: the app writes nothing to disk (logs go to stdout),
# so it also runs with a read-only root filesystem (deploy/k8s/deployment.yaml).
# package.json is needed at run time: its "type": "module" makes dist/*.js ES modules.
COPY package.json ./
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The node image's unprivileged `node` user, by number: Kubernetes' runAsNonRoot can only verify a
# numeric user (with `USER node` the kubelet refuses to start the pod unless runAsUser is set).
USER 1000:1000
EXPOSE 3000
# Liveness without curl: Node's built-in fetch. /health/live never looks at Kafka or BigQuery.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/health/live', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Exec form, no shell and no npm in between: node is PID 1 and receives SIGTERM itself. The app installs
# its own SIGTERM/SIGINT handlers (so PID 1's ignore-by-default does not apply), stops fetching, writes
# what it holds, commits, leaves the group and exits 0 within SHUTDOWN_TIMEOUT_MS. It starts no child
# processes, so there are no zombies to reap and no init (tini) is needed; `docker run --init` adds one
# if you want it anyway. Flags as in `npm run start:prod`.
CMD ["node", "--enable-source-maps", "--disable-warning=TimeoutNegativeWarning", "dist/main.js"]
