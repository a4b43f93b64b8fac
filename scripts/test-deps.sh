#!/usr/bin/env bash
# Installs the Debian packages that the tests and the bench need on a fresh Debian 12 machine:
#   redis-server    the TLS session cache tests start a real redis-server
#   nghttp2-client  h2load, for the HTTP/2 bench
#   testssl.sh      TLS configuration checks
#   curl, openssl   e2e clients, certificate generation, openssl s_client captures
#   haproxy         a real layer-4 balancer in front of bfe-ts for the PROXY protocol tests
#   prometheus      its promtool checks the monitor's Prometheus text exposition
# Idempotent: when everything is installed it only asks dpkg and exits (well under a second).
# `apt-get update` runs once, and only when something is missing. Uses sudo when not root.
set -euo pipefail

packages=(redis-server nghttp2-client testssl.sh curl openssl haproxy prometheus)

installed() {
  [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = 'install ok installed' ]
}

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
  echo "test-deps: this needs a Debian-based system with apt-get; install by hand: ${packages[*]}" >&2
  exit 1
fi

missing=()
for p in "${packages[@]}"; do
  installed "$p" || missing+=("$p")
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "test-deps: all present (${packages[*]})"
  exit 0
fi

as_root=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
  else
    echo "test-deps: missing ${missing[*]}; run as root, or give this user passwordless sudo," >&2
    echo "test-deps: or install them yourself: apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi

echo "test-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
# If the package starts a system redis-server on 6379, that is harmless: tests use their own ports.
"${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"

still=()
for p in "${missing[@]}"; do
  installed "$p" || still+=("$p")
done
if [ "${#still[@]}" -ne 0 ]; then
  echo "test-deps: apt-get finished but these are still not installed: ${still[*]}" >&2
  exit 1
fi
for cmd in redis-server h2load testssl curl openssl; do
  command -v "$cmd" >/dev/null 2>&1 || { echo "test-deps: $cmd not on PATH after install" >&2; exit 1; }
done
echo "test-deps: done"
