from __future__ import annotations

import json
import logging
from pathlib import Path

import httpx
import pytest

from engine.logging_setup import LOG_FILE_NAME, configure_logging, request_id_var


def _log_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


@pytest.mark.usefixtures("restore_root_logger")
def test_text_lines_carry_the_request_id(tmp_path: Path) -> None:
    log_file = configure_logging("INFO", tmp_path / "logs")
    assert log_file == tmp_path / "logs" / LOG_FILE_NAME

    token = request_id_var.set("req-42")
    try:
        logging.getLogger("engine.test").info("inside a request")
    finally:
        request_id_var.reset(token)
    logging.getLogger("engine.test").info("outside")

    lines = [line for line in _log_lines(log_file) if " engine.test " in line]
    assert lines[0].endswith("INFO engine.test [req=req-42] inside a request")
    assert lines[1].endswith("INFO engine.test [req=-] outside")


@pytest.mark.usefixtures("restore_root_logger")
def test_json_lines_are_one_object_each_with_exception(tmp_path: Path) -> None:
    log_file = configure_logging("INFO", tmp_path, log_format="json")
    token = request_id_var.set("abc")
    try:
        try:
            raise RuntimeError("boom\nsecond line")
        except RuntimeError:
            logging.getLogger("engine.test").exception("failed: %s", "Привет")
    finally:
        request_id_var.reset(token)
    access_logger = logging.getLogger("uvicorn.access")
    saved = (access_logger.propagate, access_logger.disabled, access_logger.level)
    # an in-process uvicorn started earlier in the session reconfigures its loggers
    access_logger.propagate, access_logger.disabled = True, False
    access_logger.setLevel(logging.INFO)
    try:
        access_logger.info(
            '%s - "%s %s HTTP/%s" %d', "10.0.0.1:5000", "GET", "/api/v1/health", "1.1", 200
        )
    finally:
        access_logger.propagate, access_logger.disabled = saved[0], saved[1]
        access_logger.setLevel(saved[2])

    assert log_file is not None
    entries = [json.loads(line) for line in _log_lines(log_file)]
    # other apps of the session may log from background tasks meanwhile
    first, access = (e for e in entries if e["logger"] in ("engine.test", "uvicorn.access"))
    assert first["level"] == "ERROR"
    assert first["logger"] == "engine.test"
    assert first["request_id"] == "abc"
    assert first["message"] == "failed: Привет"
    assert "RuntimeError: boom" in first["exc"]
    assert first["ts"].endswith("+00:00")
    assert access["method"] == "GET" and access["path"] == "/api/v1/health"
    assert access["status"] == 200 and access["client"] == "10.0.0.1:5000"


@pytest.mark.usefixtures("restore_root_logger")
def test_file_rotates_at_the_size_limit_and_keeps_the_given_count(tmp_path: Path) -> None:
    log_file = configure_logging("INFO", tmp_path, max_bytes=2_000, backup_count=2)
    for index in range(200):
        logging.getLogger("engine.test").info("line %03d %s", index, "x" * 40)

    assert log_file is not None
    rotated = sorted(p.name for p in tmp_path.iterdir())
    assert rotated == [LOG_FILE_NAME, f"{LOG_FILE_NAME}.1", f"{LOG_FILE_NAME}.2"]
    assert all(p.stat().st_size <= 2_000 for p in tmp_path.iterdir())
    assert "line 199" in log_file.read_text(encoding="utf-8")


@pytest.mark.usefixtures("restore_root_logger")
def test_reconfiguring_replaces_its_own_handlers_only(tmp_path: Path) -> None:
    root = logging.getLogger()
    foreign = logging.NullHandler()
    root.addHandler(foreign)
    try:
        configure_logging("INFO", tmp_path / "a")
        configure_logging("WARNING", tmp_path / "b")
        logging.getLogger("engine.test").warning("only in b")

        assert foreign in root.handlers
        assert root.level == logging.WARNING
        assert not (tmp_path / "a" / LOG_FILE_NAME).read_text(encoding="utf-8")
        assert "only in b" in (tmp_path / "b" / LOG_FILE_NAME).read_text(encoding="utf-8")
    finally:
        root.removeHandler(foreign)


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("trace-1", True),
        ("0af7651916cd43dd8448eb211c80319c", True),
        ("web:1/2+3=", True),
        ("has space", False),
        ('quote"', False),
        ("x" * 65, False),
        ("", False),
    ],
)
async def test_request_id_from_the_caller_is_kept_only_when_log_safe(
    client: httpx.AsyncClient, sent: str, kept: bool
) -> None:
    response = await client.get("/api/v1/health", headers={"X-Request-Id": sent})

    echoed = response.headers["x-request-id"]
    if kept:
        assert echoed == sent
    else:
        assert echoed != sent and len(echoed) == 16


@pytest.mark.usefixtures("restore_root_logger")
def test_client_libraries_log_each_request_only_at_debug(tmp_path: Path) -> None:
    chatty = logging.getLogger("httpx")
    before = chatty.level
    try:
        log_file = configure_logging("INFO", tmp_path)
        assert log_file is not None
        chatty.info('HTTP Request: POST http://127.0.0.1:11434/api/chat "HTTP/1.1 200 OK"')
        chatty.warning("a client warning")
        assert [line for line in _log_lines(log_file) if " httpx " in line] == [
            line for line in _log_lines(log_file) if line.endswith("a client warning")
        ]
        configure_logging("DEBUG", tmp_path)
        assert chatty.getEffectiveLevel() == logging.DEBUG
    finally:
        chatty.setLevel(before)


def test_text_lines_read_as_with_the_standard_formatter() -> None:
    from engine.logging_setup import LOG_FORMAT, TextFormatter

    ours, standard = TextFormatter(LOG_FORMAT), logging.Formatter(LOG_FORMAT)
    for created in (1_800_000_000.0015, 1_800_000_000.9999, 1_800_000_001.25, 1_800_000_000.5):
        record = logging.LogRecord("engine.test", logging.INFO, __file__, 1, "line %s", (1,), None)
        record.created, record.msecs = created, (created - int(created)) * 1000
        record.request_id = "r"
        assert ours.format(record) == standard.format(record)
