#!/usr/bin/env bash
# Runs a command with Node 24 first on PATH and the project's dependencies installed.
# Where the machine's Node is not 24, the pinned Node from .nvmrc is fetched once from the
# npm registry's `node` package into .cache/ (git-ignored) and reused after that.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
want="$(tr -d '[:space:]' <"$root/.nvmrc")"

have_major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo none)"
if [ "$have_major" != "${want%%.*}" ]; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "plays-pipeline: Node.js with npm is needed to fetch Node $want; install any Node.js (e.g. apt-get install nodejs npm)" >&2
    exit 1
  fi
  dir="$root/.cache/node-$want"
  # The node package's install script fetches the binary with Node itself, which knows only the
  # CA bundle npm was told about when NODE_EXTRA_CA_CERTS says so (it hangs otherwise).
  if [ -z "${NODE_EXTRA_CA_CERTS:-}" ]; then
    cafile="$(npm config get cafile 2>/dev/null || true)"
    if [ -n "$cafile" ] && [ "$cafile" != null ] && [ "$cafile" != undefined ] && [ -f "$cafile" ]; then export NODE_EXTRA_CA_CERTS="$cafile"; fi
  fi
  if [ ! -x "$dir/node_modules/node/bin/node" ]; then
    echo "plays-pipeline: found Node ${have_major}, fetching Node $want from the npm registry into .cache/ (once)" >&2
    npm install --prefix "$dir" --no-save --no-package-lock --no-audit --no-fund --loglevel=error "node@$want" >&2
  fi
  export PATH="$dir/node_modules/node/bin:$PATH"
fi

# Install (or refresh) dependencies when node_modules is missing or older than the lock file.
if [ "${PLAYS_SKIP_INSTALL:-}" != 1 ] && [ -f "$root/package-lock.json" ] &&
  { [ ! -f "$root/node_modules/.package-lock.json" ] || [ "$root/package-lock.json" -nt "$root/node_modules/.package-lock.json" ]; }; then
  echo "plays-pipeline: installing dependencies (npm ci)" >&2
  (cd "$root" && npm ci --no-audit --no-fund --loglevel=error >&2)
fi

export PATH="$root/node_modules/.bin:$PATH"
[ "$#" -gt 0 ] || exit 0
exec "$@"
