#!/usr/bin/env bash
# Start the engine on HOST:PORT (default 127.0.0.1:8100); embedded PostgreSQL unless DATABASE_URL.
set -euo pipefail
cd "$(dirname "$0")"
exec venv/bin/rugpt serve "$@"
