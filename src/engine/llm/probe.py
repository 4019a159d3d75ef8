"""Is the LLM server reachable and does it have the model? Cached so health stays cheap."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import httpx

from engine.config import Settings
from engine.llm.providers.ollama import list_ollama_models, list_openai_models


@dataclass(frozen=True, slots=True)
class LLMStatus:
    provider: str
    base_url: str
    model: str
    reachable: bool
    model_present: bool
    error: str | None = None


def model_matches(wanted: str, available: list[str]) -> bool:
    names = set(available)
    return wanted in names or (":" not in wanted and f"{wanted}:latest" in names)


class LLMProbe:
    def __init__(self, settings: Settings, client: httpx.AsyncClient, ttl_seconds: float = 15.0):
        self.settings = settings
        self.client = client
        self.ttl = ttl_seconds
        self._cached: tuple[float, LLMStatus] | None = None
        self._lock = asyncio.Lock()

    async def status(self, *, fresh: bool = False) -> LLMStatus:
        async with self._lock:
            if not fresh and self._cached and time.monotonic() - self._cached[0] < self.ttl:
                return self._cached[1]
            status = await self._check()
            self._cached = (time.monotonic(), status)
            return status

    async def _check(self) -> LLMStatus:
        s = self.settings
        try:
            async with asyncio.timeout(s.llm_health_timeout_seconds):
                if s.llm_provider == "ollama":
                    models = await list_ollama_models(self.client, s.llm_base_url)
                else:
                    models = await list_openai_models(
                        self.client, s.llm_base_url, s.llm_api_key.get_secret_value()
                    )
        except (httpx.HTTPError, TimeoutError, ValueError) as exc:
            return LLMStatus(
                s.llm_provider,
                s.llm_base_url,
                s.llm_model,
                False,
                False,
                error=f"{type(exc).__name__}: {exc}"[:300],
            )
        return LLMStatus(
            s.llm_provider, s.llm_base_url, s.llm_model, True, model_matches(s.llm_model, models)
        )
