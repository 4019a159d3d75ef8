"""Figures of the reliability scenarios (requests tried, failures, messages lost, latency).

Tests call `record(...)`; the figures are printed at the end of the pytest run and, when
`RELIABILITY_FIGURES` names a file, appended to it as JSON lines (docs/reliability.md quotes
them).
"""

from __future__ import annotations

import json
import os
from typing import Any

FIGURES: dict[str, dict[str, Any]] = {}


def record(scenario: str, **values: Any) -> None:
    FIGURES[scenario] = values
    target = os.environ.get("RELIABILITY_FIGURES")
    if target:
        with open(target, "a", encoding="utf-8") as out:
            out.write(json.dumps({"scenario": scenario, **values}, default=str) + "\n")


def summary_lines() -> list[str]:
    return [
        f"{name}: " + ", ".join(f"{k}={v}" for k, v in values.items())
        for name, values in sorted(FIGURES.items())
    ]
