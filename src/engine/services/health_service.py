from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from engine import __version__
from engine.errors import DB_UNAVAILABLE_ERRORS
from engine.llm.fleet import FleetGate
from engine.llm.local_server import LocalLLMServer
from engine.llm.probe import LLMProbe
from engine.services.ai.fleet import AIFleet
from engine.storage.postgres.database import Database


class HealthService:
    def __init__(
        self,
        db: Database,
        llm_probe: LLMProbe,
        gate: FleetGate | None = None,
        active_jobs: Callable[[], int] | None = None,
        local_llm: LocalLLMServer | None = None,
        fleet: AIFleet | None = None,
    ) -> None:
        self.fleet = fleet
        self.local_llm = local_llm
        self.db = db
        self.llm_probe = llm_probe
        self.gate = gate
        self.active_jobs = active_jobs

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
        llm_report: dict[str, Any] = asdict(llm)
        if self.local_llm is not None:
            llm_report["local"] = {
                **self.local_llm.report(),
                "queue": self.gate.waiting if self.gate else 0,
                "in_flight": self.gate.in_flight if self.gate else 0,
            }
        status = "ok" if db_ok and llm.reachable and llm.model_present else "degraded"
        fleet: dict[str, Any] | None = None
        if db_ok and self.fleet is not None:
            try:
                fleet = await self.fleet.report()
            except DB_UNAVAILABLE_ERRORS:
                fleet = None
        if fleet is not None and len(self.fleet.backends) > 1:  # type: ignore[union-attr]
            # with several model servers one of them down is degraded service, not none
            mine = [b for b in fleet["backends"] if b["name"] in self.fleet.backends]  # type: ignore[union-attr]
            usable = [b for b in mine if b["state"] == "healthy" and b.get("reachable", True)]
            status = "ok" if db_ok and usable else "degraded"
        if not db_ok:
            status = "unavailable"
        return db_ok, {
            "status": status,
            "version": __version__,
            "database": {"ok": db_ok, "latency_ms": db_ms, "error": db_error},
            "llm": llm_report,
            "ai": {
                "active_jobs": self.active_jobs() if self.active_jobs else 0,
                "llm_in_flight": self.gate.in_flight if self.gate else 0,
                "llm_waiting": self.gate.waiting if self.gate else 0,
                "llm_max_concurrency": self.gate.max_concurrency if self.gate else 0,
                "queue_length": fleet["queue_length"] if fleet else None,
            },
            "llm_backends": fleet["backends"] if fleet else [],
        }
