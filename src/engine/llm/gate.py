"""Every LLM call goes through the gate: a concurrency limit, a timeout, token streaming, and
failures turned into a small set of reasons a person can read."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterator, Sequence
from enum import StrEnum
from typing import Any, Protocol

import httpx
from langchain_core.exceptions import OutputParserException
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.ai import add_ai_message_chunks
from pydantic import ValidationError

log = logging.getLogger(__name__)

TokenCallback = Callable[[str, bool], None]
"""Receives each streamed piece of an answer: (delta, first). `first` marks the first piece
of a model call: the text shown so far is replaced from there (a retried or rerouted call,
a later turn of an agent), not continued."""
TOOLS_UNAVAILABLE = "tools_unavailable"
"""Key in an answer's `response_metadata` (and the answer's `meta`) saying why the model
answered without tools."""


class LLMFailure(StrEnum):
    UNREACHABLE = "unreachable"
    TIMED_OUT = "timed_out"
    CLOSED_MID_ANSWER = "closed_mid_answer"
    SERVER_ERROR = "server_error"
    MODEL_MISSING = "model_missing"
    BAD_OUTPUT = "bad_output"


FAILURE_TEXT: dict[LLMFailure, str] = {
    LLMFailure.UNREACHABLE: "Сервер языковой модели недоступен.",
    LLMFailure.TIMED_OUT: "Языковая модель не ответила вовремя.",
    LLMFailure.CLOSED_MID_ANSWER: "Сервер языковой модели оборвал ответ на середине.",
    LLMFailure.SERVER_ERROR: "Сервер языковой модели ответил ошибкой.",
    LLMFailure.MODEL_MISSING: "На сервере языковой модели нет нужной модели.",
    LLMFailure.BAD_OUTPUT: "Языковая модель вернула ответ, который не удалось разобрать.",
}


class LLMError(Exception):
    """An LLM call failed. `str(error)` is the short Russian sentence people see; `detail`
    is the technical reason for the log and the answer's `meta`."""

    def __init__(self, kind: LLMFailure, detail: str = "") -> None:
        super().__init__(FAILURE_TEXT[kind])
        self.kind = kind
        self.detail = detail or kind.value

    def to_meta(self) -> dict[str, Any]:
        return {"llm_error": {"kind": self.kind.value, "detail": self.detail}}


class ChatGate(Protocol):
    """What agents call the model through: one gate, or the fleet routing to one."""

    async def complete(
        self,
        messages: Sequence[BaseMessage],
        *,
        tools: Sequence[dict[str, Any]] | None = None,
        on_token: TokenCallback | None = None,
    ) -> AIMessage: ...


class LLMGate:
    def __init__(
        self,
        model: BaseChatModel,
        *,
        max_concurrency: int,
        timeout: float,
        tools_unavailable: str | None = None,
    ) -> None:
        self.model = model
        self.timeout = timeout
        self.max_concurrency = max_concurrency
        self.tools_unavailable = tools_unavailable
        """Set when the model is known not to call tools: tools are never sent to it."""
        self._slots = asyncio.Semaphore(max_concurrency)
        self.in_flight = 0
        self.waiting = 0

    async def complete(
        self,
        messages: Sequence[BaseMessage],
        *,
        tools: Sequence[dict[str, Any]] | None = None,
        on_token: TokenCallback | None = None,
    ) -> AIMessage:
        """One model turn. When tools cannot be used (the model has none, the server refuses
        them, or the model's call is malformed) the turn is answered without tools and the
        reply's `response_metadata["tools_unavailable"]` says why; it never fails for that."""
        if not tools:
            return await self._call(messages, None, on_token)
        if self.tools_unavailable:
            reply = await self._call(messages, None, on_token)
            return _without_tools(reply, self.tools_unavailable)
        try:
            reply = await self._call(messages, tools, on_token)
        except LLMError as exc:
            if not _tools_were_the_problem(exc):
                raise
            log.warning("LLM could not use tools (%s); answering without them", exc.detail)
            reply = await self._call(messages, None, on_token)
            what = "malformed tool call" if exc.kind is LLMFailure.BAD_OUTPUT else "tools refused"
            return _without_tools(reply, f"{what}: {exc.detail}"[:300])
        if not reply.invalid_tool_calls:
            return reply
        broken = reply.invalid_tool_calls[0]
        reason = f"malformed tool call {broken.get('name')!r}: {broken.get('error') or 'bad args'}"
        log.warning("LLM emitted a %s; answering without tools", reason)
        if reply.tool_calls or not str(reply.content).strip():
            reply = await self._call(messages, None, on_token)
        return _without_tools(reply, reason[:300])

    async def _call(
        self,
        messages: Sequence[BaseMessage],
        tools: Sequence[dict[str, Any]] | None,
        on_token: TokenCallback | None,
    ) -> AIMessage:
        runnable: Any = self.model.bind_tools(list(tools)) if tools else self.model
        self.waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self.waiting -= 1
        self.in_flight += 1
        try:
            async with asyncio.timeout(self.timeout):
                return await self._stream(runnable, messages, on_token)
        except TimeoutError as exc:
            raise LLMError(
                LLMFailure.TIMED_OUT, f"no complete answer within {self.timeout:g} s"
            ) from exc
        except LLMError:
            raise
        except Exception as exc:
            kind, detail = classify_llm_failure(exc)
            log.warning("LLM call failed (%s): %s", kind.value, detail)
            raise LLMError(kind, detail) from exc
        finally:
            self.in_flight -= 1
            self._slots.release()

    @staticmethod
    async def _stream(
        runnable: Any, messages: Sequence[BaseMessage], on_token: TokenCallback | None
    ) -> AIMessage:
        if on_token is None:
            # Nobody watches the tokens (a chain's inner step): the answer in one body. A
            # streamed call pays the client stack (httpx, the Ollama client, LangChain's
            # chunk objects and callbacks) once per chunk, i.e. per token of a real model;
            # without `stream=False` ChatOllama streams even under `ainvoke`.
            reply = await runnable.ainvoke(list(messages), stream=False)
            if not isinstance(reply, AIMessage):
                raise LLMError(LLMFailure.BAD_OUTPUT, "the LLM returned no message")
            return reply
        chunks: list[AIMessageChunk] = []
        first = True
        async for chunk in runnable.astream(list(messages)):
            chunks.append(chunk)
            if isinstance(chunk.content, str) and chunk.content:
                on_token(chunk.content, first)
                first = False
        if not chunks:
            raise LLMError(LLMFailure.BAD_OUTPUT, "the LLM returned an empty response")
        # merged once at the end: `a + b` per chunk builds (and validates) a new message
        # each time, quadratic in the answer's length
        merged = chunks[0] if len(chunks) == 1 else add_ai_message_chunks(chunks[0], *chunks[1:])
        return AIMessage(
            content=merged.content,
            tool_calls=merged.tool_calls,
            invalid_tool_calls=merged.invalid_tool_calls,
            usage_metadata=merged.usage_metadata,
            response_metadata=merged.response_metadata,
            id=merged.id,
        )


def _without_tools(reply: AIMessage, reason: str) -> AIMessage:
    return AIMessage(
        content=reply.content,
        usage_metadata=reply.usage_metadata,
        response_metadata={**reply.response_metadata, TOOLS_UNAVAILABLE: reason},
        id=reply.id,
    )


def _tools_were_the_problem(exc: LLMError) -> bool:
    """A malformed tool call the client could not parse, or a server refusing tools."""
    detail = exc.detail.lower()
    if exc.kind is LLMFailure.BAD_OUTPUT:
        return "tool" in detail or "argument" in detail
    return exc.kind is LLMFailure.SERVER_ERROR and "http 400" in detail and "tool" in detail


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _status_of(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    if status is None:
        status = getattr(getattr(exc, "response", None), "status_code", None)
    return status if isinstance(status, int) and status > 0 else None


def _detail(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:300]}" if text else type(exc).__name__


def _http_classes(name: str) -> tuple[type[BaseException], ...]:
    """`httpx.<name>` and, where installed, the same class of `httpx2` (which newer `openai`
    releases use instead of httpx)."""
    classes: list[type[BaseException]] = [getattr(httpx, name)]
    try:
        import httpx2  # type: ignore[import-not-found]
    except ImportError:
        pass
    else:
        if hasattr(httpx2, name):
            classes.append(getattr(httpx2, name))
    return tuple(classes)


def classify_llm_failure(exc: BaseException) -> tuple[LLMFailure, str]:
    """Map an exception from any client stack (LangChain, openai, ollama, httpx) to a reason
    and a one-line technical detail, by type; the whole cause chain is looked at, since the
    clients wrap transport errors in their own classes."""
    import ollama
    import openai

    chain = list(_chain(exc))
    detail = " <- ".join(_detail(e) for e in chain[-3:])
    timed_out: tuple[type[BaseException], ...] = (
        openai.APITimeoutError,
        TimeoutError,
        *_http_classes("TimeoutException"),
    )
    closed: tuple[type[BaseException], ...] = (
        ConnectionResetError,
        BrokenPipeError,
        ConnectionAbortedError,
        *_http_classes("RemoteProtocolError"),
        *_http_classes("ReadError"),
        *_http_classes("WriteError"),
    )
    unreachable: tuple[type[BaseException], ...] = (
        openai.APIConnectionError,
        ConnectionError,
        *_http_classes("ConnectError"),
        *_http_classes("NetworkError"),
    )
    for error in chain:
        if isinstance(error, timed_out):
            return LLMFailure.TIMED_OUT, detail
    for error in chain:
        if isinstance(error, closed):
            return LLMFailure.CLOSED_MID_ANSWER, detail
    for error in chain:
        if isinstance(error, unreachable):
            return LLMFailure.UNREACHABLE, detail
    for error in chain:
        status = _status_of(error)
        if isinstance(error, openai.NotFoundError) or (
            isinstance(error, ollama.ResponseError) and status == 404
        ):
            return LLMFailure.MODEL_MISSING, f"HTTP 404: {detail}"
        if isinstance(
            error, (openai.APIStatusError, ollama.ResponseError, *_http_classes("HTTPStatusError"))
        ):
            return LLMFailure.SERVER_ERROR, f"HTTP {status}: {detail}"
    for error in chain:
        if isinstance(
            error,
            json.JSONDecodeError
            | ValidationError
            | OutputParserException
            | openai.APIResponseValidationError
            | ValueError
            | KeyError
            | TypeError,
        ):
            return LLMFailure.BAD_OUTPUT, detail
    return LLMFailure.SERVER_ERROR, detail


def describe_llm_failure(exc: BaseException) -> str:
    """The person-facing sentence for any LLM failure (outside the gate, e.g. a proactive run)."""
    if isinstance(exc, LLMError):
        return str(exc)
    return FAILURE_TEXT[classify_llm_failure(exc)[0]]
