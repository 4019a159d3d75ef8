"""The model client's HTTP transport (llm/transport.py): keep-alive, streaming, and the same
errors as httpx's own transport, so that failures are classified as before.

Against the scripted LLM (the Ollama protocol, through the engine's factory and gate) and a
small raw TCP server that counts connections and misbehaves on purpose.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
from langchain_core.messages import HumanMessage

from engine.config import Settings
from engine.llm.factory import build_chat_model
from engine.llm.gate import LLMError, LLMFailure, LLMGate
from engine.llm.local_server import free_loopback_port
from engine.llm.transport import KeepAliveTransport
from tests.fakes.llm_server import Reply, ScriptedLLM

QUESTION = [HumanMessage("Сколько дней отпуска положено?")]


def _gate(base_url: str, timeout: float = 2.0) -> LLMGate:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        llm_provider="ollama",
        llm_base_url=base_url,
        llm_model="qwen2.5:7b",
        llm_timeout_seconds=timeout,
    )
    return LLMGate(build_chat_model(settings), max_concurrency=2, timeout=timeout)


def test_the_ollama_client_of_an_http_server_uses_it() -> None:
    def transport_of(base_url: str) -> object:
        model = _gate(base_url).model
        return model._async_client._client._transport  # type: ignore[attr-defined]

    assert isinstance(transport_of("http://127.0.0.1:11434"), KeepAliveTransport)
    # TLS stays with httpx's own transport
    assert not isinstance(transport_of("https://llm.example:443"), KeepAliveTransport)
    plain = Settings(
        _env_file=None,  # type: ignore[call-arg]
        llm_base_url="http://127.0.0.1:11434",
        llm_http_transport="httpx",
    )
    client = build_chat_model(plain)._async_client._client  # type: ignore[attr-defined]
    assert not isinstance(client._transport, KeepAliveTransport)


async def test_streamed_and_whole_answers_through_the_gate(llm: ScriptedLLM) -> None:
    gate = _gate(llm.ollama_base_url)
    answer = "Двадцать восемь календарных дней в году, по статье 115 ТК РФ."
    llm.set_default(Reply.text(answer, chunk_size=4))
    tokens: list[str] = []

    streamed = await gate.complete(QUESTION, on_token=lambda delta, _first: tokens.append(delta))
    whole = await gate.complete(QUESTION)

    assert streamed.content == whole.content == answer
    assert len(tokens) > 5 and "".join(tokens) == answer
    assert llm.requests[-2].stream and not llm.requests[-1].stream


async def test_tokens_are_handed_on_as_the_model_sends_them(llm: ScriptedLLM) -> None:
    gate = _gate(llm.ollama_base_url, timeout=10.0)
    llm.set_default(Reply.text("раз два три четыре", pace=0.3))
    seen: list[tuple[float, str]] = []
    loop = asyncio.get_running_loop()

    reply = await gate.complete(QUESTION, on_token=lambda t, _first: seen.append((loop.time(), t)))

    assert reply.content == "раз два три четыре"
    # the first token was there well before the last one was sent
    assert seen[-1][0] - seen[0][0] > 0.6


@pytest.mark.parametrize(
    ("reply", "failure"),
    [
        (Reply.close_mid_stream("Начинаю отвечать"), LLMFailure.CLOSED_MID_ANSWER),
        (Reply.hang(), LLMFailure.TIMED_OUT),
        (Reply.http_error(500), LLMFailure.SERVER_ERROR),
        (Reply.garbage(), LLMFailure.BAD_OUTPUT),
    ],
    ids=["closed", "hang", "http500", "garbage"],
)
async def test_a_streamed_call_fails_with_the_reason_of_httpx_transport(
    llm: ScriptedLLM, reply: Reply, failure: LLMFailure
) -> None:
    gate = _gate(llm.ollama_base_url, timeout=1.0)
    llm.queue(reply)
    with pytest.raises(LLMError) as raised:
        await gate.complete(QUESTION, on_token=lambda _delta, _first: None)
    assert raised.value.kind is failure, raised.value.detail
    # and the next call on the same client works
    llm.set_default(Reply.text("Снова на связи."))
    assert (
        await gate.complete(QUESTION, on_token=lambda _delta, _first: None)
    ).content == "Снова на связи."


async def test_an_unreachable_server_streamed() -> None:
    gate = _gate(f"http://127.0.0.1:{free_loopback_port()}", timeout=1.0)
    with pytest.raises(LLMError) as raised:
        await gate.complete(QUESTION, on_token=lambda _delta, _first: None)
    assert raised.value.kind is LLMFailure.UNREACHABLE


# --- a raw server that counts connections ------------------------------------------------

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def raw_server(handler: Handler) -> AsyncIterator[tuple[str, list[int]]]:
    """`http://127.0.0.1:<port>` and the list of connections accepted (one entry each)."""
    accepted: list[int] = []

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(1)
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", accepted
    finally:
        server.close()
        await server.wait_closed()


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return head, await reader.readexactly(length)


def ok(body: bytes, *extra: bytes) -> bytes:
    return b"\r\n".join([b"HTTP/1.1 200 OK", b"Content-Length: %d" % len(body), *extra, b"", body])


async def test_one_connection_is_kept_for_consecutive_requests() -> None:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            _, body = await read_request(reader)
            writer.write(ok(body))

    async with raw_server(echo) as (url, accepted):
        client = httpx.AsyncClient(transport=KeepAliveTransport(), timeout=2)
        for n in range(5):
            response = await client.post(url + "/api/chat", content=b"n=%d" % n)
            assert response.status_code == 200 and response.content == b"n=%d" % n
        await client.aclose()
    assert len(accepted) == 1


async def test_a_connection_the_server_closed_while_idle_is_replaced() -> None:
    async def once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        _, body = await read_request(reader)
        writer.write(ok(body))
        await writer.drain()  # then closes: keep-alive was not honoured

    async with raw_server(once) as (url, accepted):
        client = httpx.AsyncClient(transport=KeepAliveTransport(), timeout=2)
        assert (await client.post(url, content=b"first")).content == b"first"
        await asyncio.sleep(0)  # the close may or may not have been seen yet
        assert (await client.post(url, content=b"second")).content == b"second"
        await client.aclose()
    assert len(accepted) == 2


async def test_a_body_that_ends_with_the_connection_and_a_large_one() -> None:
    big = bytes(range(256)) * (3 * 4096 + 7)  # ~3 MiB: reading pauses and resumes

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head, _ = await read_request(reader)
        if b"/until-close" in head:
            writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\npart one, ")
            await writer.drain()
            writer.write(b"part two")
            await writer.drain()
            return
        writer.write(ok(big))
        await writer.drain()

    async with raw_server(serve) as (url, _):
        client = httpx.AsyncClient(transport=KeepAliveTransport(), timeout=5)
        assert (await client.get(url + "/until-close")).content == b"part one, part two"
        async with client.stream("GET", url + "/big") as response:
            received = bytearray()
            async for chunk in response.aiter_raw():
                received += chunk
                await asyncio.sleep(0)  # a slow reader
        assert bytes(received) == big
        await client.aclose()


async def test_errors_are_httpx_errors() -> None:
    async def misbehave(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head, _ = await read_request(reader)
        if b"/silent" in head:
            await asyncio.sleep(5)
        elif b"/half" in head:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part")
            await writer.drain()
        elif b"/nothing" in head:
            pass
        elif b"/garbage" in head:
            writer.write(b"this is not HTTP\r\n\r\n")
            await writer.drain()

    async with raw_server(misbehave) as (url, _):
        client = httpx.AsyncClient(transport=KeepAliveTransport(), timeout=0.5)
        with pytest.raises(httpx.ReadTimeout):
            await client.get(url + "/silent")
        with pytest.raises(httpx.RemoteProtocolError):
            await client.get(url + "/half")
        with pytest.raises(httpx.RemoteProtocolError):
            await client.get(url + "/nothing")
        with pytest.raises(httpx.RemoteProtocolError):
            await client.get(url + "/garbage")
        await client.aclose()
    client = httpx.AsyncClient(transport=KeepAliveTransport(), timeout=0.5)
    with pytest.raises(httpx.ConnectError):
        await client.get(f"http://127.0.0.1:{free_loopback_port()}/")
    with pytest.raises(httpx.UnsupportedProtocol):
        await client.get("https://127.0.0.1:1/")
    await client.aclose()
