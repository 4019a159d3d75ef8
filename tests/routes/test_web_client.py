"""The built web client served by the real app from a dist folder, next to the API."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest

from engine.config import Settings
from tests.conftest import running_app

INDEX = (
    '<!doctype html><html><body><div id="root"></div>'
    '<script src="/assets/index-Ab12Cd.js"></script></body></html>'
)
BUNDLE = "console.log('клиент');"
CONFIG = 'window.RUGPT_CONFIG = { apiBase: "/api/v1" };'


@pytest.fixture(scope="module")
def dist_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("web")
    (root / "secret.txt").write_text("outside the dist folder")
    dist = root / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text(INDEX, encoding="utf-8")
    (dist / "assets" / "index-Ab12Cd.js").write_text(BUNDLE, encoding="utf-8")
    (dist / "config.js").write_text(CONFIG, encoding="utf-8")
    (dist / "favicon.svg").write_text("<svg/>", encoding="utf-8")
    return dist


@pytest.fixture(scope="module")
async def web(
    make_settings: Callable[..., Settings], dist_dir: Path
) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(make_settings(web_dist_dir=dist_dir)) as (_, client):
        yield client


async def test_root_is_the_client_page_revalidated_every_time(web: httpx.AsyncClient) -> None:
    response = await web.get("/")

    assert response.status_code == 200
    assert response.text == INDEX
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-cache"

    again = await web.get("/", headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304


async def test_hashed_assets_are_cached_for_good(web: httpx.AsyncClient) -> None:
    response = await web.get("/assets/index-Ab12Cd.js")

    assert response.status_code == 200
    assert response.text == BUNDLE
    assert "javascript" in response.headers["content-type"]
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"

    head = await web.head("/assets/index-Ab12Cd.js")
    assert head.status_code == 200 and head.content == b""


async def test_config_and_other_unhashed_files_are_revalidated(web: httpx.AsyncClient) -> None:
    config = await web.get("/config.js")
    assert config.status_code == 200
    assert config.text == CONFIG
    assert config.headers["cache-control"] == "no-cache"

    icon = await web.get("/favicon.svg")
    assert icon.status_code == 200 and icon.headers["cache-control"] == "no-cache"


@pytest.mark.parametrize("path", ["/login", "/chats/0f1e2d", "/calendar/", "/admin/users?page=2"])
async def test_client_routes_fall_back_to_the_page(web: httpx.AsyncClient, path: str) -> None:
    response = await web.get(path, headers={"Accept": "text/html"})

    assert response.status_code == 200
    assert response.text == INDEX
    assert response.headers["cache-control"] == "no-cache"


@pytest.mark.parametrize("path", ["/assets/index-Old999.js", "/missing.png", "/assets/x"])
async def test_a_missing_file_is_a_404_not_the_page(web: httpx.AsyncClient, path: str) -> None:
    response = await web.get(path, headers={"Accept": "*/*"})

    assert response.status_code == 404
    assert response.text != INDEX


async def test_files_outside_the_dist_folder_are_never_served(web: httpx.AsyncClient) -> None:
    for path in ("/../secret.txt", "/assets/..%2f..%2fsecret.txt", "/%2e%2e/secret.txt"):
        response = await web.get(path, headers={"Accept": "*/*"})
        assert "outside the dist folder" not in response.text, path


@pytest.mark.parametrize("path", ["/api", "/api/", "/api/v1", "/api/v1/nope", "/api/v2/chats"])
async def test_unknown_api_paths_stay_json_404(web: httpx.AsyncClient, path: str) -> None:
    response = await web.get(path, headers={"Accept": "text/html"})

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert "detail" in response.json()


async def test_the_api_itself_is_untouched(web: httpx.AsyncClient) -> None:
    health = await web.get("/api/v1/health")
    assert health.status_code in (200, 503) and "database" in health.json()

    wrong_method = await web.delete("/api/v1/health")
    assert wrong_method.status_code == 405 and "detail" in wrong_method.json()

    posted = await web.post("/login", json={})
    assert posted.status_code == 404 and "detail" in posted.json()


async def test_without_a_built_client_the_engine_says_how_to_build_it(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    async with running_app(make_settings(web_dist_dir=tmp_path / "absent")) as (_, client):
        page = await client.get("/")
        route = await client.get("/chats/1", headers={"Accept": "text/html"})
        health = await client.get("/api/v1/health")

    assert page.status_code == 503
    assert page.headers["content-type"].startswith("text/html")
    assert "Веб-клиент не собран" in page.text and "not built" in page.text
    assert "npm run build" in page.text and "./setup.sh" in page.text
    assert route.text == page.text
    assert health.status_code in (200, 503) and "database" in health.json()
