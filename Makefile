# sessions-lite: `make run` starts the server, `make test` installs what the
# tests need and runs them all. Every target is bounded in time.

CARGO ?= cargo
BIN := target/release/sessions-lite
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1
# The OTLP codec tests must not skip in `make test` (see tests/it/otlp_codec.rs).
export SESSIONS_LITE_REQUIRE_OTLP := 1
# The OpenAPI validity test must not skip either (see tests/it/openapi.rs).
export SESSIONS_LITE_REQUIRE_OPENAPI := 1
# Nor may the promtool check of /metrics (see tests/it/metrics.rs).
export SESSIONS_LITE_REQUIRE_PROMTOOL := 1

.PHONY: run build release deb test test-rust test-browser conformance schemathesis test-deb check deps fuzz bench soak clean

run: release
	./$(BIN)

build:
	$(CARGO) build

release:
	$(CARGO) build --release

## deb: target/debian/sessions-lite_VERSION_ARCH.deb (cargo-deb; packaging/).
CARGO_DEB_VERSION := 3.8.0
deb:
	command -v cargo-deb >/dev/null || $(CARGO) install cargo-deb --version $(CARGO_DEB_VERSION) --locked
	$(CARGO) deb

## deps: what the tests need on a fresh Debian machine (curl, chromium,
## node modules for the browser tests, a Python venv for conformance).
deps:
	./tests/deps.sh

test: deps check test-rust test-browser conformance schemathesis test-deb

test-rust:
	$(CARGO) test --all-targets

test-browser: build
	cd tests/browser && SESSIONS_LITE_BIN=$(CURDIR)/target/debug/sessions-lite timeout 600 node --test --test-concurrency=1 dashboard.test.mjs eventsource.test.mjs

conformance: build
	timeout 300 ./tests/conformance.sh

## schemathesis: the OpenAPI document against a live server (about 40 s).
schemathesis: build
	timeout 240 ./tests/schemathesis.sh

## test-deb: build the package, install it, check it, remove it (root only;
## SKIP_DEB=1 skips it elsewhere). See tests/deb.sh.
test-deb:
	timeout 900 ./tests/deb.sh

## soak: the soak test for SOAK_SECS seconds (default 300).
SOAK_SECS ?= 300
soak:
	SOAK_SECS=$(SOAK_SECS) $(CARGO) test --release --test it soak -- --nocapture

## fuzz: every cargo-fuzz target for FUZZ_SECS seconds each (see fuzz/README.md).
FUZZ_SECS ?= 30
fuzz:
	command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	./fuzz/run.sh $(FUZZ_SECS)

## bench: load and memory figures against nginx (about 3 min after the
## build; see BENCHMARKS.md). BENCH_ARGS=--build-time or --profile add more.
bench:
	./bench/run.sh $(BENCH_ARGS)

check:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

clean:
	$(CARGO) clean
