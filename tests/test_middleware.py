"""The body middleware: JSON nested deeper than the limit is refused before any route parses
it, on every route, including the Telegram webhook that reads its own body."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import httpx
import pytest

from engine.middleware import MAX_JSON_DEPTH, TOO_DEEP, NestingGauge
from tests.support.api import Api, create_chat
from tests.support.stack import Stack, message_update


def deepest(body: bytes, chunk_size: int) -> bool:
    gauge = NestingGauge()
    return any(
        gauge.too_deep(body[i : i + chunk_size]) for i in range(0, max(len(body), 1), chunk_size)
    )


def nested(depth: int, inner: bytes = b"1") -> bytes:
    return b'{"a": ' + b"[" * (depth - 1) + inner + b"]" * (depth - 1) + b"}"


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 7, 64, 1 << 20])
def test_gauge_counts_depth_outside_strings_across_chunks(chunk_size: int) -> None:
    assert not deepest(nested(MAX_JSON_DEPTH), chunk_size)
    assert deepest(nested(MAX_JSON_DEPTH + 1), chunk_size)
    # brackets inside strings, escaped quotes and backslashes do not count
    text = b'"[[[{{{ \\" [[[ \\\\" '
    assert not deepest(b'{"a": [' + text * 50 + b"]}", chunk_size)
    assert not deepest(nested(MAX_JSON_DEPTH, b'"\\"' + b"[" * 100 + b'"'), chunk_size)
    # after an escaped backslash the quote closes the string: the brackets after it count
    tricky = b'{"a": "x\\\\", "b": ' + b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH + b"}"
    assert deepest(tricky, chunk_size)
    # many shallow brackets are fine
    wide = b"[" + b"[1]," * 5000 + b"[1]]"
    assert not deepest(wide, chunk_size)


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 100_000])
async def test_deep_json_is_a_400_on_a_body_route(
    api: Api, client: httpx.AsyncClient, depth: int
) -> None:
    org = await api.create_org(members=1)
    chat = await create_chat(client, org.members[0])
    url = f"/api/v1/chats/{chat['id']}/messages"
    headers = {**org.members[0].headers, "content-type": "application/json"}

    async def chunked() -> AsyncIterator[bytes]:
        body = nested(depth)
        for start in range(0, len(body), 4096):
            yield body[start : start + 4096]

    for content in (nested(depth), chunked()):
        response = await client.post(url, headers=headers, content=content)
        assert response.status_code == 400, response.text
        assert response.json() == {"detail": TOO_DEEP}
    # at the limit the body is parsed (and refused for its shape, not its depth)
    shallow = await client.post(url, headers=headers, content=nested(MAX_JSON_DEPTH))
    assert shallow.status_code == 422
    text = {"content": "[" * 1000 + "{" * 1000}
    assert (await client.post(url, headers=headers, json=text)).status_code == 201


async def test_deep_json_to_the_telegram_webhook_is_a_400(stack: Stack) -> None:
    response = await stack.webhook(
        b'{"update_id": 1, "message": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    )
    assert response.status_code == 400 and response.json() == {"detail": TOO_DEEP}
    fine = await stack.webhook(message_update(2, 4242, "[" * 500))
    assert fine.status_code == 200


@pytest.mark.parametrize(
    "update",
    [
        message_update(71, 5151, "привет\x00"),
        {
            **message_update(72, 5152, "/stop"),
            "message": {
                **message_update(72, 5152, "/stop")["message"],
                "chat": {"id": "51\x0052", "type": "private"},
            },
        },
    ],
)
async def test_telegram_update_with_a_nul_is_acknowledged_and_refused(
    stack: Stack, caplog: pytest.LogCaptureFixture, update: dict[str, object]
) -> None:
    with caplog.at_level(logging.INFO):
        response = await stack.webhook(update)
        await stack.engine.telegram.drain()
    assert response.status_code == 200
    refused = [r for r in caplog.records if "refused" in r.getMessage()]
    assert refused and refused[0].levelno == logging.WARNING
    assert str(update["update_id"]) in refused[0].getMessage()
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
