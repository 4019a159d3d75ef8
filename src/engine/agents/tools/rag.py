"""`rag`: full-text search over the organization's own documents, with cited snippets."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from engine.agents.context import AgentContext
from engine.agents.tools.registry import ToolSpec
from engine.storage.documents import DocumentStorage


class RagArgs(BaseModel):
    model_config = ConfigDict(extra="ignore")
    query: str = Field(min_length=1, max_length=500, description="что искать в документах")


def rag_tool(documents: DocumentStorage, limit: int = 5) -> ToolSpec:
    async def search(ctx: AgentContext, args: RagArgs) -> str:
        hits = await documents.search(ctx.org_id, args.query, limit)
        if not hits:
            return "В документах организации ничего не найдено по запросу."
        lines = [
            f"[{i}] «{hit.title}», фрагмент {hit.ordinal + 1}: {hit.snippet}"
            for i, hit in enumerate(hits, start=1)
        ]
        return "Найдено в документах организации (ссылайся на номера в скобках):\n" + "\n".join(
            lines
        )

    return ToolSpec(
        name="rag",
        description="Поиск по внутренним документам организации (положения, договоры, регламенты).",
        args_model=RagArgs,
        handler=search,
    )
