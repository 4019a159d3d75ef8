#!/usr/bin/env bash
# Remove the demo organization (soft delete; idempotent).
set -euo pipefail
cd "$(dirname "$0")"
exec venv/bin/python -m engine.demo delete
