# The two commands a newcomer needs: `make run` (the engine, embedded: SQLite and an in-memory
# queue, nothing else to install) and `make test` (the whole suite, against local PostgreSQL and
# Redis, which it starts, or installs on Debian, first).

CARGO ?= cargo
# Builds go where cargo puts them: the workspace's target/ unless CARGO_TARGET_DIR (or a cargo
# config) says otherwise; scripts/target-dir.sh asks cargo which.

.PHONY: run test lint fmt services build release bench clean-test-dbs api-fuzz ui-test ui-build

run:
	$(CARGO) run --release --bin workflow-engine

test: services lint
	$(CARGO) test --workspace --all-targets
	$(MAKE) api-fuzz
	$(MAKE) ui-test

# The API against its own OpenAPI document: schemathesis (installed into the target directory
# on first use) fuzzes the embedded engine; any 5xx or answer the spec does not describe fails.
api-fuzz:
	CARGO="$(CARGO)" ./scripts/api-fuzz.sh

# The dashboard in headless Chromium (Debian's, installed on first use): checks that the
# committed crates/ui/dist is what crates/ui/web builds, then runs the end-to-end scenario
# against the embedded engine; the screenshot lands in ui-artifacts/ of the target directory.
ui-test:
	CARGO="$(CARGO)" ./scripts/ui-test.sh

# Rebuilds crates/ui/dist from crates/ui/web (Node 20+; commit the result).
ui-build:
	./scripts/build-ui.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

services:
	./scripts/ensure-services.sh

build:
	$(CARGO) build --workspace

# Where `make run` and `make release` put the binary, for the terminal client:
# export PATH="$(make -s bindir):$PATH"; workflow-engine ctl --help
.PHONY: bindir
bindir:
	@echo "$$(CARGO="$(CARGO)" ./scripts/target-dir.sh)/release"

release:
	$(CARGO) build --release --bin workflow-engine

# The engine's speed as the product states it, on the reference engines' scenarios: the release
# binary as split services and embedded, S1 per-step latency, S2 steps/s against pgbench in the
# same sitting, scale scenarios, and the instance search over 1 000 000 rows (docs/benchmark.md).
# `make bench BENCH_ARGS=--quick`, `make bench BENCH_ARGS="--only s1,s2 --mode split"`.
BENCH_ARGS ?=
bench:
	./scripts/ensure-services.sh
	$(CARGO) build --release --bin workflow-engine
	$(CARGO) run --release -p bench -- $(BENCH_ARGS)
