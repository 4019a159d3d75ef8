"""Ollama's HTTP API beyond chat: which models the server has (health, `rugpt check`)."""

from __future__ import annotations

import httpx


async def list_ollama_models(client: httpx.AsyncClient, base_url: str) -> list[str]:
    response = await client.get(f"{base_url.rstrip('/')}/api/tags")
    response.raise_for_status()
    return [m.get("name", "") for m in response.json().get("models", [])]


async def list_openai_models(client: httpx.AsyncClient, base_url: str, api_key: str) -> list[str]:
    response = await client.get(
        f"{base_url.rstrip('/')}/models", headers={"Authorization": f"Bearer {api_key}"}
    )
    response.raise_for_status()
    return [m.get("id", "") for m in response.json().get("data", [])]
