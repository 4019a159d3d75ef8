"""Structured log lines carrying the request id; optional rotating files under LOGS_DIR."""

from __future__ import annotations

import logging
import logging.handlers
import re
from contextvars import ContextVar
from pathlib import Path

request_id_var: ContextVar[str] = ContextVar("request_id", default="-")

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [req=%(request_id)s] %(message)s"


# bcrypt hashes, e.g. inside a database error's "Failing row contains (...)" detail
PASSWORD_HASH = re.compile(r"\$2[abxy]?\$\d{2}\$[./A-Za-z0-9]{53}")
REDACTED = "[password hash redacted]"


class RedactingFormatter(logging.Formatter):
    """Formats as usual, then blanks out password hashes (message, arguments, traceback)."""

    def format(self, record: logging.LogRecord) -> str:
        return PASSWORD_HASH.sub(REDACTED, super().format(record))


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


def configure_logging(level: str = "INFO", logs_dir: Path | None = None) -> None:
    root = logging.getLogger()
    root.setLevel(level.upper())
    formatter = RedactingFormatter(LOG_FORMAT)
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if logs_dir is not None:
        logs_dir.mkdir(parents=True, exist_ok=True)
        handlers.append(
            logging.handlers.RotatingFileHandler(
                logs_dir / "engine.log",
                maxBytes=20 * 1024 * 1024,
                backupCount=10,
                encoding="utf-8",
            )
        )
    for handler in list(root.handlers):
        if getattr(handler, "_rugpt", False):
            root.removeHandler(handler)
    for handler in handlers:
        handler.setFormatter(formatter)
        handler.addFilter(RequestIdFilter())
        handler._rugpt = True  # type: ignore[attr-defined]
        root.addHandler(handler)
