"""Every LLM call goes through the gate: a concurrency limit, a timeout, token streaming."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from typing import Any

import httpx
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage

TokenCallback = Callable[[str], None]


class LLMError(Exception):
    """An LLM call failed; the message is safe to show to users."""


class LLMGate:
    def __init__(self, model: BaseChatModel, *, max_concurrency: int, timeout: float) -> None:
        self.model = model
        self.timeout = timeout
        self.max_concurrency = max_concurrency
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
            raise LLMError(f"LLM timed out after {self.timeout:g} s") from exc
        except LLMError:
            raise
        except Exception as exc:
            raise LLMError(describe_llm_failure(exc)) from exc
        finally:
            self.in_flight -= 1
            self._slots.release()

    @staticmethod
    async def _stream(
        runnable: Any, messages: Sequence[BaseMessage], on_token: TokenCallback | None
    ) -> AIMessage:
        merged: AIMessageChunk | None = None
        async for chunk in runnable.astream(list(messages)):
            merged = chunk if merged is None else merged + chunk
            if on_token is not None and isinstance(chunk.content, str) and chunk.content:
                on_token(chunk.content)
        if merged is None:
            raise LLMError("LLM returned an empty response")
        return AIMessage(
            content=merged.content,
            tool_calls=merged.tool_calls,
            usage_metadata=merged.usage_metadata,
            response_metadata=merged.response_metadata,
            id=merged.id,
        )


def describe_llm_failure(exc: BaseException) -> str:
    """A short reason for users and logs, without stack traces or secrets."""
    if isinstance(exc, httpx.ConnectError | ConnectionError):
        return "LLM server unreachable"
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError):
        return "LLM server closed the connection mid-answer"
    if isinstance(exc, json.JSONDecodeError | ValueError) and "json" in str(exc).lower():
        return "LLM server returned an invalid response"
    status = getattr(exc, "status_code", None) or getattr(
        getattr(exc, "response", None), "status_code", None
    )
    if status:
        return f"LLM server error (HTTP {status})"
    name = type(exc).__name__
    if name in {"APIConnectionError"}:
        return "LLM server unreachable"
    if name in {"APITimeoutError"}:
        return "LLM timed out"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"LLM call failed: {name}{': ' + text[:200] if text else ''}"
