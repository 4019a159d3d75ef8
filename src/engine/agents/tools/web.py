"""`web`: web search through a SearXNG-compatible JSON API, when one is configured."""

from __future__ import annotations

import httpx
from pydantic import BaseModel, ConfigDict, Field

from engine.agents.context import AgentContext
from engine.agents.tools.registry import ToolSpec

NOT_CONFIGURED = (
    "Веб-поиск не настроен в этой установке (WEB_SEARCH_URL пуст). "
    "Ответь по имеющимся данным и скажи пользователю, что свежие сведения из интернета недоступны."
)


class WebArgs(BaseModel):
    model_config = ConfigDict(extra="ignore")
    query: str = Field(min_length=1, max_length=300, description="поисковый запрос")


def web_tool(client: httpx.AsyncClient, search_url: str, limit: int = 5) -> ToolSpec:
    async def search(ctx: AgentContext, args: WebArgs) -> str:
        if not search_url:
            return NOT_CONFIGURED
        try:
            response = await client.get(
                search_url, params={"q": args.query, "format": "json"}, timeout=20.0
            )
            response.raise_for_status()
            results = response.json().get("results", [])[:limit]
        except (httpx.HTTPError, ValueError) as exc:
            return f"Веб-поиск недоступен: {type(exc).__name__}."
        if not results:
            return "Веб-поиск ничего не нашёл."
        return "\n".join(
            f"[{i}] {r.get('title', '')} — {r.get('url', '')}\n{r.get('content', '')[:400]}"
            for i, r in enumerate(results, start=1)
        )

    return ToolSpec(
        name="web",
        description="Поиск в интернете для свежих общедоступных сведений.",
        args_model=WebArgs,
        handler=search,
    )
