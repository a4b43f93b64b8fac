#!/usr/bin/env bash
# bfe-ts as an extra target of the team's baseline harness (../shared/bench/proxy-bench.sh):
#   ./proxy-bench.sh --extra "bfe-ts=/path/to/bfe-ts/bench/shared-target.sh"
# The harness sets PORT, WORKERS and UPSTREAM (host:port). Writes the bench configuration (one
# product, 11 advanced rules, the five-filter mod_bench) and runs bfe-ts in the foreground.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
up_port=${UPSTREAM##*:}
node "$root/bench/conf/bfe-conf.mjs" "$dir" --port "$PORT" --origin-ports "$up_port" \
  --max-cpus "${WORKERS:-1}" --modules mod_bench >/dev/null
exec node "$root/dist/bench/bfe-bench.js" -c "$dir" -l "$dir/log"
