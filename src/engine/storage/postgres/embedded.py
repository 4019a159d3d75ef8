"""The embedded PostgreSQL started from the `pgserver` package when no DATABASE_URL is set."""

from __future__ import annotations

import asyncio
import logging
import os
import stat
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

EMBEDDED_DB_NAME = "rugpt"


class EmbeddedPostgres:
    """Runs a private PostgreSQL in `data_dir/pg`; reachable over a unix socket only."""

    def __init__(self, data_dir: Path) -> None:
        self.pgdata = (data_dir / "pg").resolve()
        self._server: Any = None

    async def start(self) -> str:
        """Start (or attach to) the server and return a DSN for the engine's database."""
        self._server = await asyncio.to_thread(self._start_blocking)
        return self.dsn(EMBEDDED_DB_NAME)

    def _start_blocking(self) -> Any:
        import pgserver  # heavy import kept off the path of external-DB deployments

        self.pgdata.mkdir(parents=True, exist_ok=True)
        _check_reachable_when_root(self.pgdata)
        server = pgserver.get_server(self.pgdata, cleanup_mode="stop")
        exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{EMBEDDED_DB_NAME}';")
        if "1 row" not in exists:
            server.psql(f"CREATE DATABASE {EMBEDDED_DB_NAME};")
        log.info("embedded PostgreSQL running in %s", self.pgdata)
        return server

    def dsn(self, database: str) -> str:
        return f"postgresql://postgres@/{database}?host={self.pgdata}"

    async def stop(self) -> None:
        if self._server is not None:
            server, self._server = self._server, None
            await asyncio.to_thread(server.cleanup)
            log.info("embedded PostgreSQL stopped")


def _check_reachable_when_root(pgdata: Path) -> None:
    """As root, pgserver runs PostgreSQL as an unprivileged user, which must reach the data
    folder: say so clearly instead of failing deep inside `initdb`."""
    if os.geteuid() != 0:
        return
    for folder in [*reversed(pgdata.parents), pgdata]:
        mode = folder.stat().st_mode
        if folder != pgdata and not mode & stat.S_IXOTH:
            raise RuntimeError(
                f"the embedded PostgreSQL runs as an unprivileged user when the engine runs as "
                f"root, and cannot enter {folder} (mode {stat.filemode(mode)}): put DATA_DIR "
                f"elsewhere, `chmod o+x {folder}`, or run the engine as a normal user"
            )
