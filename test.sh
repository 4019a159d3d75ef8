#!/usr/bin/env bash
# The whole test suite: lint, type check, tests (real PostgreSQL: embedded, or TEST_DATABASE_URL).
set -euo pipefail
cd "$(dirname "$0")"
[ -x venv/bin/python ] || ./setup.sh
venv/bin/ruff check src tests bench
venv/bin/mypy
# the web client's unit tests (Vitest), when its packages are installed
if [ $# -eq 0 ] && [ -d web/node_modules ]; then (cd web && npx --no-install vitest run); fi
exec venv/bin/python -m pytest -q "$@"
