#!/usr/bin/env bash
# `make dev`: the local stack, bootstrapped, with every function served by `cargo lambda watch`
# and the queue functions fed from the local queues. Ctrl-C stops everything it started.
#   scripts/dev.sh          build, then start the stack and serve (says what it does, with times)
#   FRESH=1 scripts/dev.sh  the same, from an empty directory (the data of earlier runs deleted)
# Data (the table, the secrets) is kept between runs in PROVISIO_DATA_DIR
# (~/.cache/provisio/dev-data by default), so users, apps and the admin key survive a restart.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here/.."
export PROVISIO_DEV_T0="${PROVISIO_DEV_T0:-$(date +%s)}"
say() { printf '[%4ss] %s\n' "$(($(date +%s) - PROVISIO_DEV_T0))" "$*"; }
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/provisio/target}"
export PROVISIO_DATA_DIR="${PROVISIO_DATA_DIR:-$HOME/.cache/provisio/dev-data}"
port="${PROVISIO_PORT:-9000}"
# Locally, retried messages come back after a few seconds rather than the deployed 60/180.
retry_after="${PROVISIO_LOCAL_VISIBILITY_SECS:-5}"
devstack="$CARGO_TARGET_DIR/debug/devstack"
secrets_file="$PROVISIO_DATA_DIR/secrets.json"

if [ "${1:-}" != serve ]; then
  say "tools: DynamoDB Local, moto, cargo-lambda (pinned, cached in ~/.cache/provisio)"
  eval "$("$here/tools.sh")"
  say "building the four functions and devstack (the first build takes several minutes)"
  cargo build -p admin-api -p scim -p dispatcher -p importer -p devstack
  if [ -n "${FRESH:-}" ]; then
    say "FRESH: deleting the data of earlier runs ($PROVISIO_DATA_DIR)"
    rm -rf "$PROVISIO_DATA_DIR"
  fi
  mkdir -p "$PROVISIO_DATA_DIR"
  chmod 700 "$PROVISIO_DATA_DIR"
  say "starting DynamoDB Local (data in $PROVISIO_DATA_DIR) and moto"
  exec "$here/stack.sh" run "$here/dev.sh" serve
fi

eval "$("$here/tools.sh")"
say "local stack up"
"$devstack" secrets restore "$secrets_file"
eval "$("$devstack" bootstrap provisio)"
say "table, queues and admin key ready"

pids=()
cleanup() {
  # A second TERM (stack.sh's stop sends one to this script as the Ctrl-C's reaches it) must not
  # end the cleanup before the save: the admin key would be lost.
  trap '' INT TERM
  # Secrets live in moto's memory: saved before it stops.
  "$devstack" secrets save provisio "$secrets_file" || true
  for pid in "${pids[@]:-}"; do [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]:-}"; do [ -n "$pid" ] && wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

watch_log="$PROVISIO_DATA_DIR/watch.log"
# Four instances per function, as Lambda would run them side by side (with one, every request
# waits for the one before: measured by `make bench`, side by side).
cargo lambda watch -A 127.0.0.1 -P "$port" --concurrency "${PROVISIO_WATCH_CONCURRENCY:-4}" >"$watch_log" 2>&1 &
pids+=($!)
base="http://127.0.0.1:$port"
"$devstack" feed "$PROVISIO_DISPATCH_QUEUE_URL" dispatcher "$base" "$retry_after" &
pids+=($!)
"$devstack" feed "$PROVISIO_IMPORT_QUEUE_URL" importer "$base" "$retry_after" &
pids+=($!)
# The table's stream to the dispatch queue, as the deployed EventBridge Pipe carries it.
"$devstack" stream "$PROVISIO_TABLE" "$PROVISIO_DISPATCH_QUEUE_URL" &
pids+=($!)
# The importer's schedule tick: starts the scheduled imports that are due.
"$devstack" tick importer "$base" 60 &
pids+=($!)
# A stop that skips the trap (kill -9) loses at most a minute of new secrets.
(while sleep 60; do "$devstack" secrets save provisio "$secrets_file" 2>/dev/null || true; done) &
pids+=($!)

say "starting the functions under cargo lambda watch (its log: $watch_log)"
ready=""
for _ in $(seq 1 600); do
  if curl -sf -o /dev/null "$base/admin/openapi.json" \
    && curl -s -o /dev/null -w '%{http_code}' "$base/scim/v2/00000000-0000-0000-0000-000000000000/ServiceProviderConfig" | grep -q '^4'; then
    ready=1
    break
  fi
  if ! kill -0 "${pids[0]}" 2>/dev/null; then
    echo "cargo lambda watch stopped; its log:" >&2
    tail -n 30 "$watch_log" >&2
    exit 1
  fi
  sleep 1
done
[ -n "$ready" ] || { echo "the functions did not answer within 10 minutes; see $watch_log" >&2; exit 1; }
say "ready"

cat <<MSG

  Provisio is running locally. Data is kept between runs (make dev FRESH=1 starts empty).

  Console        $base/console   (sign in with the admin key)
  Admin API      $base/admin
  SCIM base URL  $base/scim/v2/{appId}
  Admin key      $PROVISIO_ADMIN_KEY

  export PROVISIO_URL=$base PROVISIO_ADMIN_KEY=$PROVISIO_ADMIN_KEY
  curl -s -H "Authorization: Bearer \$PROVISIO_ADMIN_KEY" \$PROVISIO_URL/admin/users

  Ctrl-C stops everything. The functions' log follows.

MSG
tail -n 0 -f "$watch_log" &
pids+=($!)
wait "${pids[0]}"
