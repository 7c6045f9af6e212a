#!/usr/bin/env bash
# `make package`: `sam build` of every function with the local cargo-lambda (no Docker), then the
# size of each artifact. Only the x86_64 Rust target exists on the development machines, so the
# local build overrides the template's Architecture (arm64 in production).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here/.."
eval "$("$here/tools.sh")"
export SAM_CLI_BETA_RUST_CARGO_LAMBDA=1
arch="${PROVISIO_ARCH:-x86_64}"
build_dir="${PROVISIO_BUILD_DIR:-.aws-sam/build}"
sam build --template infra/template.yaml --build-dir "$build_dir" \
  --parameter-overrides "Architecture=$arch" >&2
echo
printf '%-22s %12s %12s\n' function bootstrap zipped
for dir in "$build_dir"/*Function; do
  bin="$dir/bootstrap"
  [ -f "$bin" ] || continue
  size=$(stat -c %s "$bin")
  zipped=$(python3 -c "import io,sys,zipfile; b=io.BytesIO(); z=zipfile.ZipFile(b,'w',zipfile.ZIP_DEFLATED); z.write(sys.argv[1],'bootstrap'); z.close(); print(len(b.getvalue()))" "$bin")
  printf '%-22s %10s B %10s B\n' "$(basename "$dir")" "$size" "$zipped"
done
