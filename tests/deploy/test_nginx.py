"""deploy/nginx/rugpt.conf in the real nginx, in front of the live engine (both real processes).

Only /api/v1/web/* reaches the engine, mapped to its /api/v1/*; nginx itself serves the built
web client (static files, single-page fallback, its own /config.js); any other API path, any
ambiguous spelling of a path and any client but the allowed one stay in nginx.
"""

from __future__ import annotations

import re
import secrets
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from engine.cli import KEEP_ALIVE_SECONDS
from engine.config import Settings
from engine.middleware import MAX_BODY_BYTES
from engine.services.chats.chat_stream import PING_SECONDS
from tests.conftest import SYSTEM_ADMIN_PASSWORD
from tests.deploy.conftest import engine_settings
from tests.support.database import create_database, drop_database
from tests.support.nginx import SITE_CONF, NginxProcess, ensure_nginx, start_front
from tests.support.processes import EngineProcess, engine_env, running_engine, wait_until
from tests.support.rawhttp import RawResponse, read_until, request
from tests.support.upstream import StreamingUpstream

# Paths nginx must answer itself with 404: other API prefixes, and the prefix spelled in ways
# that could mean something else once decoded or normalised.
OTHER_PREFIXES = [
    "/api",
    "/api/",
    "/api/v1/health",
    "/api/v1/openapi.json",
    "/api/v1/docs",
    "/api/v1/auth/me",
    "/api/v2/web/health",
    "/api/v1/web",
    "/api/v1/webhealth",
    "/API/v1/web/health",
    "/api/v1/Web/health",
    "/Api/V1/health",
]
# Pages of the web client: nginx answers them with its index.html, never with the engine.
CLIENT_PAGES = ["/", "/health", "/web/health", "/login", "/chats/42", "/calendar?view=month"]
INDEX_HTML = '<!doctype html><div id="root"></div><script src="/assets/index-Ab12Cd.js"></script>'
BUNDLE = "console.log('bundle');"
PATH_TRICKS = [
    "/api/v1/web/../health",
    "/api/v1/web/../../api/v1/health",
    "/api/v1/web/../web/health",
    "/api/v1/web/./health",
    "/api/v1/web/.",
    "/api/v1/web/..",
    "/api/v1/web/a/../../x",
    "/./api/v1/web/health",
    "//api/v1/health",
    "//api/v1/web/health",
    "/api/v1/web//health",
    "/api/v1//web/health",
    "/api/v1/web/..%2Fhealth",
    "/api/v1/web/..%2fhealth",
    "/api/v1/web%2Fhealth",
    "/api%2Fv1%2Fweb%2Fhealth",
    "/api/v1/web/a%2Fb",
    "/api/v1/web/%2e%2e/health",
    "/api/v1/web/%2E%2E%2Fhealth",
    "/api/v1/web/%2e/health",
    "/api/v1/web/..%5Chealth",
    "/api/v1/web/..\\health",
    "/api/v1/web/a/..%2f..%2f..%2fhealth",
    "/api/v1/web/../../../etc/passwd",
    "http://evil.example/api/v1/health",
]


@pytest.fixture(scope="module")
def nginx_binary() -> str:
    """Installed from the Debian packages when missing (skipped only without apt-get)."""
    return ensure_nginx()


@pytest.fixture(scope="module")
async def engine_database_url(pg_admin_dsn: str) -> AsyncIterator[str]:
    dsn = await create_database(pg_admin_dsn, prefix="rugpt_nginx")
    yield dsn
    await drop_database(pg_admin_dsn, dsn)


@pytest.fixture(scope="module")
def engine_workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("engine")


@pytest.fixture(scope="module")
def live_engine(engine_database_url: str, engine_workdir: Path) -> Iterator[EngineProcess]:
    settings = engine_settings(
        engine_database_url, engine_workdir, logs_dir=engine_workdir / "logs"
    )
    with running_engine(engine_env(**settings), engine_workdir) as engine:
        yield engine


@pytest.fixture(scope="module")
def web_dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A built client as Vite lays it out; its own config.js points at the local API."""
    dist = tmp_path_factory.mktemp("dist")
    (dist / "assets").mkdir()
    (dist / "index.html").write_text(INDEX_HTML)
    (dist / "assets" / "index-Ab12Cd.js").write_text(BUNDLE)
    (dist / "config.js").write_text('window.RUGPT_CONFIG = { apiBase: "/api/v1" };')
    (dist / "favicon.svg").write_text("<svg/>")
    dist.chmod(0o755)
    return dist


@pytest.fixture(scope="module")
def front(
    nginx_binary: str,
    live_engine: EngineProcess,
    web_dist: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[NginxProcess]:
    nginx = start_front(
        nginx_binary,
        tmp_path_factory.mktemp("nginx"),
        live_engine.port,
        allow="127.0.0.1",
        web_root=web_dist,
    )
    yield nginx
    nginx.stop()


@pytest.fixture(scope="module")
def stand_in(
    nginx_binary: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[StreamingUpstream, NginxProcess]]:
    """The same site in front of a recording stand-in, to see exactly what nginx sends on."""
    with StreamingUpstream() as upstream:
        nginx = start_front(
            nginx_binary, tmp_path_factory.mktemp("nginx-stand-in"), upstream.port, "127.0.0.1"
        )
        try:
            yield upstream, nginx
        finally:
            nginx.stop()


def test_web_health_reaches_the_engine(front: NginxProcess) -> None:
    response = request(front.port, "/api/v1/web/health")

    assert response.status == 200, response.body
    assert response.from_engine
    report = response.json()
    assert report["database"]["ok"] is True
    assert report["status"] in {"ok", "degraded"}  # no LLM server in this test


def test_login_and_bearer_calls_pass_through(front: NginxProcess) -> None:
    login = request(
        front.port,
        "/api/v1/web/auth/login",
        method="POST",
        headers={"Content-Type": "application/json"},
        body=(
            b'{"login": "admin", "password": "%s", "organization": "system"}'
            % SYSTEM_ADMIN_PASSWORD.encode()
        ),
    )
    assert login.status == 200, login.body
    token = login.json()["access_token"]

    me = request(front.port, "/api/v1/web/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status == 200, me.body
    assert me.json()["username"] == "admin"

    anonymous = request(front.port, "/api/v1/web/auth/me")
    assert anonymous.status == 401 and anonymous.from_engine


@pytest.mark.parametrize("path", OTHER_PREFIXES)
def test_other_prefixes_are_404_from_nginx(front: NginxProcess, path: str) -> None:
    for method in ("GET", "POST"):
        response = request(front.port, path, method=method, body=b"" if method == "POST" else None)
        assert response.status == 404, (method, path, response.status)
        assert not response.from_engine, (method, path)


@pytest.mark.parametrize("path", CLIENT_PAGES)
def test_client_pages_are_the_client_from_nginx(front: NginxProcess, path: str) -> None:
    page = request(front.port, path)
    assert page.status == 200, (path, page.status)
    assert page.body.decode() == INDEX_HTML
    assert page.headers["cache-control"] == "no-cache"
    assert not page.from_engine, path

    posted = request(front.port, path, method="POST", body=b"")
    assert posted.status == 403, (path, posted.status)
    assert not posted.from_engine, path


def test_client_files_are_served_with_their_cache_rules(front: NginxProcess) -> None:
    bundle = request(front.port, "/assets/index-Ab12Cd.js")
    assert bundle.status == 200 and bundle.body.decode() == BUNDLE
    assert "javascript" in bundle.headers["content-type"]
    assert bundle.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert not bundle.from_engine

    icon = request(front.port, "/favicon.svg")
    assert icon.status == 200 and icon.body == b"<svg/>"

    missing = request(front.port, "/assets/index-Old999.js")
    assert missing.status == 404 and not missing.from_engine


def test_config_js_points_the_client_at_the_published_prefix(front: NginxProcess) -> None:
    config = request(front.port, "/config.js")

    assert config.status == 200
    assert config.body.decode().strip() == 'window.RUGPT_CONFIG = { apiBase: "/api/v1/web" };'
    assert config.headers["content-type"].startswith("application/javascript")
    assert config.headers["cache-control"] == "no-cache"
    assert not config.from_engine


@pytest.mark.parametrize("path", PATH_TRICKS)
def test_path_tricks_do_not_escape_the_prefix(front: NginxProcess, path: str) -> None:
    response = request(front.port, path)

    assert response.status == 404, (path, response.status, response.body[:200])
    assert not response.from_engine, path


def test_what_nginx_sends_upstream_is_the_client_path_without_web(
    stand_in: tuple[StreamingUpstream, NginxProcess],
) -> None:
    upstream, nginx = stand_in
    upstream.request_targets.clear()
    for path in [*OTHER_PREFIXES, *PATH_TRICKS]:
        assert request(nginx.port, path).status == 404, path
    for path in [*CLIENT_PAGES, "/config.js", "/assets/x.js"]:
        request(nginx.port, path)
    assert upstream.request_targets == [], "refused paths must not reach the upstream"

    passed = {
        "/api/v1/web/health": "/api/v1/health",
        "/api/v1/web/users?q=a%2F..%2Fb&limit=5": "/api/v1/users?q=a%2F..%2Fb&limit=5",
        "/api/v1/web/roles/lawyer": "/api/v1/roles/lawyer",
        # a literal "%2F" (sent as %252F) stays one segment all the way
        "/api/v1/web/roles/a%252Fb": "/api/v1/roles/a%252Fb",
    }
    for path, expected in passed.items():
        response = request(nginx.port, path)
        assert response.status == 200, path
        assert response.json() == {"upstream_target": expected}
    assert upstream.request_targets == list(passed.values())


def test_request_bodies_are_limited_like_the_engine(front: NginxProcess) -> None:
    oversized = b"{" + b" " * (MAX_BODY_BYTES + 1024) + b"}"
    response = request(
        front.port,
        "/api/v1/web/auth/login",
        method="POST",
        headers={"Content-Type": "application/json"},
        body=oversized,
    )

    assert response.status == 413
    assert not response.from_engine


def test_only_the_allowed_client_address_gets_in(front: NginxProcess) -> None:
    response = request(front.port, "/api/v1/web/health", source="127.0.0.2")

    assert response.status == 403
    assert not response.from_engine


def test_request_id_is_the_same_in_nginx_and_engine_logs(
    front: NginxProcess, engine_workdir: Path
) -> None:
    given = f"trace-{secrets.token_hex(6)}"
    response = request(front.port, "/api/v1/web/health", headers={"X-Request-Id": given})
    assert response.headers["x-request-id"] == given

    generated = request(front.port, "/api/v1/web/health").headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated), "nginx's $request_id reaches the engine"

    engine_log = engine_workdir / "logs" / "engine.log"
    access_log = front.workdir / "logs" / "rugpt.access.log"
    for log_file in (engine_log, access_log):
        wait_until(
            lambda log_file=log_file: _mentions(log_file, f"req={given}", f"req={generated}"),
            timeout=10,
            what=f"both request ids in {log_file.name}",
        )
    engine_lines = [line for line in engine_log.read_text().splitlines() if given in line]
    assert any("GET /api/v1/health" in line for line in engine_lines), engine_lines


def _mentions(log_file: Path, *needles: str) -> bool:
    text = log_file.read_text(errors="replace") if log_file.exists() else ""
    return all(needle in text for needle in needles)


def test_sse_passes_unbuffered(stand_in: tuple[StreamingUpstream, NginxProcess]) -> None:
    upstream, nginx = stand_in
    with socket.create_connection(("127.0.0.1", nginx.port), timeout=10) as sock:
        sock.sendall(
            b"GET /api/v1/web/chats/c1/events?after_id=5 HTTP/1.1\r\nHost: engine\r\n"
            b"Accept: text/event-stream\r\n\r\n"
        )
        # The upstream holds its second event until released: the first one must already be
        # here, so nginx forwarded it without waiting for a buffer to fill or the stream to end.
        received = read_until(sock, b"data: 1", timeout=10)
        assert not upstream.release.is_set()
        head = received.split(b"\r\n\r\n", 1)[0].lower()
        assert head.startswith(b"http/1.1 200")
        assert b"content-type: text/event-stream" in head

        upstream.release.set()
        received = read_until(sock, b"\r\n0\r\n\r\n", timeout=10, seen=received)
    assert b"data: 2" in received
    # the stream's own location maps the path like the prefix does, query string included
    assert "/api/v1/chats/c1/events?after_id=5" in upstream.request_targets


async def test_chat_events_stream_through_nginx(front: NginxProcess) -> None:
    """The engine's own SSE endpoint, end to end through nginx."""
    base = f"http://127.0.0.1:{front.port}/api/v1/web"
    async with httpx.AsyncClient(base_url=base, timeout=15) as client:
        schema = (await client.get("/openapi.json")).json()
        if not any(path.endswith("/events") for path in schema["paths"]):
            pytest.skip("chat events endpoint not present yet")
        token, chat_id = await _chat_with_member(client)
        headers = {"Authorization": f"Bearer {token}"}
        marker = f"through-nginx-{secrets.token_hex(4)}"
        with socket.create_connection(("127.0.0.1", front.port), timeout=15) as sock:
            sock.sendall(
                f"GET /api/v1/web/chats/{chat_id}/events HTTP/1.1\r\nHost: engine\r\n"
                f"Authorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n".encode()
            )
            received = read_until(sock, b"\r\n\r\n", timeout=10)
            assert received.lower().startswith(b"http/1.1 200"), received
            assert b"text/event-stream" in received.lower()
            posted = await client.post(
                f"/chats/{chat_id}/messages", headers=headers, json={"content": marker}
            )
            assert posted.status_code in {200, 201}, posted.text
            # The stream is still open: the event can only be here if nginx did not buffer it.
            read_until(sock, marker.encode(), timeout=10, seen=received)


async def _chat_with_member(client: httpx.AsyncClient) -> tuple[str, str]:
    """An organization admin's token and a chat of theirs, made through the published API."""
    login = await client.post(
        "/auth/login",
        json={"login": "admin", "password": SYSTEM_ADMIN_PASSWORD, "organization": "system"},
    )
    root = {"Authorization": f"Bearer {login.json()['access_token']}"}
    slug = f"sse-{secrets.token_hex(4)}"
    created = await client.post(
        "/organizations",
        headers=root,
        json={"slug": slug, "name": slug, "admin": {"username": "boss", "password": "boss-pass-1"}},
    )
    assert created.status_code == 201, created.text
    boss = await client.post(
        "/auth/login", json={"login": "boss", "password": "boss-pass-1", "organization": slug}
    )
    token = boss.json()["access_token"]
    chat = await client.post(
        "/chats",
        headers={"Authorization": f"Bearer {token}"},
        json={"kind": "group", "title": "nginx SSE"},
    )
    assert chat.status_code == 201, chat.text
    return token, chat.json()["id"]


def test_two_replicas_share_the_requests_and_cover_for_each_other(
    nginx_binary: str,
    live_engine: EngineProcess,
    engine_database_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Two engine replicas on one database behind the shipped `upstream`: both serve, and
    when one stops every request (a POST too) still gets its answer from the other."""
    workdir = tmp_path_factory.mktemp("replica-2")
    with running_engine(
        engine_env(**engine_settings(engine_database_url, workdir)), workdir
    ) as second:
        nginx = start_front(
            nginx_binary,
            tmp_path_factory.mktemp("nginx-replicas"),
            [live_engine.port, second.port],
            allow="127.0.0.1",
        )
        access_log = nginx.workdir / "logs" / "rugpt.access.log"
        try:
            for _ in range(6):
                response = request(nginx.port, "/api/v1/web/health")
                assert response.status == 200 and response.from_engine
            wait_until(
                lambda: {live_engine.port, second.port} <= _upstream_ports(access_log),
                timeout=10,
                what="requests reaching both replicas",
            )

            second.stop()
            served_before = len(_upstream_fields(access_log))
            for _ in range(6):
                response = request(nginx.port, "/api/v1/web/health")
                assert response.status == 200 and response.from_engine, response.status
                assert _login(nginx.port).status == 200
            wait_until(
                lambda: len(_upstream_fields(access_log)) >= served_before + 12,
                timeout=10,
                what="the access log lines of the requests after the stop",
            )
            # every answer after the stop came from the replica still running
            answered_by = [f.split(", ")[-1] for f in _upstream_fields(access_log)[served_before:]]
            assert set(answered_by) == {f"127.0.0.1:{live_engine.port}"}
        finally:
            nginx.stop()


def _login(port: int) -> RawResponse:
    return request(
        port,
        "/api/v1/web/auth/login",
        method="POST",
        headers={"Content-Type": "application/json"},
        body=(
            b'{"login": "admin", "password": "%s", "organization": "system"}'
            % SYSTEM_ADMIN_PASSWORD.encode()
        ),
    )


def _upstream_fields(access_log: Path) -> list[str]:
    """`$upstream_addr` of each logged request ("a, b" when nginx moved on to a second)."""
    text = access_log.read_text(errors="replace") if access_log.exists() else ""
    return re.findall(r" upstream=(.+?) rt=", text)


def _upstream_ports(access_log: Path) -> set[int]:
    return {
        int(address.rsplit(":", 1)[1])
        for field in _upstream_fields(access_log)
        for address in field.split(", ")
        if ":" in address
    }


def test_shipped_limits_agree_with_the_engine() -> None:
    site = SITE_CONF.read_text(encoding="utf-8")

    def directive(name: str) -> list[str]:
        return re.findall(rf"^\s*{name}\s+([^;]+);", site, flags=re.MULTILINE)

    assert directive("client_max_body_size") == [f"{MAX_BODY_BYTES // (1024 * 1024)}m"]
    assert directive("proxy_buffering") == ["off"]
    llm_timeout = Settings.model_fields["llm_timeout_seconds"].default
    # the API as a whole, then the event stream, which pings far more often than this
    assert directive("proxy_read_timeout") == [f"{llm_timeout:.0f}s", "3600s"]
    assert 3600 > 10 * PING_SECONDS
    upstream = re.search(r"upstream rugpt_engine \{(.*?)\}", site, flags=re.DOTALL)
    assert upstream is not None
    assert re.search(r"^\s*least_conn;", upstream.group(1), flags=re.MULTILINE)
    keepalive = re.search(r"keepalive_timeout\s+(\d+)s;", upstream.group(1))
    assert keepalive is not None
    assert int(keepalive.group(1)) < KEEP_ALIVE_SECONDS, "nginx must drop idle links first"
