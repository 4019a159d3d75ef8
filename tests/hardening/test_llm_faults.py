"""LLM faults mixed with healthy answers, at once, in two organizations.

tests/agents/test_ai_answers.py checks each fault alone; here hangs, garbage, HTTP 500 and
connections closed mid-stream hit at the same time as good answers: every faulty answer ends
`failed` with its reason, every good one `done`, no answer is left pending or running, and
the rest of the API keeps answering quickly meanwhile.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable
from typing import Any

from engine.config import Settings
from engine.llm.gate import FAILURE_TEXT, LLMFailure
from tests.conftest import SYSTEM_ADMIN_PASSWORD, running_app
from tests.fakes.llm_server import Reply, ScriptedLLM
from tests.support.api import Api, Org, create_chat, post_message, wait_ai_message
from tests.support.figures import record

FAULTS: dict[str, tuple[Reply, str]] = {
    "hang": (Reply.hang(), FAILURE_TEXT[LLMFailure.TIMED_OUT]),
    "garbage": (Reply.garbage(), FAILURE_TEXT[LLMFailure.BAD_OUTPUT]),
    "http500": (Reply.http_error(500), FAILURE_TEXT[LLMFailure.SERVER_ERROR]),
    "midstream": (Reply.close_mid_stream("Начинаю"), FAILURE_TEXT[LLMFailure.CLOSED_MID_ANSWER]),
}
PER_KIND = 4


async def test_mixed_llm_faults_fail_only_their_answers(
    make_settings: Callable[..., Settings], llm: ScriptedLLM
) -> None:
    for kind, (reply, _) in FAULTS.items():
        llm.add_rule(f"fault-{kind}", reply, repeat=True)
    llm.set_default(lambda messages: Reply.text("Хороший ответ.", delay=0.05))
    settings = make_settings(
        llm_base_url=llm.ollama_base_url, llm_timeout_seconds=1.0, llm_max_concurrency=4
    )
    async with running_app(settings) as (app, client):
        api = Api(client, SYSTEM_ADMIN_PASSWORD)
        orgs = [await api.create_org(members=2), await api.create_org(members=2)]
        chats = [(org, await create_chat(client, *org.members)) for org in orgs]
        posts: list[tuple[str, Org, str, dict[str, Any]]] = []
        kinds = [*FAULTS, "ok"]
        jobs = []
        for i in range(PER_KIND):
            for k, kind in enumerate(kinds):
                org, chat = chats[(i + k) % len(chats)]
                text = (
                    f"@@accountant вопрос {i} fault-{kind}"
                    if kind != "ok"
                    else f"@@accountant вопрос {i}"
                )
                jobs.append((kind, org, chat["id"], text))
        posted = await asyncio.gather(
            *(post_message(client, org.members[0], chat_id, text) for _, org, chat_id, text in jobs)
        )
        for (kind, org, chat_id, _), body in zip(jobs, posted, strict=True):
            posts.append((kind, org, chat_id, body))

        # the rest of the API while the model misbehaves
        latencies = []
        for org, chat in chats:
            for _ in range(10):
                started = time.monotonic()
                listed = await client.get("/api/v1/chats", headers=org.members[1].headers)
                sent = await client.post(
                    f"/api/v1/chats/{chat['id']}/messages",
                    headers=org.members[1].headers,
                    json={"content": "обычное сообщение"},
                )
                latencies.append(time.monotonic() - started)
                assert listed.status_code == 200 and sent.status_code == 201

        outcomes: collections.Counter[str] = collections.Counter()
        for kind, org, chat_id, body in posts:
            answer = await wait_ai_message(
                client, org.members[1], chat_id, body["ai_message_ids"][0], timeout=60
            )
            if kind == "ok":
                assert answer["ai_status"] == "done", answer
                assert answer["content"] == "Хороший ответ."
            else:
                reason = FAULTS[kind][1]
                assert answer["ai_status"] == "failed", (kind, answer)
                assert reason in (answer["ai_error"] or ""), (kind, answer["ai_error"])
            outcomes[f"{kind}:{answer['ai_status']}"] += 1
            human = await client.get(
                f"/api/v1/chats/{chat_id}/messages/{body['message']['id']}",
                headers=org.members[1].headers,
            )
            assert human.json()["content"] == body["message"]["content"]
        engine = app.state.engine
        unfinished = await engine.db.system("ai worker").fetchval(
            "SELECT count(*) FROM messages WHERE kind = 'ai' AND ai_status IN "
            "('pending', 'running') AND org_id = ANY($1::uuid[])",
            [o.id for o in orgs],
        )
        assert unfinished == 0
    record(
        "faults: LLM hangs / garbage / HTTP 500 / mid-stream close, mixed with good answers",
        ai_requests=len(posts),
        failed_with_reason=sum(v for k, v in outcomes.items() if k.endswith(":failed")),
        done=outcomes["ok:done"],
        stuck=unfinished,
        other_requests=len(latencies) * 2,
        other_max_latency_ms=round(max(latencies) * 1000),
    )
    assert max(latencies) < 2.0, "plain API calls must not wait for the LLM"
    llm.reset()
