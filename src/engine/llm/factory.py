"""One chat-model client per process, chosen by settings. `local` is the OpenAI-compatible
client pointed at the managed llama.cpp server (its address is filled in at start)."""

from __future__ import annotations

from langchain_core.language_models import BaseChatModel

from engine.config import Settings


def build_chat_model(settings: Settings) -> BaseChatModel:
    if settings.llm_provider in ("openai", "local"):
        from langchain_openai import ChatOpenAI

        # llama.cpp's server reads `max_tokens`, not the `max_completion_tokens` LangChain sends
        extra_body = (
            {"max_tokens": settings.local_max_tokens} if settings.llm_provider == "local" else None
        )
        return ChatOpenAI(
            model=settings.llm_model,
            base_url=settings.llm_base_url,
            api_key=settings.llm_api_key,
            temperature=settings.llm_temperature,
            timeout=settings.llm_timeout_seconds,
            max_retries=0,
            stream_usage=True,
            extra_body=extra_body,
        )
    from langchain_ollama import ChatOllama

    return ChatOllama(
        model=settings.llm_model,
        base_url=settings.llm_base_url,
        temperature=settings.llm_temperature,
        client_kwargs={"timeout": settings.llm_timeout_seconds},
    )
