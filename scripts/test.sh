#!/usr/bin/env bash
# `make test`: lint, then every test against a fresh local AWS stack.
#   scripts/test.sh        lint + tests
#   scripts/test.sh lint   lint only
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here/.."
eval "$("$here/tools.sh")"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/provisio/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

step() { echo; echo "==> $*"; }

step "cargo fmt --check"
cargo fmt --all --check
step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --quiet -- -D warnings
step "cfn-lint infra/template.yaml"
cfn-lint infra/template.yaml
step "sam validate --lint"
sam validate --lint --template infra/template.yaml --region us-east-1
[ "${1:-}" = lint ] && exit 0

step "build"
cargo build --workspace --all-targets --quiet
# Three local stacks, one after another: DynamoDB Local slows down once it holds every test's
# table with its stream, and the tests through `cargo lambda watch` (a browser among them) and the
# benchmarks would wait on that, or measure it.
# Each stage's output is also kept, so a failure is named again at the very end: CI shows the
# tail of a long log, and a failure in the first stage would otherwise scroll out of it.
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
status=0
# Through a process substitution, not a pipe: the script waits for the stage, not for every
# process that may still hold its output (a watcher orphaned by a killed test binary).
stage() {
  "$here/stack.sh" run "$@" > >(tee -a "$log") 2>&1
}
step "unit and integration tests against the local AWS stack"
stage cargo test --workspace --lib --bins --test integration --no-fail-fast || status=1
step "the tests through cargo lambda watch (make dev's path; the console in Chromium), on a fresh local AWS stack"
stage cargo test -p provisio-tests --test served --no-fail-fast || status=1
step "the benchmarks, once, quick, as tests, on a fresh local AWS stack"
stage cargo test --workspace --benches --no-fail-fast || status=1
if [ "$status" -ne 0 ]; then
  step "what failed"
  grep -E '^test .* FAILED$|panicked at|^error: test failed|^stack: .* did not start' "$log" -A2 | grep -v '^stack backtrace' | head -n 80 || true
fi
exit "$status"
