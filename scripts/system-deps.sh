#!/usr/bin/env bash
# The system packages the test suite runs for real (Debian/Ubuntu names), found or installed.
#
#   scripts/system-deps.sh          install what is missing with apt-get when run as root (as in CI);
#                                   otherwise print the one command that does, and exit 1
#   scripts/system-deps.sh --check  only report: exit 0 when all are present, else 1 and the command
#
# `npm test` runs it first (the "pretest" script) and so does .ci/run. With everything present it
# takes well under a second. CHROMIUM_PATH is honoured as the console tests honour it.
set -u

mode=install
case "${1:-}" in
  --check) mode=check ;;
  '') ;;
  *) echo "usage: scripts/system-deps.sh [--check]" >&2; exit 2 ;;
esac

have() { command -v "$1" >/dev/null 2>&1; }
missing=()
# Started by the tests: Redis standalone, sentinels and a cluster (formed with redis-cli).
have redis-server || missing+=(redis-server)
have redis-sentinel || missing+=(redis-sentinel)
have redis-cli || missing+=(redis-tools)
# Certificates of the Redis TLS test and the CLI walkthrough's EC key.
have openssl || missing+=(openssl)
# The browser the console tests drive (Debian's chromium; never a downloaded one).
[ -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ] || missing+=(chromium)
# gRPC C-core (the library under Envoy's google_grpc client): a second client stack for interop
# tests. The system python, not a pyenv one on PATH; find_spec looks without importing (fast).
/usr/bin/python3 -I -c 'import importlib.util as u, sys; sys.exit(u.find_spec("grpc") is None)' >/dev/null 2>&1 ||
  missing+=(python3-grpcio)
# HTTP/2 load generator of the benchmark test.
have h2load || missing+=(nghttp2-client)

[ "${#missing[@]}" -eq 0 ] && exit 0

command="apt-get update && apt-get install -y ${missing[*]}"
if [ "$mode" = install ] && [ "$(id -u)" = 0 ] && have apt-get; then
  echo "system-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null; then exit 0; fi
  echo "system-deps: apt-get failed; the command was: $command" >&2
  exit 1
fi

echo "system-deps: the tests need system packages that are missing here: ${missing[*]}" >&2
if have apt-get; then
  echo "system-deps: install them with: sudo sh -c '$command'" >&2
else
  echo "system-deps: no apt-get here; install the equivalents of these Debian packages" >&2
fi
exit 1
