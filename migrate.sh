#!/usr/bin/env bash
# Apply pending database migrations (a no-op when up to date).
set -euo pipefail
cd "$(dirname "$0")"
exec venv/bin/rugpt migrate
