#!/usr/bin/env bash
# Installs what the tests need and is missing: Debian packages (curl,
# chromium), the browser tests' node modules (playwright-core only; never a
# downloaded browser), and nothing else. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v curl >/dev/null || need+=(curl)
command -v chromium >/dev/null || need+=(chromium)
command -v node >/dev/null || need+=(nodejs npm)
command -v python3 >/dev/null || need+=(python3 python3-venv)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
  else
    echo "missing: ${need[*]} (install them, or run as root)" >&2
    exit 1
  fi
fi
if [ ! -d tests/browser/node_modules/playwright-core ]; then
  (cd tests/browser && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-audit --no-fund --silent)
fi
