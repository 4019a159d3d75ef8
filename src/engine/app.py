"""The FastAPI application: lifespan builds the EngineService, routers hang off /api/v1."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from fastapi.telemetry import TelemetryConfig

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
NO_TELEMETRY: TelemetryConfig = {
    "tracing": False,
    "metrics": False,
    "logs": False,
    "operation_spans": False,
}

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


def tune_garbage_collection(settings: Settings) -> None:
    """Once start-up is done: what imports and start-up made lives as long as the process,
    and a full collection would walk all of it every time (the engine's p99 under load was
    mostly such pauses). `gc.freeze()` moves it to a generation never collected; what is
    made later is collected as before. Not under tests, which start many apps in one
    process: each freeze would keep the previous tests' leftovers for good."""
    if settings.environment == "test":
        return
    if settings.gc_gen0_threshold:
        _, older, oldest = gc.get_threshold()
        gc.set_threshold(settings.gc_gen0_threshold, older, oldest)
    if settings.gc_freeze_after_start:
        gc.collect()
        gc.freeze()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = await EngineService.start(settings)
        app.state.engine = engine
        tune_garbage_collection(settings)
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
        telemetry=None if settings.opentelemetry_enabled else NO_TELEMETRY,
    )
    app.state.settings = settings
    install_error_handlers(app)
    app.add_middleware(RequestContextMiddleware)
    for router in ROUTERS:
        app.include_router(router, prefix=API_PREFIX, responses=ERROR_RESPONSES)
    install_web_client(app, settings.web_dist_dir)
    return app
