"""`@@role` answers end to end: real LangChain clients against the scripted LLM server."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from engine.llm.gate import FAILURE_TEXT, LLMFailure
from tests.conftest import SYSTEM_ADMIN_PASSWORD, running_app
from tests.fakes.llm_server import Reply, ScriptedLLM
from tests.fakes.waiting import wait_for
from tests.support.api import Api, Org, create_chat, post_message, wait_ai_message


@pytest.fixture
async def org(ai_api: Api) -> Org:
    return await ai_api.create_org(members=2)


@pytest.fixture
def client(ai_api: Api) -> httpx.AsyncClient:
    return ai_api.client


async def ask(client: httpx.AsyncClient, org: Org, text: str) -> tuple[str, dict[str, Any]]:
    alice, bob = org.members
    chat = await create_chat(client, alice, bob)
    posted = await post_message(client, alice, chat["id"], text)
    return chat["id"], posted


async def test_lawyer_chain_answer_is_stored_unvalidated(
    org: Org, client: httpx.AsyncClient, llm: ScriptedLLM
) -> None:
    llm.queue(
        Reply.text("Анализ: нужен договор поставки."),
        Reply.text("Черновик: подписывать можно."),
        Reply.text("Итог: договор можно подписать после правки п. 5."),
    )
    chat_id, posted = await ask(client, org, "@@lawyer можно ли подписать договор?")
    assert posted["message"]["kind"] == "user" and len(posted["ai_message_ids"]) == 1
    answer = await wait_ai_message(client, org.members[1], chat_id, posted["ai_message_ids"][0])
    assert answer["ai_status"] == "done", answer
    assert answer["content"] == "Итог: договор можно подписать после правки п. 5."
    assert answer["role_code"] == "lawyer" and answer["kind"] == "ai"
    assert answer["ai_validated"] is False and answer["needs_validation"] is True
    assert answer["reply_to_id"] == posted["message"]["id"]
    steps = answer["meta"]["steps"]
    assert [s["name"] for s in steps] == ["analyse", "draft", "review"]
    assert len(llm.requests) == 3
    assert "шаг 1 из 3: analyse" in llm.requests[0].messages[0]["content"]
    assert "Анализ: нужен договор поставки." in json.dumps(
        llm.requests[1].messages, ensure_ascii=False
    )
    assert "можно ли подписать договор" in llm.requests[0].last_user_text
    assert "юрист" in llm.requests[0].messages[0]["content"].lower()


async def test_role_call_asks_another_role(
    org: Org, client: httpx.AsyncClient, llm: ScriptedLLM
) -> None:
    llm.queue(
        Reply.tool_call("role_call", {"role_code": "lawyer", "question": "Можно ли уволить?"}),
        Reply.text("шаг 1"),
        Reply.text("шаг 2"),
        Reply.text("Юрист: только по ст. 81 ТК РФ."),
        Reply.text("HR: уволить можно только по ст. 81, как сказал юрист."),
    )
    chat_id, posted = await ask(client, org, "@@hr как уволить сотрудника?")
    answer = await wait_ai_message(client, org.members[0], chat_id, posted["ai_message_ids"][0])
    assert answer["ai_status"] == "done", answer
    assert answer["content"] == "HR: уволить можно только по ст. 81, как сказал юрист."
    call = answer["meta"]["tool_calls"][0]
    assert call["name"] == "role_call" and call["result"] == "Юрист: только по ст. 81 ТК РФ."
    assert llm.requests[0].tools == ["calendar", "rag", "role_call"]
    assert "юрист" in llm.requests[1].messages[0]["content"].lower()


async def test_role_call_refuses_cycles(
    org: Org, client: httpx.AsyncClient, llm: ScriptedLLM
) -> None:
    llm.queue(
        Reply.tool_call("role_call", {"role_code": "hr", "question": "сам себе?"}),
        Reply.text("Отвечу сам."),
    )
    chat_id, posted = await ask(client, org, "@@hr вопрос")
    answer = await wait_ai_message(client, org.members[0], chat_id, posted["ai_message_ids"][0])
    assert "цикл" in answer["meta"]["tool_calls"][0]["result"]
    assert answer["content"] == "Отвечу сам."


async def test_multi_agent_supervisor_delegates_and_merges(
    org: Org, client: httpx.AsyncClient, llm: ScriptedLLM
) -> None:
    llm.queue(
        Reply.tool_calls(
            [
                ("ask_accountant", {"question": "Какой НДС?"}),
                ("ask_hr", {"question": "Сколько дней отпуска?"}),
            ]
        ),
        Reply.text("Бухгалтер: НДС 20%."),
        Reply.text("HR: 28 календарных дней."),
        Reply.text("Сводка: НДС 20%, отпуск 28 дней."),
    )
    chat_id, posted = await ask(client, org, "@@chu НДС и отпуск?")
    answer = await wait_ai_message(client, org.members[0], chat_id, posted["ai_message_ids"][0])
    assert answer["ai_status"] == "done", answer
    assert answer["content"] == "Сводка: НДС 20%, отпуск 28 дней."
    assert [s["name"] for s in answer["meta"]["steps"]] == ["delegate:accountant", "delegate:hr"]
    assert {"ask_lawyer", "ask_accountant", "ask_hr"} <= set(llm.requests[0].tools)
    assert "бухгалтер" in llm.requests[1].messages[0]["content"].lower()
    final_request = json.dumps(llm.requests[3].messages, ensure_ascii=False)
    assert "НДС 20%" in final_request and "28 календарных дней" in final_request


async def test_rag_tool_cites_only_own_documents(
    ai_api: Api, org: Org, client: httpx.AsyncClient, llm: ScriptedLLM
) -> None:
    other = await ai_api.create_org(members=0)
    for owner, title, text in (
        (org, "Положение о командировках", "Суточные при командировках составляют 700 рублей."),
        (other, "Чужое положение", "Командировки оплачиваются по 5000 рублей суточных."),
    ):
        response = await client.post(
            f"/api/v1/organizations/{owner.id}/documents",
            headers=owner.admin.headers,
            json={"title": title, "content": text},
        )
        assert response.status_code == 201
    llm.queue(
        Reply.tool_call("rag", {"query": "суточные командировки"}),
        Reply.text("Суточные 700 рублей [1]."),
    )
    chat_id, posted = await ask(client, org, "@@accountant какие суточные?")
    answer = await wait_ai_message(client, org.members[0], chat_id, posted["ai_message_ids"][0])
    result = answer["meta"]["tool_calls"][0]["result"]
    assert "Положение о командировках" in result and "700" in result
    assert "Чужое" not in result and "5000" not in result


async def test_web_tool_says_when_not_configured(
    org: Org, client: httpx.AsyncClient, llm: ScriptedLLM
) -> None:
    llm.queue(Reply.tool_calls([("web", {"query": "курс рубля"})]), Reply.text("Не знаю курса."))
    # chu routes plain tools through its tool node
    chat_id, posted = await ask(client, org, "@@chu какой курс?")
    answer = await wait_ai_message(client, org.members[0], chat_id, posted["ai_message_ids"][0])
    assert "не настроен" in answer["meta"]["tool_calls"][0]["result"]


async def test_several_roles_in_one_message_each_answer_once(
    org: Org, client: httpx.AsyncClient, llm: ScriptedLLM
) -> None:
    llm.set_default(lambda messages: Reply.text("ответ роли"))
    chat_id, posted = await ask(client, org, "@@accountant и @@hr, и ещё раз @@accountant")
    assert len(posted["ai_message_ids"]) == 2
    answers = [
        await wait_ai_message(client, org.members[0], chat_id, mid)
        for mid in posted["ai_message_ids"]
    ]
    assert sorted(a["role_code"] for a in answers) == ["accountant", "hr"]


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (Reply.http_error(500), FAILURE_TEXT[LLMFailure.SERVER_ERROR]),
        (Reply.garbage(), FAILURE_TEXT[LLMFailure.BAD_OUTPUT]),
        (Reply.close_mid_stream("Начинаю отвечать"), FAILURE_TEXT[LLMFailure.CLOSED_MID_ANSWER]),
    ],
    ids=["http-500", "garbage", "closed-mid-stream"],
)
async def test_llm_faults_fail_the_answer_only(
    org: Org, client: httpx.AsyncClient, llm: ScriptedLLM, reply: Reply, reason: str
) -> None:
    llm.queue(reply)
    chat_id, posted = await ask(client, org, "@@accountant посчитай")
    answer = await wait_ai_message(client, org.members[0], chat_id, posted["ai_message_ids"][0])
    assert answer["ai_status"] == "failed" and reason in answer["ai_error"]
    human = await client.get(
        f"/api/v1/chats/{chat_id}/messages/{posted['message']['id']}",
        headers=org.members[1].headers,
    )
    assert human.json()["content"] == "@@accountant посчитай"
    assert human.json()["ai_status"] is None
    # the chat goes on working
    llm.queue(Reply.text("Теперь всё хорошо."))
    again = await post_message(client, org.members[0], chat_id, "@@accountant ещё раз")
    ok = await wait_ai_message(client, org.members[0], chat_id, again["ai_message_ids"][0])
    assert ok["ai_status"] == "done"


async def test_llm_timeout_and_outage_fail_with_reason(
    make_settings,
    session_llm: ScriptedLLM,  # type: ignore[no-untyped-def]
) -> None:
    session_llm.reset()
    session_llm.queue(Reply.hang())
    cases = [
        (
            make_settings(llm_base_url=session_llm.ollama_base_url, llm_timeout_seconds=0.5),
            FAILURE_TEXT[LLMFailure.TIMED_OUT],
        ),
        (
            make_settings(llm_base_url="http://127.0.0.1:9"),
            FAILURE_TEXT[LLMFailure.UNREACHABLE],
        ),
    ]
    for settings, reason in cases:
        async with running_app(settings) as (_, client):
            org = await Api(client, SYSTEM_ADMIN_PASSWORD).create_org(members=2)
            chat_id, posted = await ask(client, org, "@@accountant срочно")
            assert posted["message"]["content"] == "@@accountant срочно"
            answer = await wait_ai_message(
                client, org.members[0], chat_id, posted["ai_message_ids"][0]
            )
            assert answer["ai_status"] == "failed" and reason in answer["ai_error"], answer
            listed = await client.get(
                f"/api/v1/chats/{chat_id}/messages", headers=org.members[0].headers
            )
            assert [m["kind"] for m in listed.json()["items"]] == ["ai", "user"]
    session_llm.reset()


async def test_concurrent_invocations_keep_the_server_responsive(
    org: Org, client: httpx.AsyncClient, llm: ScriptedLLM, ai_app: FastAPI
) -> None:
    llm.set_default(lambda messages: Reply.text("готово", delay=0.3))
    alice, bob = org.members
    chat = await create_chat(client, alice, bob)
    posts = await asyncio.gather(
        *(post_message(client, alice, chat["id"], f"@@accountant вопрос {i}") for i in range(20))
    )
    ai_ids = [p["ai_message_ids"][0] for p in posts]
    await wait_for(lambda: llm.in_flight > 0, timeout=5)
    async with asyncio.timeout(2):
        health = await client.get("/api/v1/health")
    assert health.status_code == 200
    assert llm.in_flight > 0 or ai_app.state.engine.ai_worker.active_jobs > 0
    answers = [await wait_ai_message(client, bob, chat["id"], mid, timeout=30) for mid in ai_ids]
    assert all(a["ai_status"] == "done" for a in answers)
    assert llm.max_in_flight <= 4, "the LLM concurrency limit must hold"
    assert len(llm.requests) == 20


async def test_validation_and_rejection(
    org: Org, client: httpx.AsyncClient, llm: ScriptedLLM
) -> None:
    llm.set_default(lambda messages: Reply.text("черновой ответ"))
    alice, bob = org.members
    chat_id, posted = await ask(client, org, "@@accountant первый")
    first = await wait_ai_message(client, bob, chat_id, posted["ai_message_ids"][0])
    second_post = await post_message(client, alice, chat_id, "@@accountant второй")
    second = await wait_ai_message(client, bob, chat_id, second_post["ai_message_ids"][0])
    base = f"/api/v1/chats/{chat_id}/messages"

    validated = await client.post(f"{base}/{first['id']}/validate", headers=bob.headers)
    assert validated.status_code == 200
    body = validated.json()
    assert body["ai_validated"] is True and body["validated_by"] == bob.id
    assert body["validated_at"] and body["needs_validation"] is False
    rejected = await client.post(f"{base}/{second['id']}/reject", headers=alice.headers)
    assert rejected.json()["validation"] == "rejected" and rejected.json()["ai_validated"] is False

    human = await client.post(f"{base}/{posted['message']['id']}/validate", headers=bob.headers)
    assert human.status_code == 422
    listing = (await client.get(base, headers=bob.headers)).json()["items"]
    flags = {m["id"]: m["needs_validation"] for m in listing}
    assert flags[first["id"]] is False and flags[second["id"]] is True
    assert flags[posted["message"]["id"]] is False


async def test_openai_compatible_provider(
    make_settings,
    session_llm: ScriptedLLM,  # type: ignore[no-untyped-def]
) -> None:
    session_llm.reset()
    session_llm.queue(Reply.tool_call("rag", {"query": "отпуск"}), Reply.text("Ответ через vLLM."))
    settings = make_settings(llm_provider="openai", llm_base_url=session_llm.openai_base_url)
    async with running_app(settings) as (_, client):
        org = await Api(client, SYSTEM_ADMIN_PASSWORD).create_org(members=2)
        chat_id, posted = await ask(client, org, "@@accountant отпуск?")
        answer = await wait_ai_message(client, org.members[0], chat_id, posted["ai_message_ids"][0])
        assert answer["ai_status"] == "done" and answer["content"] == "Ответ через vLLM."
        assert answer["meta"]["usage"]["total_tokens"] > 0
        assert answer["meta"]["tool_calls"][0]["name"] == "rag"
        health = (await client.get("/api/v1/health")).json()
        assert health["llm"]["reachable"] and health["llm"]["model_present"]
    assert {r.protocol for r in session_llm.requests} == {"openai"}
    session_llm.reset()


async def test_sse_stream_delivers_tokens_and_answer(
    org: Org, client: httpx.AsyncClient, llm: ScriptedLLM, ai_app: FastAPI
) -> None:
    from tests.fakes._uvicorn import UvicornRunner

    llm.queue(Reply.text("Потоковый ответ бухгалтера.", chunk_size=5))
    alice, bob = org.members
    chat = await create_chat(client, alice, bob)
    server = UvicornRunner(ai_app)
    port = await server.start()
    events: list[tuple[str, Any]] = []
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as live:
            async with live.stream(
                "GET", f"/api/v1/chats/{chat['id']}/events", headers=bob.headers
            ) as stream:
                assert stream.headers["content-type"].startswith("text/event-stream")
                kind = None
                posted: dict[str, Any] | None = None
                async with asyncio.timeout(10):
                    async for line in stream.aiter_lines():
                        if line.startswith("event:"):
                            kind = line.split(":", 1)[1].strip()
                        elif line.startswith("data:") and kind:
                            data = json.loads(line.split(":", 1)[1])
                            events.append((kind, data))
                            if kind == "ready":
                                posted = await post_message(
                                    client, alice, chat["id"], "@@accountant поток?"
                                )
                            if (
                                kind == "message.updated"
                                and posted
                                and data["id"] == posted["ai_message_ids"][0]
                                and data["ai_status"] == "done"
                            ):
                                break
    finally:
        await server.stop()
    kinds = [k for k, _ in events]
    assert kinds[0] == "ready" and "message.created" in kinds
    tokens = "".join(d["delta"] for k, d in events if k == "ai.token")
    assert tokens == "Потоковый ответ бухгалтера."
    assert events[-1][1]["content"] == "Потоковый ответ бухгалтера."


async def test_work_left_by_a_dead_process_is_resumed_or_failed(
    make_settings,
    session_llm: ScriptedLLM,
    database_url: str,  # type: ignore[no-untyped-def]
) -> None:
    import asyncpg

    session_llm.reset()
    session_llm.queue(Reply.hang(), Reply.hang())
    crashed = make_settings(
        llm_base_url=session_llm.ollama_base_url, llm_timeout_seconds=30, ai_lease_seconds=0.6
    )
    async with running_app(crashed) as (_, client):
        org = await Api(client, SYSTEM_ADMIN_PASSWORD).create_org(members=2)
        chat_id, resumed = await ask(client, org, "@@accountant первый")
        _, given_up = await ask(client, org, "@@accountant второй")
        await wait_for(lambda: session_llm.in_flight == 2, timeout=5)
    # the process is gone with both answers `running`; their leases expire on their own.
    # A second process claims the second answer once its lease expires, and dies too.
    second_id = given_up["ai_message_ids"][0]
    pool = await asyncpg.connect(database_url)  # the schema's owner: no tenant context
    try:
        # as another process that claimed it and died: one more attempt spent
        bumped = await pool.fetchval(
            "UPDATE ai_jobs SET attempts = attempts + 1 WHERE message_id = $1 RETURNING attempts",
            second_id,
        )
        assert bumped == 2
    finally:
        await pool.close()

    session_llm.reset()
    session_llm.set_default(lambda messages: Reply.text("Ответ после перезапуска."))
    restarted = make_settings(
        llm_base_url=session_llm.ollama_base_url,
        ai_recovery_enabled=True,
        ai_recovery_interval_seconds=0.1,
        ai_max_attempts=2,
    )
    async with running_app(restarted) as (app, client):
        messages = app.state.engine.storages.messages
        answer = await wait_ai_message(
            client, org.members[0], chat_id, resumed["ai_message_ids"][0]
        )
        assert answer["ai_status"] == "done" and answer["content"] == "Ответ после перезапуска."
        failed = await wait_for(lambda: _failed(messages, org.id, second_id), timeout=5)
        assert "interrupted 2 times" in failed.ai_error
    assert len(session_llm.requests) == 1, "the given-up answer must not reach the LLM again"
    session_llm.reset()


async def _failed(messages: Any, org_id: str, message_id: int) -> Any:
    from uuid import UUID

    message = await messages.get_by_id(UUID(org_id), message_id)
    return message if message.ai_status and message.ai_status.value == "failed" else None
