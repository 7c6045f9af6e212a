# Provisio: the two everyday commands are `make dev` and `make test`.
SHELL := /bin/bash
# Build outside the clone, so CI reruns and fresh clones reuse compiled dependencies.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/provisio/target

.PHONY: dev test lint bench package tools demo

## Install the pinned local tools (idempotent; also done by every target that needs them).
tools:
	@scripts/tools.sh >/dev/null

## Local AWS stack + all functions under `cargo lambda watch` + queue feeders. Ctrl-C stops it all.
## Data is kept between runs; `make dev FRESH=1` starts empty.
dev:
	@FRESH="$(FRESH)" scripts/dev.sh

## The seeds' walkthrough against a running `make dev` (in another terminal; uses the
## PROVISIO_URL and PROVISIO_ADMIN_KEY it printed). A sample app runs on 127.0.0.1 meanwhile.
demo:
	@cargo run --quiet -p devstack -- demo

## Lint and every test, against the local AWS stack. CI runs exactly this.
test:
	@scripts/test.sh

## Lint only: rustfmt, clippy, cfn-lint, sam validate.
lint:
	@scripts/test.sh lint

## Throughput and DynamoDB requests per operation, measured against the local stack; SCIM side by
## side with scim2-server through `make dev`'s watcher.
## The side-by-side bench gets a stack of its own, its table on disk as `make dev` keeps it.
bench:
	@eval "$$(scripts/tools.sh)" && scripts/stack.sh run cargo bench -p provisio-tests --bench directory --bench scim --bench dispatch --bench scim_target --bench import --bench cost
	@eval "$$(scripts/tools.sh)" && data="$$(mktemp -d)" && trap 'rm -rf "$$data"' EXIT && \
	  PROVISIO_DATA_DIR="$$data" scripts/stack.sh run cargo bench -p provisio-tests --bench side_by_side

## `sam build` of every function (x86_64 locally; arm64 is the deployed default), with sizes.
package:
	@scripts/package.sh
