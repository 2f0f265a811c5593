#!/usr/bin/env bash
# Installs what the tests need and is missing: Debian packages (curl,
# chromium, iproute2 for `ss`, prometheus for `promtool`; systemd, man-db,
# groff-base, strace, binutils and procps for the package test), cargo-deb,
# the browser tests' node modules (playwright-core only; never a downloaded
# browser) and the Python venv with opentelemetry-proto (the test
# collector's schema), Schemathesis and openapi-spec-validator; nothing else.
# Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v curl >/dev/null || need+=(curl)
# ss shows a listening socket's backlog and queue (the listen backlog tests).
command -v ss >/dev/null || need+=(iproute2)
command -v chromium >/dev/null || need+=(chromium)
# promtool checks a live /metrics answer (tests/it/metrics.rs).
command -v promtool >/dev/null || need+=(prometheus)
command -v node >/dev/null || need+=(nodejs npm)
command -v python3 >/dev/null || need+=(python3 python3-venv)
# The Debian package test (tests/deb.sh): systemd-analyze, man and groff
# to check the unit and the man page, strace for the unit's system calls,
# readelf (binutils) for a stripped binary, pgrep (procps).
command -v systemd-analyze >/dev/null || need+=(systemd)
command -v man >/dev/null || need+=(man-db)
command -v groff >/dev/null || need+=(groff-base)
command -v strace >/dev/null || need+=(strace)
command -v readelf >/dev/null || need+=(binutils)
command -v pgrep >/dev/null || need+=(procps)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
  else
    echo "missing: ${need[*]} (install them, or run as root)" >&2
    exit 1
  fi
fi
# cargo-deb builds the package (`make deb`); the Makefile pins its version.
if ! command -v cargo-deb >/dev/null; then
  cargo install cargo-deb --version "$(sed -n 's/^CARGO_DEB_VERSION := //p' Makefile)" --locked
fi
# The project's Python venv (tests/conformance.sh adds kosoku and websockets
# to the same one) with opentelemetry-proto, which brings protobuf: the
# schema for the test collector, tests/otlp_collector.py.
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
if ! .venv/bin/python -c 'import opentelemetry.proto' 2>/dev/null; then
  .venv/bin/pip install --quiet 'opentelemetry-proto>=1.45'
fi
# Schemathesis (tests/schemathesis.sh: the OpenAPI document against a live
# server) and openapi-spec-validator (tests/it/openapi.rs: the document is
# valid OpenAPI 3.1). Schemathesis 4's CLI is what the script is written for.
if ! .venv/bin/python -c 'import schemathesis, openapi_spec_validator' 2>/dev/null; then
  .venv/bin/pip install --quiet 'schemathesis>=4.32,<5' 'openapi-spec-validator>=0.7'
fi
# playwright-core wants Node 20 or later; Debian 12's own nodejs is 18.
# Say so plainly rather than fail later with an obscure error.
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  echo "warning: Node $(node --version 2>/dev/null || echo '?') found; the browser tests' playwright-core wants Node 20 or later" >&2
fi
if [ ! -d tests/browser/node_modules/playwright-core ]; then
  (cd tests/browser && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-audit --no-fund --silent)
fi
