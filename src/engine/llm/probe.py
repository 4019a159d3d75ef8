"""Is the LLM server reachable and does it have the model? Cached so health stays cheap."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import httpx

from engine.config import LLMBackend, Settings
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
    def __init__(
        self,
        settings: Settings,
        client: httpx.AsyncClient,
        ttl_seconds: float = 15.0,
        backend: LLMBackend | None = None,
    ):
        self.settings = settings
        self.backend = backend or settings.backends[0]
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
        b = self.backend
        try:
            async with asyncio.timeout(self.settings.llm_health_timeout_seconds):
                if b.provider == "ollama":
                    models = await list_ollama_models(self.client, b.base_url)
                else:
                    models = await list_openai_models(
                        self.client, b.base_url, b.api_key.get_secret_value()
                    )
        except (httpx.HTTPError, TimeoutError, ValueError) as exc:
            return LLMStatus(
                b.provider,
                b.base_url,
                b.model,
                False,
                False,
                error=f"{type(exc).__name__}: {exc}"[:300],
            )
        return LLMStatus(b.provider, b.base_url, b.model, True, model_matches(b.model, models))
