#!/usr/bin/env bash
# The local AWS stack: DynamoDB Local (AWS's own, on Java) and moto server (SQS, Secrets Manager),
# each on a free port of 127.0.0.1.
#   scripts/stack.sh run CMD...   start the stack, run CMD with the endpoints exported, stop it
#                                 (whatever CMD's outcome; its exit status is kept)
# With PROVISIO_DATA_DIR set (make dev), DynamoDB Local keeps its data in that folder between
# runs; otherwise (tests) it holds everything in memory.
# The endpoints reach the SDK through its standard variables (AWS_ENDPOINT_URL_DYNAMODB, ...).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
[ "${1:-}" = run ] || { echo "usage: $0 run CMD..." >&2; exit 2; }
shift
eval "$("$here/tools.sh" stack)"

state="$(mktemp -d "${TMPDIR:-/tmp}/provisio-stack.XXXXXX")"
pids=()
stop() {
  # The command first, and to its end (make dev saves its secrets to moto's last breath), then
  # the stack.
  if [ -n "${command_pid:-}" ]; then
    kill "$command_pid" 2>/dev/null || true
    wait "$command_pid" 2>/dev/null || true
  fi
  for pid in "${pids[@]:-}"; do
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]:-}"; do
    [ -n "$pid" ] && wait "$pid" 2>/dev/null || true
  done
  rm -rf "$state"
}
trap stop EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

wait_http() { # name url log
  for _ in $(seq 1 150); do
    if curl -s -o /dev/null "$2"; then return 0; fi
    sleep 0.2
  done
  echo "stack: $1 did not start; its log:" >&2
  tail -n 30 "$3" >&2
  return 1
}

ddb_port="$(free_port)"
jar_dir="$(dirname "$PROVISIO_DYNAMODB_JAR")"
storage=(-inMemory)
if [ -n "${PROVISIO_DATA_DIR:-}" ]; then
  mkdir -p "$PROVISIO_DATA_DIR/dynamodb"
  storage=(-dbPath "$PROVISIO_DATA_DIR/dynamodb")
fi
# Each in a session of its own: a Ctrl-C meant for the command doesn't stop the stack under it
# before the command has finished (make dev saves its secrets on the way out); stop() ends them.
# A 1 GB heap, headroom for every test's table with its stream (512 MB was full at the end of
# `make test`; DynamoDB Local still slows down there, for a reason not found yet).
# PROVISIO_DYNAMODB_JAVA_OPTS replaces the options.
(cd "$state" && exec setsid java ${PROVISIO_DYNAMODB_JAVA_OPTS:--Xmx1g} -Djava.library.path="$jar_dir/DynamoDBLocal_lib" \
  -jar "$PROVISIO_DYNAMODB_JAR" "${storage[@]}" -sharedDb -disableTelemetry -port "$ddb_port") \
  >"$state/dynamodb.log" 2>&1 &
pids+=($!)

moto_port="$(free_port)"
# moto with its queue attributes read lazily (scripts/moto_server.py: a send no longer walks the queue).
setsid "$PROVISIO_MOTO_BIN/python" "$here/moto_server.py" -H 127.0.0.1 -p "$moto_port" >"$state/moto.log" 2>&1 &
pids+=($!)

wait_http "DynamoDB Local" "http://127.0.0.1:$ddb_port" "$state/dynamodb.log"
wait_http "moto" "http://127.0.0.1:$moto_port/moto-api/" "$state/moto.log"

export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$ddb_port"
export AWS_ENDPOINT_URL_SQS="http://127.0.0.1:$moto_port"
export AWS_ENDPOINT_URL_SECRETS_MANAGER="http://127.0.0.1:$moto_port"
export AWS_REGION="${AWS_REGION:-us-east-1}"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-local}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-local}"
# Nothing local may reach real AWS config or the instance metadata service.
export AWS_EC2_METADATA_DISABLED=true
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
echo "stack: DynamoDB Local on $AWS_ENDPOINT_URL_DYNAMODB, moto (SQS, Secrets Manager) on $AWS_ENDPOINT_URL_SQS" >&2

# In the background, so a TERM to this script stops the command too (bash defers traps while
# a foreground child runs).
"$@" &
command_pid=$!
set +e
wait "$command_pid"
status=$?
set -e
exit "$status"
