#!/usr/bin/env bash
# The README's figures of the build and the developer loop, from one run on this machine:
# test counts and `make test` wall time, the test crate's build time, `make dev` time to ready,
# the functions' package sizes and cold init, the largest source files. Prints the block; with --write, also
# replaces it in README.md (between <!-- figures:start --> and <!-- figures:end -->).
#   scripts/figures.sh [--write]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here/.."
eval "$("$here/tools.sh")"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/provisio/target}"
work="$(mktemp -d "${TMPDIR:-/tmp}/provisio-figures.XXXXXX")"
# Kept when a step fails, with a word on which: the logs are the point then.
trap 'echo "figures: a step failed (line $LINENO); its logs are in $work" >&2; trap - EXIT' ERR
trap 'rm -rf "$work"' EXIT
now() { date +%s.%N; }
since() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$1" "$(now)"; }

echo "figures: make test (the whole suite, warm cache)" >&2
t=$(now)
make test >"$work/test.log" 2>&1
test_secs=$(since "$t")
counts=$(python3 - "$work/test.log" <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
runs = re.findall(r"Running ([^\n]+?) \(([^\n]*)\)\n\nrunning \d+ tests?.*?test result: ok\. (\d+) passed", text, re.S)
named = {
    ("unittests src/lib.rs", "provisio"): "library unit tests",
    ("tests/integration/main.rs", "integration"): "integration",
    ("tests/served/main.rs", "served"): "through cargo lambda watch",
}
total = 0
parts = []
seen = set()
for target, binary, passed in runs:
    # A target is its path and its crate (several crates have a src/lib.rs); the benchmarks'
    # pass runs the library's unit tests again (another profile, another hash): count it once.
    crate = binary.rsplit("/", 1)[-1].rsplit("-", 1)[0]
    if (target, crate) in seen:
        continue
    seen.add((target, crate))
    n = int(passed)
    total += n
    if n == 0:
        continue
    name = named.get((target, crate), f"{crate} {target}")
    parts.append(f"{name} {n}")
print(f"{total} tests pass ({', '.join(parts)})")
EOF
)

echo "figures: the test crate from scratch (dependencies and library built)" >&2
cargo test -p provisio-tests --no-run --quiet >/dev/null 2>&1
cargo clean -p provisio-tests --quiet
t=$(now)
cargo test -p provisio-tests --no-run --quiet >/dev/null 2>&1
build_secs=$(since "$t")

echo "figures: make dev to ready (build cached)" >&2
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
PROVISIO_DATA_DIR="$work/dev" PROVISIO_PORT="$port" FRESH=1 setsid "$here/dev.sh" >"$work/dev.log" 2>&1 &
dev_pid=$!
ready=""
for _ in $(seq 1 1200); do
  ready=$(sed -n 's/^\[ *\([0-9]*\)s\] ready$/\1/p' "$work/dev.log")
  [ -n "$ready" ] && break
  kill -0 "$dev_pid" 2>/dev/null || break
  sleep 1
done
kill -TERM -- "-$dev_pid" 2>/dev/null || true
wait "$dev_pid" 2>/dev/null || true
[ -n "$ready" ] || { echo "make dev did not get ready; its output:" >&2; tail -n 20 "$work/dev.log" >&2; exit 1; }

echo "figures: package sizes (sam build, x86_64)" >&2
PROVISIO_BUILD_DIR="$work/sam" "$here/package.sh" >"$work/package.txt" 2>"$work/package.log"
sizes=$(python3 - "$work/package.txt" <<'EOF'
import sys
rows = []
for line in open(sys.argv[1]):
    parts = line.split()
    if len(parts) == 5 and parts[0].endswith("Function"):
        name = parts[0][: -len("Function")]
        rows.append(f"{name} {int(parts[1]) / 1e6:.1f} MB ({int(parts[3]) / 1e6:.2f} MB zipped)")
print(", ".join(rows))
EOF
)

echo "figures: cold init of the packaged functions (spawn to first Runtime API poll)" >&2
cold=$(python3 "$here/coldstart.py" "$work/sam" 30 | python3 -c '
import sys
rows = [l.strip("|\n").split("|") for l in sys.stdin if l.startswith("| ") and "ms" in l]
print(", ".join(f"{r[0].strip()} {r[1].strip()} ({r[2].strip()}-{r[3].strip()})" for r in rows))')

largest=$(git ls-files '*.rs' | python3 -c '
import sys
sizes = sorted(((sum(1 for _ in open(p)), p) for p in sys.stdin.read().split()), reverse=True)
print(", ".join(f"{p} ({n} lines)" for n, p in sizes[:3]))')

block=$(cat <<EOF
<!-- figures:start -->
Measured by \`scripts/figures.sh\` on $(date -u +%Y-%m-%d) ($(nproc) cores):

| what | figure |
| --- | --- |
| \`make test\`, warm cache | ${test_secs} s; ${counts} |
| building the test crate (dependencies and library built) | ${build_secs} s |
| \`make dev\` to ready, build cached | ${ready} s |
| package sizes (release, stripped) | ${sizes} |
| cold init, those packages (median of 30, min-max) | ${cold} |
| largest source files | ${largest} |
<!-- figures:end -->
EOF
)
echo "$block"
if [ "${1:-}" = --write ]; then
  python3 - "$block" <<'EOF'
import re, sys
path = "README.md"
text = open(path).read()
new = re.sub(r"<!-- figures:start -->.*?<!-- figures:end -->", lambda _: sys.argv[1], text, flags=re.S)
if new == text and sys.argv[1] not in text:
    sys.exit("README.md has no figures block")
open(path, "w").write(new)
EOF
  echo "figures: README.md updated" >&2
fi
