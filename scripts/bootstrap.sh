#!/usr/bin/env bash
# Set up everything forescale needs on a fresh machine: the Python environment (.venv, from uv.lock),
# the Node tools (aws-cdk CLI, DynamoDB Local, from package-lock.json) and Java for DynamoDB Local.
# Idempotent and quick when nothing changed; every README command calls it first.
set -euo pipefail
cd "$(dirname "$0")/.."
export UV_PYTHON_DOWNLOADS=never
# Trust the machine's certificate store (registries may sit behind a TLS-inspecting proxy).
export UV_SYSTEM_CERTS=1
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  export SSL_CERT_FILE=${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}
  export NODE_EXTRA_CA_CERTS=${NODE_EXTRA_CA_CERTS:-/etc/ssl/certs/ca-certificates.crt}
fi

# Python 3.12 (the Lambda runtime's); pyenv honours .python-version, else any python3.12 on PATH, else python3.
# With a virtual environment active (this project's .venv or another) the interpreter it was made from is
# used: a venv has neither pip nor uv.
python=""
for candidate in python3.12 python3; do
  if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null; then
    python=$("$candidate" -c 'import sys; print(getattr(sys, "_base_executable", sys.executable))'); break
  fi
done
[ -n "$python" ] || { echo "bootstrap: no Python >= 3.11 found" >&2; exit 1; }

"$python" -m uv --version >/dev/null 2>&1 || "$python" -m pip install --quiet --disable-pip-version-check "uv>=0.9,<1"
"$python" -m uv sync --frozen --quiet --python "$python"

if ! command -v java >/dev/null 2>&1; then
  echo "bootstrap: installing a Java runtime for DynamoDB Local" >&2
  apt-get update -qq && apt-get install -y -qq default-jre-headless >/dev/null
fi
# The arm64 layers' shared objects are stripped here too (without it the forecaster would not fit 240 MiB):
# a strip that reads aarch64 ELF files, unless llvm-strip or the host's own strip does.
if [ "$(uname -m)" != aarch64 ] && ! command -v llvm-strip >/dev/null 2>&1 && ! command -v aarch64-linux-gnu-strip >/dev/null 2>&1; then
  echo "bootstrap: installing binutils for aarch64 (strip for the arm64 layers)" >&2
  apt-get update -qq && apt-get install -y -qq binutils-aarch64-linux-gnu >/dev/null
fi
if [ ! -d node_modules/aws-cdk ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --silent
fi
