"""The web client end to end: Debian's chromium (Playwright) against a live engine.

One engine process serves the built client (WEB_DIST_DIR) and the API, with the scripted LLM
and a fast scheduler. Organizations, users and chats are made here through the public API and
handed to Playwright in a JSON file; each spec in web/e2e/tests/ is one run of
`npx playwright test`. A small control server lets a spec ask for what only this side can
do (restart the engine). Screenshots land in test-artifacts/screenshots/.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.conftest import SYSTEM_ADMIN_PASSWORD
from tests.fakes._uvicorn import UvicornRunner
from tests.fakes.llm_server import Message, Reply, ScriptedLLM
from tests.support.api import Account, Api, create_chat, post_message, wait_ai_message
from tests.support.browser import (
    DIST_DIR,
    E2E_DIR,
    PlaywrightRun,
    ensure_chromium,
    ensure_client_and_runner,
    run_playwright,
)
from tests.support.database import create_database, drop_database
from tests.support.engine_process import EngineProcess, engine_env

pytestmark = pytest.mark.slow

LAWYER_ANSWER = (
    "**Короткий ответ:** договор поставки можно расторгнуть в одностороннем порядке, "
    "если это прямо предусмотрено договором (ст. 450.1 ГК РФ). Направьте контрагенту "
    "письменное уведомление и сохраните подтверждение его получения."
)
CALENDAR_ANSWER = "Сводка к планёрке: три договора ждут подписи, один счёт просрочен."
XSS_MARKDOWN = (
    "Проверка разметки: <img src=x onerror=\"window.__xss='ai-img'\"> и "
    "[опасная ссылка](javascript:window.__xss='ai-link') и "
    "<a href=\"javascript:window.__xss='ai-a'\">вторая ссылка</a> "
    "<script>window.__xss='ai-script'</script> **жирный текст** конец."
)
PROPOSED_EVENT = {
    "action": "create",
    "title": "Сверка с банком",
    "starts_at": "2026-12-20T09:00:00Z",
}
PROPOSAL_ANSWER = "Я предложил создать событие «Сверка с банком»; примените его, если согласны."
XSS_USER_IMG = "<img src=x onerror=\"window.__xss='user-img';alert('xss')\">"
XSS_USER_LINK = "[нажми меня](javascript:window.__xss='user-link')"


def scripted_answer(messages: list[Message]) -> Reply:
    """The fake model: slow enough to watch it type; marked prompts get marked answers."""
    everything = " ".join(message["content"] for message in messages)
    if "proposal-probe" in everything:
        if messages[-1].get("role") == "tool":
            return Reply.text(PROPOSAL_ANSWER)
        return Reply.tool_call("calendar", PROPOSED_EVENT)
    if "xss-probe" in everything:
        return Reply.text(XSS_MARKDOWN)
    if "планёрк" in everything:
        return Reply.text(CALENDAR_ANSWER)
    return Reply.text(LAWYER_ANSWER, pace=0.08)


@dataclass
class Stack:
    engine: EngineProcess
    llm: ScriptedLLM
    client: httpx.AsyncClient
    accounts: dict[str, Account] = field(default_factory=dict)
    orgs: dict[str, str] = field(default_factory=dict)  # account name -> organization slug
    chats: dict[str, dict[str, Any]] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="module")
def browser_ready() -> None:
    ensure_client_and_runner()
    ensure_chromium()


@pytest.fixture(scope="module")
async def e2e_database(pg_admin_dsn: str, browser_ready: None) -> AsyncIterator[str]:
    dsn = await create_database(pg_admin_dsn, prefix="rugpt_e2e")
    yield dsn
    await drop_database(pg_admin_dsn, dsn)


@pytest.fixture(scope="module")
def e2e_workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e")


@pytest.fixture(scope="module")
async def stack(e2e_database: str, e2e_workdir: Path) -> AsyncIterator[Stack]:
    llm = ScriptedLLM()
    llm.set_default(scripted_answer)
    await llm.start()
    engine = EngineProcess(
        engine_env(
            e2e_database,
            llm.ollama_base_url,
            WEB_DIST_DIR=str(DIST_DIR),
            SCHEDULER_ENABLED="true",
            SCHEDULER_INTERVAL_SECONDS="1",
            LOGIN_MAX_FAILURES_PER_ACCOUNT="1000",
            LOGIN_MAX_FAILURES_PER_IP="1000",
            AI_RECOVERY_INTERVAL_SECONDS="2",
            NOTIFICATION_DISPATCH_INTERVAL_SECONDS="1",
        ),
        e2e_workdir,
    )
    try:
        await engine.start()
        async with httpx.AsyncClient(base_url=engine.base_url, timeout=30) as client:
            built = Stack(engine=engine, llm=llm, client=client)
            await seed(built)
            yield built
    finally:
        await engine.stop()
        await llm.stop()


async def seed(stack: Stack) -> None:
    """Two organizations, their people and the chats the specs open."""
    api = Api(stack.client, SYSTEM_ADMIN_PASSWORD)
    acme = await api.create_org(members=0)
    globex = await api.create_org(members=0)
    stack.accounts["boss"] = acme.admin
    stack.accounts["alice"] = await api.create_member(acme, "alice", full_name="Алиса Петрова")
    stack.accounts["bob"] = await api.create_member(acme, "bob", full_name="Борис Смирнов")
    stack.accounts["carol"] = await api.create_member(globex, "carol", full_name="Карина Ли")
    stack.accounts["globex_boss"] = globex.admin
    stack.accounts["root"] = await api.system_admin()
    stack.orgs = {
        "root": "system",
        "boss": acme.slug,
        "alice": acme.slug,
        "bob": acme.slug,
        "carol": globex.slug,
        "globex_boss": globex.slug,
    }
    alice, bob = stack.accounts["alice"], stack.accounts["bob"]
    for name, title in (
        ("lawyer", "Договоры поставки"),
        ("xss", "Проверка разметки"),
        ("restart", "Отдел продаж"),
        ("proposal", "Бухгалтерия"),
    ):
        stack.chats[name] = await create_chat(stack.client, alice, bob, title=title)
    await create_chat(stack.client, stack.accounts["carol"], title="Внутренний чат Globex")

    xss_chat = stack.chats["xss"]["id"]
    await post_message(stack.client, bob, xss_chat, XSS_USER_IMG)
    await post_message(stack.client, bob, xss_chat, XSS_USER_LINK)
    asked = await post_message(stack.client, bob, xss_chat, "@@lawyer xss-probe")
    await wait_ai_message(stack.client, bob, xss_chat, asked["ai_message_ids"][0], timeout=30)
    stack.texts.update(
        xss_user_img=XSS_USER_IMG,
        xss_user_link=XSS_USER_LINK,
        lawyer_answer=LAWYER_ANSWER,
        calendar_answer=CALENDAR_ANSWER,
        proposal_answer=PROPOSAL_ANSWER,
        proposed_title=PROPOSED_EVENT["title"],
    )


@pytest.fixture(scope="module")
async def control_url(stack: Stack) -> AsyncIterator[str]:
    """What a spec cannot do from the browser, done here on request."""

    async def restart_engine(request: Request) -> JSONResponse:
        body = await request.json()
        chat_id = stack.chats[body.get("chat", "restart")]["id"]
        bob = stack.accounts["bob"]
        before = f"Сообщение перед перезапуском {body.get('tag', '')}".strip()
        await post_message(stack.client, bob, chat_id, before)
        await stack.engine.kill()
        await stack.engine.start()
        # Posted at once, while the browser is still reconnecting.
        after = [f"Сообщение после перезапуска №{n}" for n in range(1, 4)]
        for text in after:
            await post_message(stack.client, bob, chat_id, text)
        return JSONResponse({"before": [before], "after": after})

    async def post_as(request: Request) -> JSONResponse:
        body = await request.json()
        author = stack.accounts[body["as"]]
        posted = await post_message(
            stack.client, author, stack.chats[body["chat"]]["id"], body["content"]
        )
        return JSONResponse(posted)

    runner = UvicornRunner(
        Starlette(
            routes=[
                Route("/restart-engine", restart_engine, methods=["POST"]),
                Route("/post", post_as, methods=["POST"]),
            ]
        )
    )
    await runner.start()
    try:
        yield f"http://127.0.0.1:{runner.port}"
    finally:
        await runner.stop()


@pytest.fixture(scope="module")
def seed_file(stack: Stack, control_url: str, e2e_workdir: Path) -> Iterator[Path]:
    path = e2e_workdir / "seed.json"
    path.write_text(
        json.dumps(
            {
                "accounts": {
                    name: {
                        "id": who.id,
                        "username": who.username,
                        "password": who.password,
                        "organization": stack.orgs[name],
                    }
                    for name, who in stack.accounts.items()
                },
                "chats": {
                    name: {"id": chat["id"], "title": chat["title"]}
                    for name, chat in stack.chats.items()
                },
                "texts": stack.texts,
                "controlUrl": control_url,
                "apiBase": f"{stack.engine.base_url}/api/v1",
            },
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    yield path


SPECS = sorted(spec.name.split(".")[0] for spec in (E2E_DIR / "tests").glob("*.spec.ts"))


@pytest.fixture(scope="module")
async def browser_run(stack: Stack, seed_file: Path) -> PlaywrightRun:
    """Every spec in one Playwright run (one Node start, one browser), in file order."""
    return await run_playwright(
        {"E2E_BASE_URL": stack.engine.base_url, "E2E_DATA": str(seed_file)}, timeout=300
    )


@pytest.mark.parametrize("spec", SPECS)
def test_browser(spec: str, browser_run: PlaywrightRun) -> None:
    outcome = browser_run.outcome(spec)
    assert not outcome.failed, (
        f"{spec}: " + "\n".join(outcome.failed) + f"\n\n{browser_run.output[-6000:]}"
    )
    assert outcome.passed or outcome.skipped, (
        f"{spec}: Playwright reported no test:\n{browser_run.output[-6000:]}"
    )
    if not outcome.passed:
        pytest.skip("; ".join(outcome.skipped))
    for reason in outcome.skipped:
        warnings.warn(f"browser test skipped in {spec}: {reason}", stacklevel=1)
