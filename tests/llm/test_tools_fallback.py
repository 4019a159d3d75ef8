"""A model that cannot call tools still answers: the simple and multi-agent roles go on
without tools, and the answer's `meta.tools_unavailable` says why. A malformed tool call
never fails the answer, on either protocol."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from engine.config import Settings
from tests.conftest import SYSTEM_ADMIN_PASSWORD, running_app
from tests.fakes.llm_server import Reply, ScriptedLLM
from tests.support.api import Api, create_chat, post_message, wait_ai_message

ANSWER = "Отвечаю без инструментов: срок сдачи декларации — 25 число."


async def _answer(settings: Settings, question: str) -> dict[str, Any]:
    async with running_app(settings) as (_, client):
        org = await Api(client, SYSTEM_ADMIN_PASSWORD).create_org(members=2)
        chat = await create_chat(client, *org.members)
        posted = await post_message(client, org.members[0], chat["id"], question)
        return await wait_ai_message(
            client, org.members[0], chat["id"], posted["ai_message_ids"][0]
        )


@pytest.mark.parametrize("role", ["accountant", "chu"])
@pytest.mark.parametrize("provider", ["ollama", "openai"])
async def test_malformed_tool_call_still_answers(
    make_settings: Callable[..., Settings], llm: ScriptedLLM, provider: str, role: str
) -> None:
    llm.queue(Reply.malformed_tool_call("rag"), Reply.text(ANSWER))
    base_url = llm.ollama_base_url if provider == "ollama" else llm.openai_base_url
    answer = await _answer(
        make_settings(llm_provider=provider, llm_base_url=base_url), f"@@{role} когда декларация?"
    )
    assert answer["ai_status"] == "done", answer
    assert answer["content"] == ANSWER
    assert "malformed tool call" in answer["meta"]["tools_unavailable"]
    assert answer["meta"]["tool_calls"] == []
    first, retry = llm.requests[-2:]
    assert first.tools and not retry.tools


async def test_server_refusing_tools_still_answers(
    make_settings: Callable[..., Settings], llm: ScriptedLLM
) -> None:
    refusal = Reply.http_error(400, message="registry/tiny:1b does not support tools")
    llm.queue(refusal, Reply.text(ANSWER))
    answer = await _answer(
        make_settings(llm_base_url=llm.ollama_base_url), "@@accountant когда декларация?"
    )
    assert answer["ai_status"] == "done", answer
    assert answer["content"] == ANSWER
    assert "does not support tools" in answer["meta"]["tools_unavailable"]


async def test_working_tools_leave_no_mark(
    make_settings: Callable[..., Settings], llm: ScriptedLLM
) -> None:
    llm.queue(Reply.tool_call("rag", {"query": "декларация"}), Reply.text(ANSWER))
    answer = await _answer(
        make_settings(llm_base_url=llm.ollama_base_url), "@@accountant когда декларация?"
    )
    assert answer["ai_status"] == "done" and answer["content"] == ANSWER
    assert "tools_unavailable" not in answer["meta"]
    assert [call["name"] for call in answer["meta"]["tool_calls"]] == ["rag"]
