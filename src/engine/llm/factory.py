"""One chat-model client per model server, chosen by its provider. `local` is the
OpenAI-compatible client pointed at the managed llama.cpp server."""

from __future__ import annotations

import ssl
from functools import cache
from urllib.parse import urlsplit

import httpx
from langchain_core.language_models import BaseChatModel

from engine.config import LLMBackend, Settings
from engine.llm.transport import KeepAliveTransport


@cache
def shared_tls_context() -> ssl.SSLContext:
    """httpx's default verifying context, built once per process: every client would
    otherwise load the CA bundle again (tens of milliseconds of CPU each, two clients per
    Ollama server, on every start)."""
    return httpx.create_ssl_context()


def build_chat_model(settings: Settings, backend: LLMBackend | None = None) -> BaseChatModel:
    """The client of `backend` (by default the fleet's first server)."""
    backend = backend or settings.backends[0]
    if backend.provider in ("openai", "local"):
        from langchain_openai import ChatOpenAI

        # llama.cpp's server reads `max_tokens`, not the `max_completion_tokens` LangChain sends
        extra_body = (
            {"max_tokens": settings.local_max_tokens} if backend.provider == "local" else None
        )
        return ChatOpenAI(
            model=backend.model,
            base_url=backend.base_url,
            api_key=backend.api_key,
            temperature=settings.llm_temperature,
            timeout=settings.llm_timeout_seconds,
            max_retries=0,
            stream_usage=True,
            extra_body=extra_body,
        )
    from langchain_ollama import ChatOllama

    async_client_kwargs: dict[str, object] = {}
    if settings.llm_http_transport == "lean" and urlsplit(backend.base_url).scheme == "http":
        # head and body in one write, no readability poll per call: llm/transport.py
        async_client_kwargs["transport"] = KeepAliveTransport()
    return ChatOllama(
        model=backend.model,
        base_url=backend.base_url,
        temperature=settings.llm_temperature,
        client_kwargs={"timeout": settings.llm_timeout_seconds, "verify": shared_tls_context()},
        async_client_kwargs=async_client_kwargs,
    )
