#!/usr/bin/env bash
# Re-resolve the Python dependencies of pyproject.toml into requirements.lock (pinned, hashed).
# Run after changing dependencies in pyproject.toml; commit both files together.
set -euo pipefail
cd "$(dirname "$0")"
[ -x venv/bin/uv ] || venv/bin/python -m pip install -q uv
venv/bin/uv pip compile pyproject.toml --extra test --generate-hashes --universal \
  --python-version 3.11 --no-header -q -o requirements.lock "$@"
echo "requirements.lock updated: commit it with pyproject.toml"
