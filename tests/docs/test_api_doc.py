"""docs/api.md matches the routes the engine actually serves (its OpenAPI schema)."""

from __future__ import annotations

import re

import pytest

from engine.app import create_app
from engine.config import Settings
from tests.conftest import TEST_JWT_SECRET
from tests.support.processes import REPO_ROOT

API_DOC = REPO_ROOT / "docs" / "api.md"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
# A documented route is a heading like: ### `POST /api/v1/auth/login`
HEADING = re.compile(rf"^#+ `({'|'.join(METHODS)}) (/api/v1/\S*)`\s*$", re.MULTILINE)


def _schema_routes() -> set[str]:
    app = create_app(Settings(_env_file=None, environment="test", jwt_secret=TEST_JWT_SECRET))
    return {
        f"{method.upper()} {path}"
        for path, operations in app.openapi()["paths"].items()
        for method in operations
        if method.upper() in METHODS
    }


@pytest.fixture(scope="module")
def documented() -> set[str]:
    return {f"{method} {path}" for method, path in HEADING.findall(API_DOC.read_text("utf-8"))}


def test_every_route_of_the_schema_is_documented(documented: set[str]) -> None:
    missing = sorted(_schema_routes() - documented)
    assert not missing, f"add a `### \\`METHOD /path\\`` section to docs/api.md for: {missing}"


def test_every_documented_route_exists(documented: set[str]) -> None:
    stale = sorted(documented - _schema_routes())
    assert not stale, f"docs/api.md documents routes the engine does not serve: {stale}"


def test_every_documented_route_has_a_curl_example() -> None:
    text = API_DOC.read_text("utf-8")
    sections = HEADING.split(text)[1:]  # method, path, body, method, path, body, ...
    without = [
        f"{method} {path}"
        for method, path, body in zip(sections[::3], sections[1::3], sections[2::3], strict=True)
        if "curl " not in body
    ]
    assert not without, f"no curl example under: {without}"


def _events_section() -> str:
    text = API_DOC.read_text("utf-8")
    start = text.index("### `GET /api/v1/chats/{chat_id}/events`")
    return text[start : text.index("\n## ", start)]


def _first_column(section: str, header: str) -> set[str]:
    """The backticked names in the first column of the table whose header row starts so."""
    table = section[section.index(f"| {header} |") :].split("\n\n", 1)[0]
    return set(re.findall(r"^\| `([^`]+)` \|", table, re.MULTILINE))


def test_every_event_type_the_stream_sends_is_documented() -> None:
    from engine.services.chats.events import EventType

    documented = _first_column(_events_section(), "event")
    assert documented == {kind.value for kind in EventType}


def test_every_revocation_reason_is_documented() -> None:
    from engine.models.access import RevocationReason

    documented = _first_column(_events_section(), "reason")
    assert documented == {reason.value for reason in RevocationReason}
