#!/usr/bin/env bash
# Create the demo organization 'demo' with an admin and three users (idempotent).
set -euo pipefail
cd "$(dirname "$0")"
exec venv/bin/python -m engine.demo init
