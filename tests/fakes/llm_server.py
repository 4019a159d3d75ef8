"""`ScriptedLLM`: a scripted fake LLM server speaking the Ollama and OpenAI chat APIs.

One real HTTP server on 127.0.0.1 serves both protocols, so the real clients
(`ollama` / `langchain_ollama.ChatOllama`, `openai` / `langchain_openai.ChatOpenAI`) run
end to end, including streaming, tool calls, HTTP errors, timeouts and dropped connections.

    async with ScriptedLLM() as llm:
        llm.add_rule("погода", Reply.tool_call("get_weather", {"city": "Москва"}))
        llm.queue(Reply.text("Привет!", delay=0.2))
        chat = ChatOllama(base_url=llm.ollama_base_url, model="qwen2.5:7b")

Reply selection per chat request: the first matching, non-exhausted rule; else the FIFO
queue; else the default (`"Ответ: " + <last user message>` unless `set_default` was used).
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from ._uvicorn import DropConnection, UvicornRunner

Message = dict[str, str]
"""A normalized chat message: {"role": ..., "content": <plain text>}."""
Matcher = str | Callable[[list[Message]], bool]
ReplyFactory = Callable[[list[Message]], "Reply | str"]


@dataclass(frozen=True)
class Reply:
    """What the fake model answers to one request. Build it with the classmethods."""

    kind: str  # text | tool_calls | http_error | hang | garbage | close_mid_stream
    content: str = ""
    calls: tuple[tuple[str, dict[str, Any] | str], ...] = ()
    delay: float = 0.0
    chunk_size: int | None = None
    status: int = 200
    body: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    pace: float = 0.0

    @classmethod
    def text(
        cls,
        content: str,
        *,
        delay: float = 0.0,
        chunk_size: int | None = None,
        pace: float = 0.0,
    ) -> Reply:
        """Plain answer. Streamed word by word, or in `chunk_size`-character pieces; with
        `pace`, that many seconds pass between streamed pieces (a model typing)."""
        return cls("text", content=content, delay=delay, chunk_size=chunk_size, pace=pace)

    @classmethod
    def tool_call(cls, name: str, args: dict[str, Any], *, delay: float = 0.0) -> Reply:
        return cls.tool_calls([(name, args)], delay=delay)

    @classmethod
    def tool_calls(
        cls,
        calls: Iterable[tuple[str, dict[str, Any]]],
        *,
        content: str = "",
        delay: float = 0.0,
    ) -> Reply:
        return cls("tool_calls", content=content, calls=tuple(calls), delay=delay)

    @classmethod
    def malformed_tool_call(cls, name: str, raw_arguments: str = "query=<незакрыто") -> Reply:
        """A tool call whose arguments are not a JSON object, sent verbatim (what a small
        model emits): a broken JSON string to OpenAI clients, a string instead of an object
        to Ollama clients."""
        return cls("tool_calls", calls=((name, raw_arguments),))

    @classmethod
    def http_error(
        cls,
        status: int = 500,
        body: str | None = None,
        *,
        message: str = "fake LLM failure",
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
    ) -> Reply:
        """HTTP error. `body` is sent verbatim; if None, a protocol-shaped JSON error
        carrying `message` is sent ({"error": msg} / {"error": {"message": msg, ...}})."""
        extra = tuple((headers or {}).items())
        return cls(
            "http_error", status=status, body=body, content=message, headers=extra, delay=delay
        )

    @classmethod
    def hang(cls) -> Reply:
        """Never answer; the request ends when the client gives up or the server stops."""
        return cls("hang")

    @classmethod
    def garbage(cls, *, delay: float = 0.0) -> Reply:
        """200 with the protocol's content type but a body that is not valid JSON."""
        return cls("garbage", delay=delay)

    @classmethod
    def close_mid_stream(cls, partial_text: str = "Обрыв", *, delay: float = 0.0) -> Reply:
        """Send the start of the answer (stream chunks, or part of the JSON body when not
        streaming), then drop the TCP connection without finishing the response."""
        return cls("close_mid_stream", content=partial_text, delay=delay)


@dataclass
class RecordedRequest:
    """A chat request as the fake saw it."""

    protocol: str  # "ollama" | "openai"
    path: str
    body: dict[str, Any]
    messages: list[Message]
    tools: list[str]
    model: str
    stream: bool
    headers: dict[str, str]
    reply: Reply | None = None  # None when rejected before scripting (e.g. unknown model)
    received_at: float = field(default_factory=time.monotonic)

    @property
    def last_user_text(self) -> str:
        return last_user_text(self.messages)


@dataclass
class _Rule:
    match: Matcher
    replies: list[Reply]
    repeat: bool
    match_any: bool
    used: int = 0

    def matches(self, messages: list[Message]) -> bool:
        if callable(self.match):
            return bool(self.match(messages))
        texts = [m["content"] for m in messages] if self.match_any else [last_user_text(messages)]
        needle = self.match.casefold()
        return any(needle in text.casefold() for text in texts)

    def take(self) -> Reply | None:
        if self.used < len(self.replies):
            self.used += 1
            return self.replies[self.used - 1]
        return self.replies[-1] if self.repeat and self.replies else None


def last_user_text(messages: Sequence[Message]) -> str:
    return next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")


def _text_of(content: Any) -> str:
    """Message content as plain text (OpenAI allows a list of typed parts)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p if isinstance(p, str) else str(p.get("text", "")) for p in content]
        return "".join(parts)
    return str(content)


def _normalize(raw: Any) -> list[Message]:
    messages = raw if isinstance(raw, list) else []
    return [
        {"role": str(m.get("role", "")), "content": _text_of(m.get("content"))}
        for m in messages
        if isinstance(m, dict)
    ]


def _split(text: str, chunk_size: int | None) -> list[str]:
    if not text:
        return []
    if chunk_size:
        return [text[i : i + chunk_size] for i in range(0, len(text), chunk_size)]
    return re.findall(r"\s*\S+\s*", text) or [text]


class ScriptedLLM:
    """Fake Ollama + OpenAI-compatible chat server with a scripting API (see module doc)."""

    def __init__(self, models: Sequence[str] = ("qwen2.5:7b",), *, threaded: bool = False):
        """`models`: what /api/tags and /v1/models list; chat for other models gets 404.
        `threaded`: serve from a private thread (see `UvicornRunner`)."""
        self.models = list(models)
        self.requests: list[RecordedRequest] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.sent_pieces: list[tuple[float, bytes]] = []
        """(time.time(), body piece) of every piece of a paced answer, as it was sent."""
        self._queue: deque[Reply] = deque()
        self._rules: list[_Rule] = []
        self._default: Reply | ReplyFactory | None = None
        self._lock = threading.Lock()  # scripting vs. serving when threaded=True
        self._killed = False
        self._runner = UvicornRunner(self._app(), threaded=threaded)

    # -- lifecycle ---------------------------------------------------------------------
    async def start(self) -> ScriptedLLM:
        self._killed = False
        await self._runner.start()
        return self

    async def stop(self) -> None:
        await self._runner.stop()

    async def kill(self) -> None:
        """Stop as a crashed server would: refuse new connections and cut every exchange in
        flight at once, a paced answer between two of its pieces (`stop` lets those finish
        within uvicorn's graceful shutdown)."""
        self._killed = True
        await self._runner.stop()

    async def __aenter__(self) -> ScriptedLLM:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        return self._runner.port

    @property
    def ollama_base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # -- scripting ---------------------------------------------------------------------
    def queue(self, *replies: Reply) -> None:
        """Append replies to the FIFO used when no rule matches."""
        with self._lock:
            self._queue.extend(replies)

    def add_rule(
        self, match: Matcher, *replies: Reply, repeat: bool = False, match_any: bool = False
    ) -> None:
        """Answer matching requests with `replies` in order, before the queue is consulted.

        `match`: case-insensitive substring of the last user message (of any message with
        `match_any=True`), or a predicate over the normalized messages. An exhausted rule
        stops matching, unless `repeat=True`: then its last reply is given forever.
        """
        with self._lock:
            self._rules.append(_Rule(match, list(replies), repeat, match_any))

    def set_default(self, reply: Reply | ReplyFactory) -> None:
        """Reply used when nothing matched and the queue is empty. A callable gets the
        normalized messages and may return a Reply or a plain string (-> Reply.text)."""
        with self._lock:
            self._default = reply

    def reset(self) -> None:
        """Forget requests, queue, rules, default and the concurrency peak."""
        with self._lock:
            self.requests.clear()
            self._queue.clear()
            self._rules.clear()
            self._default = None
            self.max_in_flight = self.in_flight

    @property
    def pending(self) -> int:
        """Queued replies not consumed yet."""
        return len(self._queue)

    def _choose(self, messages: list[Message]) -> Reply:
        with self._lock:
            for rule in self._rules:
                if rule.matches(messages) and (reply := rule.take()) is not None:
                    return reply
            if self._queue:
                return self._queue.popleft()
            default = self._default
        if default is None:
            return Reply.text("Ответ: " + last_user_text(messages))
        if isinstance(default, Reply):
            return default
        made = default(messages)
        return Reply.text(made) if isinstance(made, str) else made

    # -- HTTP --------------------------------------------------------------------------
    def _app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/", _ollama_root, methods=["GET"]),
                Route("/api/chat", self._ollama_chat, methods=["POST"]),
                Route("/api/tags", self._ollama_tags, methods=["GET"]),
                Route("/api/show", self._ollama_show, methods=["POST"]),
                Route("/api/version", _ollama_version, methods=["GET"]),
                Route("/v1/chat/completions", self._openai_chat, methods=["POST"]),
                Route("/v1/models", self._openai_models, methods=["GET"]),
            ]
        )

    def _knows(self, model: str) -> bool:
        name = model if ":" in model else f"{model}:latest"
        return model in self.models or name in self.models

    async def _ollama_chat(self, request: Request) -> Any:
        return await self._chat(request, "ollama")

    async def _openai_chat(self, request: Request) -> Any:
        return await self._chat(request, "openai")

    async def _chat(self, request: Request, protocol: str) -> Any:
        try:
            body = json.loads(await request.body())
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return _error(protocol, 400, "invalid JSON body")
        messages = _normalize(body.get("messages"))
        record = RecordedRequest(
            protocol=protocol,
            path=request.url.path,
            body=body,
            messages=messages,
            tools=[t.get("function", {}).get("name", "") for t in body.get("tools") or []],
            model=str(body.get("model", "")),
            stream=bool(body.get("stream", protocol == "ollama")),  # Ollama streams by default
            headers=dict(request.headers),
        )
        self.requests.append(record)
        if not self._knows(record.model):
            return _error(protocol, 404, f'model "{record.model}" not found, try pulling it first')
        record.reply = self._choose(messages)
        return _Exchange(self, record, record.reply)

    async def _ollama_tags(self, _: Request) -> JSONResponse:
        return JSONResponse({"models": [_ollama_model(m) for m in self.models]})

    async def _ollama_show(self, request: Request) -> JSONResponse:
        body = await request.json()
        name = str(body.get("model") or body.get("name") or "")
        if not self._knows(name):
            return JSONResponse({"error": f"model '{name}' not found"}, status_code=404)
        return JSONResponse(
            {
                "modelfile": f"FROM {name}",
                "parameters": "temperature 0.7",
                "template": "{{ .Prompt }}",
                "details": _ollama_model(name)["details"],
                "model_info": {"general.architecture": "qwen2", "qwen2.context_length": 32768},
                "capabilities": ["completion", "tools"],
                "modified_at": _now_iso(),
            }
        )

    async def _openai_models(self, _: Request) -> JSONResponse:
        data = [
            {"id": m, "object": "model", "created": 1700000000, "owned_by": "library"}
            for m in self.models
        ]
        return JSONResponse({"object": "list", "data": data})


async def _ollama_root(_: Request) -> PlainTextResponse:
    return PlainTextResponse("Ollama is running")  # what health checks of real Ollama see


async def _ollama_version(_: Request) -> JSONResponse:
    return JSONResponse({"version": "0.6.5"})


class _Exchange:
    """ASGI response for one chat request: counts concurrency, waits, then answers."""

    def __init__(self, llm: ScriptedLLM, record: RecordedRequest, reply: Reply) -> None:
        self.llm, self.record, self.reply = llm, record, reply

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        llm = self.llm
        with llm._lock:
            llm.in_flight += 1
            llm.max_in_flight = max(llm.max_in_flight, llm.in_flight)
        try:
            await self._respond(receive, send)
        finally:
            with llm._lock:
                llm.in_flight -= 1

    async def _respond(self, receive: Receive, send: Send) -> None:
        reply, record = self.reply, self.record
        if reply.kind == "hang":
            await self._interrupted(receive, None)
            raise DropConnection
        if reply.delay and await self._interrupted(receive, reply.delay):
            raise DropConnection
        if reply.kind == "http_error":
            body = reply.body if reply.body is not None else _error_body(record.protocol, reply)
            headers = {"content-type": _guess_type(body), **dict(reply.headers)}
            await _send(send, reply.status, headers, [body.encode()])
            return
        headers = {"content-type": _CONTENT_TYPES[record.protocol, record.stream]}
        if reply.kind == "garbage":
            sse = record.stream and record.protocol == "openai"
            await _send(send, 200, headers, [b"data: {not json\n\n" if sse else b"{not json\n"])
            return
        pieces = _render(record, reply)
        if reply.kind != "close_mid_stream":
            sent_log = self.llm.sent_pieces if reply.pace and record.stream else None
            await _send(
                send,
                200,
                headers,
                pieces,
                pace=reply.pace,
                sent_log=sent_log,
                killed=lambda: self.llm._killed,
            )
            return
        if record.stream:  # chunked: send the text chunks but never the terminating chunk
            await _send(send, 200, headers, pieces, finish=False)
        else:  # promise the whole body, deliver half of it
            whole = b"".join(pieces)
            headers["content-length"] = str(len(whole))
            await _send(send, 200, headers, [whole[: len(whole) // 2]], finish=False)
        raise DropConnection

    async def _interrupted(self, receive: Receive, timeout: float | None) -> bool:
        """Wait `timeout` seconds (None = forever); return early with True if the client
        disconnects or the server is stopping. Keeps `in_flight` honest for abandoned calls."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        disconnect = asyncio.ensure_future(receive())
        try:
            while not disconnect.done():
                if self.llm._runner.stopping:
                    return True
                step = 0.05 if deadline is None else min(0.05, deadline - loop.time())
                if step <= 0:
                    return False
                await asyncio.wait({disconnect}, timeout=step)
            return True
        finally:
            disconnect.cancel()


_CONTENT_TYPES = {  # (protocol, streaming) -> content type
    ("ollama", False): "application/json; charset=utf-8",
    ("ollama", True): "application/x-ndjson",
    ("openai", False): "application/json",
    ("openai", True): "text/event-stream; charset=utf-8",
}


async def _send(
    send: Send,
    status: int,
    headers: dict[str, str],
    pieces: list[bytes],
    *,
    finish: bool = True,
    pace: float = 0.0,
    sent_log: list[tuple[float, bytes]] | None = None,
    killed: Callable[[], bool] | None = None,
) -> None:
    raw_headers = [(k.encode(), v.encode()) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    for index, piece in enumerate(pieces):
        if pace and index:
            await asyncio.sleep(pace)
            if killed is not None and killed():
                raise DropConnection
        await send({"type": "http.response.body", "body": piece, "more_body": True})
        if sent_log is not None:
            sent_log.append((time.time(), piece))
    if finish:
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def _guess_type(body: str) -> str:
    try:
        json.loads(body)
    except ValueError:
        return "text/plain; charset=utf-8"
    return "application/json"


def _error_body(protocol: str, reply: Reply) -> str:
    if protocol == "ollama":
        return json.dumps({"error": reply.content})
    kind = "invalid_request_error" if reply.status < 500 else "server_error"
    return json.dumps(
        {"error": {"message": reply.content, "type": kind, "param": None, "code": None}}
    )


def _error(protocol: str, status: int, message: str) -> JSONResponse:
    reply = Reply.http_error(status, message=message)
    return JSONResponse(json.loads(_error_body(protocol, reply)), status_code=status)


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _ollama_model(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "model": name,
        "modified_at": _now_iso(),
        "size": 4683087332,
        "digest": uuid.uuid5(uuid.NAMESPACE_DNS, name).hex * 2,
        "details": {
            "parent_model": "",
            "format": "gguf",
            "family": "qwen2",
            "families": ["qwen2"],
            "parameter_size": "7.6B",
            "quantization_level": "Q4_K_M",
        },
    }


def _token_counts(record: RecordedRequest, reply: Reply) -> tuple[int, int]:
    prompt = sum(len(m["content"].split()) for m in record.messages) or 1
    completion = len(reply.content.split()) + 10 * len(reply.calls) or 1
    return prompt, completion


def _render(record: RecordedRequest, reply: Reply) -> list[bytes]:
    """Body pieces of a successful answer (one piece unless streaming)."""
    if record.protocol == "ollama":
        return _render_ollama(record, reply)
    return _render_openai(record, reply)


def _render_ollama(record: RecordedRequest, reply: Reply) -> list[bytes]:
    prompt_tokens, eval_tokens = _token_counts(record, reply)
    tool_calls = [{"function": {"name": n, "arguments": a}} for n, a in reply.calls]
    final = {
        "model": record.model,
        "created_at": _now_iso(),
        "message": {"role": "assistant", "content": ""},
        "done": True,
        "done_reason": "stop",
        "total_duration": 1_500_000_000,
        "load_duration": 50_000_000,
        "prompt_eval_count": prompt_tokens,
        "prompt_eval_duration": 300_000_000,
        "eval_count": eval_tokens,
        "eval_duration": 1_000_000_000,
    }
    if not record.stream:
        final["message"]["content"] = reply.content
        if tool_calls:
            final["message"]["tool_calls"] = tool_calls
        return [json.dumps(final, ensure_ascii=False).encode()]

    def line(content: str, **extra: Any) -> bytes:
        chunk = {
            "model": record.model,
            "created_at": _now_iso(),
            "message": {"role": "assistant", "content": content, **extra},
            "done": False,
        }
        return json.dumps(chunk, ensure_ascii=False).encode() + b"\n"

    lines = [line(piece) for piece in _split(reply.content, reply.chunk_size)]
    if tool_calls:  # Ollama sends tool calls whole, in a chunk before the final one
        lines.append(line("", tool_calls=tool_calls))
    if reply.kind != "close_mid_stream":
        lines.append(json.dumps(final).encode() + b"\n")
    return lines


def _render_openai(record: RecordedRequest, reply: Reply) -> list[bytes]:
    prompt_tokens, completion_tokens = _token_counts(record, reply)
    usage = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
    finish_reason = "tool_calls" if reply.calls else "stop"
    calls = [
        (
            f"call_{uuid.uuid4().hex[:24]}",
            name,
            args if isinstance(args, str) else json.dumps(args, ensure_ascii=False),
        )
        for name, args in reply.calls
    ]
    base = {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "created": int(time.time()),
        "model": record.model,
        "system_fingerprint": "fp_fake",
    }
    if not record.stream:
        message: dict[str, Any] = {"role": "assistant", "content": reply.content or None}
        if calls:
            message["tool_calls"] = [
                {"id": cid, "type": "function", "function": {"name": name, "arguments": args}}
                for cid, name, args in calls
            ]
        choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}
        body = {**base, "object": "chat.completion", "choices": [choice], "usage": usage}
        return [json.dumps(body, ensure_ascii=False).encode()]

    def event(delta: dict[str, Any] | None, finish: str | None = None, **extra: Any) -> bytes:
        choices = (
            []
            if delta is None
            else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
        )
        chunk = {**base, "object": "chat.completion.chunk", "choices": choices, **extra}
        return b"data: " + json.dumps(chunk, ensure_ascii=False).encode() + b"\n\n"

    events = [event({"role": "assistant", "content": ""})]
    events += [event({"content": piece}) for piece in _split(reply.content, reply.chunk_size)]
    for index, (cid, name, args) in enumerate(calls):
        head = {
            "index": index,
            "id": cid,
            "type": "function",
            "function": {"name": name, "arguments": ""},
        }
        events.append(event({"tool_calls": [head]}))
        half = len(args) // 2  # arguments arrive in pieces, like the real API
        for part in (args[:half], args[half:]):
            delta = {"index": index, "function": {"arguments": part}}
            events.append(event({"tool_calls": [delta]}))
    if reply.kind == "close_mid_stream":
        return events
    events.append(event({}, finish_reason))
    if (record.body.get("stream_options") or {}).get("include_usage"):
        events.append(event(None, usage=usage))
    events.append(b"data: [DONE]\n\n")
    return events
