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
step "tests against the local AWS stack (the benchmark runs once, quick, as a test)"
"$here/stack.sh" run cargo test --workspace --all-targets --no-fail-fast
