"""One error base class that carries its HTTP status; handlers turn it into `{"detail": ...}`."""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)


class EngineError(Exception):
    status_code = 400
    default_detail = "bad request"

    def __init__(self, detail: str | None = None, *, headers: dict[str, str] | None = None):
        self.detail = detail or self.default_detail
        self.headers = headers
        super().__init__(self.detail)


class BadRequest(EngineError):
    status_code = 400


class Unauthorized(EngineError):
    status_code = 401
    default_detail = "not authenticated"

    def __init__(self, detail: str | None = None):
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(EngineError):
    status_code = 403
    default_detail = "not allowed"


class NotFound(EngineError):
    status_code = 404
    default_detail = "not found"


class Conflict(EngineError):
    status_code = 409
    default_detail = "conflict"


class Unprocessable(EngineError):
    status_code = 422
    default_detail = "invalid input"


class RateLimited(EngineError):
    status_code = 429
    default_detail = "too many requests"

    def __init__(self, detail: str | None = None, *, retry_after: int = 60):
        super().__init__(detail, headers={"Retry-After": str(max(1, retry_after))})


class ServiceUnavailable(EngineError):
    status_code = 503
    default_detail = "service temporarily unavailable"


DB_UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (
    OSError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.ConnectionFailureError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.InterfaceError,
    # a session the server ended mid-operation (restart, failover) can leave the pooled
    # connection's protocol half-way: "cannot switch to state ..."
    asyncpg.exceptions.InternalClientError,
    TimeoutError,
)


def _clean_validation_errors(errors: Any) -> list[dict[str, Any]]:
    """Keep only JSON-safe parts: inputs may hold invalid bytes or huge payloads."""
    cleaned = []
    for error in errors:
        cleaned.append(
            {
                "loc": [str(part) if not isinstance(part, int) else part for part in error["loc"]],
                "msg": str(error.get("msg", "invalid value")),
                "type": str(error.get("type", "value_error")),
            }
        )
    return cleaned


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(EngineError)
    async def _engine_error(_: Request, exc: EngineError) -> JSONResponse:
        return JSONResponse(
            {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _clean_validation_errors(exc.errors())}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if exc.status_code != 404 or exc.detail != "Not Found" else "not found"
        return JSONResponse(
            {"detail": detail}, status_code=exc.status_code, headers=getattr(exc, "headers", None)
        )

    @app.exception_handler(asyncpg.exceptions.DataError)
    async def _data_error(_: Request, exc: asyncpg.exceptions.DataError) -> JSONResponse:
        return JSONResponse({"detail": "invalid value"}, status_code=422)

    async def _db_unavailable(request: Request, exc: Exception) -> JSONResponse:
        log.warning("database unavailable during %s %s: %r", request.method, request.url.path, exc)
        return JSONResponse(
            {"detail": "database temporarily unavailable"},
            status_code=503,
            headers={"Retry-After": "2"},
        )

    for error_class in DB_UNAVAILABLE_ERRORS:
        app.add_exception_handler(error_class, _db_unavailable)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error during %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "internal error"}, status_code=500)
