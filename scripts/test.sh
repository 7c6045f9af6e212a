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
step "tests against the local AWS stack"
"$here/stack.sh" run cargo test --workspace --lib --bins --tests --no-fail-fast
# On a stack of their own: DynamoDB Local slows down once it holds every test's table with its
# stream, and the benchmarks would measure that.
step "the benchmarks, once, quick, as tests, on a fresh local AWS stack"
"$here/stack.sh" run cargo test --workspace --benches --no-fail-fast
