"""The FastAPI application: lifespan builds the EngineService, routers hang off /api/v1."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from engine import __version__
from engine.config import Settings, get_settings
from engine.errors import install_error_handlers
from engine.middleware import RequestContextMiddleware
from engine.routes import (
    audit,
    auth,
    calendar,
    chats,
    documents,
    health,
    notifications,
    organizations,
    proposals,
    roles,
    users,
)
from engine.routes.web_client import install_web_client
from engine.schemas.errors import ERROR_RESPONSES
from engine.services.engine import EngineService

API_PREFIX = "/api/v1"

# FastAPI tries routes in this order, one by one, on every request: chats (messages, the
# busiest paths) come first. The prefixes do not overlap, so the order changes nothing else.
ROUTERS: list[APIRouter] = [
    chats.router,
    auth.router,
    organizations.router,
    users.router,
    roles.router,
    documents.router,
    calendar.router,
    notifications.router,
    proposals.router,
    audit.router,
    health.router,
]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = await EngineService.start(settings)
        app.state.engine = engine
        try:
            yield
        finally:
            await engine.close()

    app = FastAPI(
        title="RuGPT Engine",
        version=__version__,
        lifespan=lifespan,
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
    )
    app.state.settings = settings
    install_error_handlers(app)
    app.add_middleware(RequestContextMiddleware)
    for router in ROUTERS:
        app.include_router(router, prefix=API_PREFIX, responses=ERROR_RESPONSES)
    install_web_client(app, settings.web_dist_dir)
    return app
