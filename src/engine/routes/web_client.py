"""The built web client (`web/dist`) at `/`: static files with a single-page fallback.

Installed as the router's fallback, so it only ever sees requests no API route matched:
unknown `/api/...` paths keep their JSON 404 and a wrong method on an API path keeps its 405.
The folder is looked at on every request, so a client built after start-up is served at once,
and an engine without a built client still starts and says how to build it.
"""

from __future__ import annotations

import posixpath
from pathlib import Path

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

# Vite names everything under assets/ by content hash, so a name never changes meaning.
HASHED_ASSETS_DIR = "assets/"
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"

NOT_BUILT_PAGE = """<!doctype html>
<html lang="ru"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>RuGPT Engine</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 3em auto; line-height: 1.5">
<h1>Веб-клиент не собран</h1>
<p>Движок работает, API доступен по адресу <code>/api/v1</code>. Чтобы открыть веб-клиент,
соберите его (нужен Node.js 20 или новее) и обновите страницу:</p>
<pre>./setup.sh</pre>
<p>или вручную: <code>cd web &amp;&amp; npm ci &amp;&amp; npm run build</code>.</p>
<hr>
<h2 lang="en">The web client is not built</h2>
<p lang="en">The engine is running and its API is at <code>/api/v1</code>. To open the web client,
build it (Node.js 20 or newer) with <code>./setup.sh</code> or
<code>cd web &amp;&amp; npm ci &amp;&amp; npm run build</code>, then reload this page.</p>
</body></html>
"""


class WebClientFallback:
    """ASGI app answering GET/HEAD for paths outside `/api/` from the client's dist folder."""

    def __init__(self, dist_dir: Path, not_found: ASGIApp) -> None:
        self.dist_dir = dist_dir
        self.not_found = not_found
        self.files = StaticFiles(directory=dist_dir, check_dir=False)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD") or _is_api(path):
            await self.not_found(scope, receive, send)
            return
        response = await self._respond(path.lstrip("/"), scope)
        await response(scope, receive, send)

    async def _respond(self, relative: str, scope: Scope) -> Response:
        if not (self.dist_dir / "index.html").is_file():
            return HTMLResponse(
                NOT_BUILT_PAGE, status_code=503, headers={"Cache-Control": REVALIDATE}
            )
        if relative and not relative.endswith("/"):
            try:
                response = await self.files.get_response(relative, scope)
            except HTTPException as exc:
                if exc.status_code != 404:
                    raise
            else:
                if response.status_code < 400:
                    immutable = relative.startswith(HASHED_ASSETS_DIR)
                    response.headers["Cache-Control"] = IMMUTABLE if immutable else REVALIDATE
                    return response
            if not _wants_page(relative, Request(scope)):
                return Response("not found", status_code=404, media_type="text/plain")
        index = await self.files.get_response("index.html", scope)
        index.headers["Cache-Control"] = REVALIDATE
        return index


def _is_api(path: str) -> bool:
    return path == "/api" or path.startswith("/api/")


def _wants_page(relative: str, request: Request) -> bool:
    """A client route (no file extension, or a browser asking for a page), not a lost file."""
    if relative.startswith(HASHED_ASSETS_DIR):
        return False
    has_extension = "." in posixpath.basename(relative)
    return not has_extension or "text/html" in request.headers.get("accept", "")


def install_web_client(app: FastAPI, dist_dir: Path) -> None:
    """Serve the client for every request no API route matched (call after the routers)."""
    app.router.default = WebClientFallback(dist_dir, app.router.default)
