from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

from engine import __version__
from engine.errors import DB_UNAVAILABLE_ERRORS
from engine.llm.probe import LLMProbe
from engine.storage.database import Database


class HealthService:
    def __init__(self, db: Database, llm_probe: LLMProbe) -> None:
        self.db = db
        self.llm_probe = llm_probe

    async def report(self) -> tuple[bool, dict[str, Any]]:
        """(database ok, report). An unreachable LLM degrades the report but never fails it."""
        started = time.perf_counter()
        try:
            db_ok = await self.db.ping()
            db_error = None
        except DB_UNAVAILABLE_ERRORS as exc:
            db_ok, db_error = False, type(exc).__name__
        db_ms = round((time.perf_counter() - started) * 1000, 2)
        llm = await self.llm_probe.status()
        llm_report = asdict(llm)
        status = "ok" if db_ok and llm.reachable and llm.model_present else "degraded"
        if not db_ok:
            status = "unavailable"
        return db_ok, {
            "status": status,
            "version": __version__,
            "database": {"ok": db_ok, "latency_ms": db_ms, "error": db_error},
            "llm": llm_report,
        }
