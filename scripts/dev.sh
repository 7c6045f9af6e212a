#!/usr/bin/env bash
# `make dev`: the local stack, bootstrapped, with every function served by `cargo lambda watch`
# and the queue functions fed from the local queues. Ctrl-C stops everything it started.
# Runs inside `scripts/stack.sh run`, which provides the AWS endpoints.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here/.."
eval "$("$here/tools.sh")"
port="${PROVISIO_PORT:-9000}"
# Locally, retried messages come back after a few seconds rather than the deployed 60/180.
retry_after="${PROVISIO_LOCAL_VISIBILITY_SECS:-5}"

cargo build --quiet -p devstack
devstack="${CARGO_TARGET_DIR:-target}/debug/devstack"
eval "$("$devstack" bootstrap provisio)"

pids=()
cleanup() {
  for pid in "${pids[@]:-}"; do [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]:-}"; do [ -n "$pid" ] && wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cargo lambda watch -A 127.0.0.1 -P "$port" &
pids+=($!)
base="http://127.0.0.1:$port"
"$devstack" feed "$PROVISIO_DISPATCH_QUEUE_URL" dispatcher "$base" "$retry_after" &
pids+=($!)
"$devstack" feed "$PROVISIO_IMPORT_QUEUE_URL" importer "$base" "$retry_after" &
pids+=($!)
# The outbox sweeper's schedule (deployed: rate(1 minute)).
"$devstack" tick dispatcher "$base" 60 &
pids+=($!)
# The importer's schedule tick: starts the scheduled imports that are due.
"$devstack" tick importer "$base" 60 &
pids+=($!)

cat <<MSG

  Provisio is running locally (functions compile on their first request).

  Admin API      $base/admin
  SCIM base URL  $base/scim/v2/{appId}
  Admin key      $PROVISIO_ADMIN_KEY

  export PROVISIO_URL=$base PROVISIO_ADMIN_KEY=$PROVISIO_ADMIN_KEY
  curl -s -H "Authorization: Bearer \$PROVISIO_ADMIN_KEY" \$PROVISIO_URL/admin/users

  Ctrl-C stops everything.

MSG
wait "${pids[0]}"
