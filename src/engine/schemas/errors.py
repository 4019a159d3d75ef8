"""The error body every handler returns, documented on every route of the API."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class ValidationIssue(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ErrorOut(BaseModel):
    detail: str | list[ValidationIssue]


_ERRORS = {
    400: "malformed request",
    401: "missing, invalid or expired bearer token",
    403: "authenticated, but not allowed",
    404: "no such object in the caller's organization",
    409: "conflicts with the current state",
    413: "request body too large",
    422: "invalid input",
    429: "too many attempts",
    503: "database temporarily unavailable",
}

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut, "description": description} for code, description in _ERRORS.items()
}
