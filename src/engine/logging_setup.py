"""Structured log lines carrying the request id; optional rotating files under LOGS_DIR.

Two line formats: `text` (one line, `key=value` for the request id) and `json` (one JSON
object per line, for log collectors). Uvicorn's access records get their parts as fields.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import re
import time
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

request_id_var: ContextVar[str] = ContextVar("request_id", default="-")
# The client address of the request being served (after trusted proxy headers); the audit
# trail records it. Unset outside requests (background work).
client_ip_var: ContextVar[str | None] = ContextVar("client_ip", default=None)

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [req=%(request_id)s] %(message)s"
LOG_FILE_NAME = "engine.log"
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
DEFAULT_BACKUP_COUNT = 10

LogFormat = Literal["text", "json"]

# Client libraries that log every request they make at INFO: httpx writes a line per model
# call ("HTTP Request: POST .../api/chat ..."), three for a chain's answer, with nothing the
# engine's own records of the answer do not say. Kept at WARNING unless LOG_LEVEL is DEBUG.
CHATTY_LOGGERS = ("httpx", "httpcore")


# bcrypt hashes, e.g. inside a database error's "Failing row contains (...)" detail
PASSWORD_HASH = re.compile(r"\$2[abxy]?\$\d{2}\$[./A-Za-z0-9]{53}")
REDACTED = "[password hash redacted]"


class RedactingFormatter(logging.Formatter):
    """Formats with `inner`, then blanks out password hashes (message, arguments, traceback)."""

    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self.inner = inner

    def format(self, record: logging.LogRecord) -> str:
        return PASSWORD_HASH.sub(REDACTED, self.inner.format(record))


class TextFormatter(logging.Formatter):
    """`LOG_FORMAT`, its time text made once per second rather than once per line (the
    access log writes a line per request)."""

    _second = -1
    _text = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        if datefmt:
            return super().formatTime(record, datefmt)
        second = int(record.created)
        if second != self._second:
            self._text = time.strftime(self.default_time_format, self.converter(record.created))
            self._second = second
        return f"{self._text},{int(record.msecs):03d}"


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, request_id, message (+ exc, access parts)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "message": record.getMessage(),
        }
        if record.name == "uvicorn.access" and isinstance(record.args, tuple):
            if len(record.args) == 5:
                client, method, path, http_version, status = record.args
                entry.update(
                    client=client, method=method, path=path, http=http_version, status=status
                )
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class _EngineHandler:
    """Marks handlers installed here, so reconfiguring replaces them and leaves others alone."""


class _StreamHandler(logging.StreamHandler, _EngineHandler):  # type: ignore[type-arg]
    pass


class _RotatingFileHandler(logging.handlers.RotatingFileHandler, _EngineHandler):
    pass


def configure_logging(
    level: str = "INFO",
    logs_dir: Path | None = None,
    *,
    log_format: LogFormat = "text",
    max_bytes: int = DEFAULT_MAX_BYTES,
    backup_count: int = DEFAULT_BACKUP_COUNT,
) -> Path | None:
    """Log to stderr and, with `logs_dir`, to `logs_dir/engine.log` rotated at `max_bytes`.

    Returns the log file path (or None). Only one process should write a given file: the
    rotation is not coordinated between processes.
    """
    root = logging.getLogger()
    root.setLevel(level.upper())
    # No format here prints a record's source line, thread or process: not gathering them
    # spares every record a walk up the stack (logging HOWTO, "Optimization").
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(
            logging.NOTSET if root.level <= logging.DEBUG else logging.WARNING
        )
    formatter = RedactingFormatter(
        JsonFormatter() if log_format == "json" else TextFormatter(LOG_FORMAT)
    )
    handlers: list[logging.Handler] = [_StreamHandler()]
    log_file: Path | None = None
    if logs_dir is not None:
        logs_dir.mkdir(parents=True, exist_ok=True)
        log_file = logs_dir / LOG_FILE_NAME
        handlers.append(
            _RotatingFileHandler(
                log_file, maxBytes=max_bytes, backupCount=backup_count, encoding="utf-8"
            )
        )
    for handler in list(root.handlers):
        if isinstance(handler, _EngineHandler):
            root.removeHandler(handler)
            handler.close()
    for handler in handlers:
        handler.setFormatter(formatter)
        handler.addFilter(RequestIdFilter())
        root.addHandler(handler)
    return log_file
