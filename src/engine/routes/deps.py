"""FastAPI dependencies: the engine, the current user, pagination."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from engine.errors import Unauthorized
from engine.models.auth import TokenClaims
from engine.models.user import User
from engine.services.engine import EngineService
from engine.services.identity.access import Caller

_bearer = HTTPBearer(auto_error=False)

MAX_PAGE_SIZE = 200


async def get_engine(request: Request) -> EngineService:
    engine: EngineService = request.app.state.engine
    return engine


Engine = Annotated[EngineService, Depends(get_engine)]


async def get_current_user(
    engine: Engine,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("missing bearer token")
    return await engine.auth.authenticate(credentials.credentials)


CurrentUser = Annotated[User, Depends(get_current_user)]


async def get_caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    """As get_current_user, for paths whose statement checks the account itself: the token
    is verified here, the account is not read (`Caller`). The engine is taken from the app
    directly: one dependency less to solve on the busiest paths."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("missing bearer token")
    engine: EngineService = request.app.state.engine
    return engine.auth.caller(credentials.credentials)


TokenCaller = Annotated[Caller, Depends(get_caller)]


async def get_current_session(
    engine: Engine,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> tuple[User, TokenClaims]:
    """The current user with their access token's claims (for what outlives the request)."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("missing bearer token")
    return await engine.auth.authenticate_session(credentials.credentials)


CurrentSession = Annotated[tuple[User, TokenClaims], Depends(get_current_session)]


class Page:
    def __init__(self, limit: int = 50, offset: int = 0) -> None:
        self.limit = limit
        self.offset = offset


async def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Page:
    return Page(limit, offset)


# Dependencies are `async def`: FastAPI runs a plain `def` dependency (or a class) in its
# thread pool, a thread hop per request (tests/routes/test_dependencies.py keeps it so).
PageParams = Annotated[Page, Depends(page_params)]


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"
