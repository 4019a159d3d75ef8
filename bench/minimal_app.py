"""The start-up baseline: the least a server answering `GET /api/v1/health` from the
database needs (Uvicorn, Starlette, an asyncpg pool). Settings: DATABASE_URL."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    app.state.pool = await asyncpg.create_pool(os.environ["DATABASE_URL"], min_size=2, max_size=10)
    try:
        yield
    finally:
        await app.state.pool.close()


async def health(request: Request) -> JSONResponse:
    ok = await request.app.state.pool.fetchval("SELECT 1") == 1
    return JSONResponse({"status": "ok" if ok else "unavailable"})


app = Starlette(routes=[Route("/api/v1/health", health)], lifespan=lifespan)
