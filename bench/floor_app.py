"""The floors of the write and read paths: the least an HTTP server storing a posted message,
or answering a page of a chat, does.

A bare Starlette app served like the engine (`rugpt serve`'s Uvicorn settings: one worker,
uvloop + httptools, the same keep-alive, no server header), an asyncpg pool sized and
configured like the engine's (DB_POOL_MIN/DB_POOL_MAX, a reset hook that sends nothing),
and per `POST /api/v1/chats/{chat_id}/messages` one `INSERT` of the row, answered 201 with
its id. No authentication, no validation, no events: what any HTTP service pays.

    DATABASE_URL=... PORT=... DB_POOL_MIN=2 DB_POOL_MAX=10 python -m bench.floor_app

The author and organization come in headers (`x-author`, `x-org`), so the client sends
about as many bytes as it sends the engine.

`GET /api/v1/chats/{chat_id}/messages?limit=50` answers the newest page with the engine's
own page query (`MessageStorage.page`), each row a JSON object of its columns: one query,
JSON, HTTP; no authentication, no membership check, no validation.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from uuid import UUID

import asyncpg
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

PAGE = (
    "SELECT id, org_id, chat_id, author_id, role_code, kind, content, reply_to_id, ai_status, "
    "ai_error, ai_validated, validation, validated_by, validated_at, meta, is_edited, "
    "is_deleted, created_at, updated_at FROM messages "
    "WHERE org_id = $1 AND chat_id = $2 AND NOT is_deleted ORDER BY id DESC LIMIT $3"
)
INSERT = (
    "INSERT INTO messages (org_id, chat_id, author_id, kind, content) "
    "VALUES ($1, $2, $3, 'user', $4) RETURNING id"
)


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Pool reset hook that sends nothing, as the engine's."""


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    app.state.pool = await asyncpg.create_pool(
        os.environ["DATABASE_URL"],
        min_size=int(os.environ.get("DB_POOL_MIN", "2")),
        max_size=int(os.environ.get("DB_POOL_MAX", "10")),
        command_timeout=30.0,
        reset=_keep_session,
        max_inactive_connection_lifetime=300,
    )
    try:
        yield
    finally:
        await app.state.pool.close()


async def health(request: Request) -> JSONResponse:
    ok = await request.app.state.pool.fetchval("SELECT 1") == 1
    return JSONResponse({"status": "ok" if ok else "unavailable"})


async def post_message(request: Request) -> Response:
    body = json.loads(await request.body())
    message_id = await request.app.state.pool.fetchval(
        INSERT,
        UUID(request.headers["x-org"]),
        UUID(request.path_params["chat_id"]),
        UUID(request.headers["x-author"]),
        body["content"],
    )
    return JSONResponse({"id": message_id}, status_code=201)


async def get_page(request: Request) -> Response:
    limit = int(request.query_params.get("limit", "50"))
    rows = await request.app.state.pool.fetch(
        PAGE, UUID(request.headers["x-org"]), UUID(request.path_params["chat_id"]), limit
    )
    items = [dict(row) for row in rows]
    next_before = items[-1]["id"] if len(items) == limit else None
    body = json.dumps({"items": items, "next_before_id": next_before}, default=str)
    return Response(body, media_type="application/json")


app = Starlette(
    routes=[
        Route("/api/v1/health", health),
        Route("/api/v1/chats/{chat_id}/messages", post_message, methods=["POST"]),
        Route("/api/v1/chats/{chat_id}/messages", get_page, methods=["GET"]),
    ],
    lifespan=lifespan,
)


def main() -> None:
    import uvicorn

    uvicorn.run(
        app,
        host=os.environ.get("HOST", "127.0.0.1"),
        port=int(os.environ["PORT"]),
        log_config=None,
        proxy_headers=True,
        timeout_keep_alive=75,
        timeout_graceful_shutdown=10,
        server_header=False,
    )


if __name__ == "__main__":
    main()
