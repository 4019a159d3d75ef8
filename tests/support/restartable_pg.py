"""A dedicated embedded PostgreSQL that a test may stop and start again (faults).

Lives in its own temp dir so the suite's shared server is never disturbed.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path
from typing import Any


class RestartablePostgres:
    def __init__(self) -> None:
        import pgserver

        self.base = Path(tempfile.mkdtemp(prefix="rugpt-pg-fault-"))
        self.base.chmod(0o755)  # as root, pgserver runs PostgreSQL as an unprivileged user
        self.pgdata = self.base / "pg"
        self.server: Any = pgserver.get_server(self.pgdata, cleanup_mode="stop")

    @property
    def admin_dsn(self) -> str:
        return f"postgresql://postgres@/postgres?host={self.pgdata.resolve()}"

    def _pg_ctl(self, *args: str) -> None:
        from pgserver._commands import pg_ctl  # type: ignore[attr-defined]

        pg_ctl(list(args), pgdata=self.pgdata, user=self.server.system_user, timeout=30)

    async def stop(self, mode: str = "fast") -> None:
        """`fast` ends every session (clients see the connection die); `immediate` is a crash."""
        await asyncio.to_thread(self._pg_ctl, "-w", "-m", mode, "stop")

    async def start(self) -> None:
        await asyncio.to_thread(self.server.ensure_postgres_running)

    def close(self) -> None:
        try:
            self.server.cleanup()
        finally:
            shutil.rmtree(self.base, ignore_errors=True)
