"""The fakes, exercised through the real client libraries over loopback sockets."""

from __future__ import annotations

import asyncio
import time
import warnings
from collections.abc import AsyncIterator
from email.message import EmailMessage
from typing import Any

import aiosmtplib
import httpx
import ollama
import openai
import pytest
import pytest_asyncio
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessageChunk
from langchain_core.tools import tool
from langchain_ollama import ChatOllama
from langchain_openai import ChatOpenAI

from .llm_server import Reply, ScriptedLLM
from .smtp_server import FakeSMTP
from .telegram_server import FakeTelegram
from .waiting import wait_for, wait_for_len

pytestmark = pytest.mark.asyncio

MODEL = "qwen2.5:7b"
TOKEN = "123456:TEST-token"
PROTOCOLS = ["ollama", "openai"]


@tool
def get_weather(city: str) -> str:
    """Return the current weather for a city."""
    return f"В городе {city} солнечно, +20"


@pytest_asyncio.fixture
async def llm() -> AsyncIterator[ScriptedLLM]:
    async with ScriptedLLM() as server:
        yield server


@pytest_asyncio.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(token=TOKEN) as server:
        yield server


@pytest_asyncio.fixture
async def smtp() -> AsyncIterator[FakeSMTP]:
    async with FakeSMTP() as server:
        yield server


def chat_model(protocol: str, llm: ScriptedLLM, timeout: float = 5.0, **kw: Any) -> BaseChatModel:
    if protocol == "ollama":
        return ChatOllama(
            base_url=llm.ollama_base_url, model=MODEL, client_kwargs={"timeout": timeout}, **kw
        )
    # max_retries=0: the openai client retries 5xx/timeouts twice by default, which would
    # consume extra scripted replies and slow tests down.
    return ChatOpenAI(
        base_url=llm.openai_base_url,
        api_key="x",
        model=MODEL,
        timeout=timeout,
        max_retries=0,
        **kw,
    )


async def collect(model: Any, prompt: str) -> AIMessageChunk:
    total: AIMessageChunk | None = None
    async for chunk in model.astream(prompt):
        total = chunk if total is None else total + chunk
    assert total is not None
    return total


# -- LLM: happy paths -------------------------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_invoke_answers_last_user_message_by_default(protocol: str, llm: ScriptedLLM):
    answer = await chat_model(protocol, llm).ainvoke("Сколько дней в отпуске?")

    assert answer.content == "Ответ: Сколько дней в отпуске?"
    assert answer.usage_metadata and answer.usage_metadata["input_tokens"] > 0
    [request] = llm.requests
    assert request.protocol == protocol
    assert request.messages == [{"role": "user", "content": "Сколько дней в отпуске?"}]
    assert request.model == MODEL
    assert request.stream is (protocol == "ollama")  # ChatOllama always streams


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_astream_yields_several_chunks(protocol: str, llm: ScriptedLLM):
    llm.queue(Reply.text("Один два три четыре", chunk_size=4))
    model = chat_model(protocol, llm)

    pieces = [c.content async for c in model.astream("считай") if c.content]

    assert pieces == ["Один", " два", " три", " чет", "ыре"]
    assert llm.requests[0].stream


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_paced_stream_arrives_piece_by_piece(protocol: str, llm: ScriptedLLM):
    llm.queue(Reply.text("раз два три", pace=0.1))
    model = chat_model(protocol, llm)

    arrivals = [(c.content, time.time()) async for c in model.astream("считай") if c.content]

    assert [text for text, _ in arrivals] == ["раз ", "два ", "три"]
    assert arrivals[2][1] - arrivals[0][1] >= 0.18
    sent_at = [at for at, piece in llm.sent_pieces if "три".encode() in piece]
    assert len(sent_at) == 1 and sent_at[0] <= arrivals[2][1]


async def test_openai_stream_reports_usage_when_asked(llm: ScriptedLLM):
    model = chat_model("openai", llm, stream_usage=True)

    total = await collect(model, "Привет")

    assert total.content == "Ответ: Привет"
    assert total.usage_metadata and total.usage_metadata["total_tokens"] > 0
    assert total.response_metadata["finish_reason"] == "stop"


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("streaming", [False, True])
async def test_bind_tools_returns_parsed_tool_calls(protocol: str, streaming: bool, llm):
    llm.queue(
        Reply.tool_calls([("get_weather", {"city": "Москва"}), ("get_weather", {"city": "Казань"})])
    )
    model = chat_model(protocol, llm).bind_tools([get_weather])

    answer = await (collect(model, "Погода?") if streaming else model.ainvoke("Погода?"))

    assert [(c["name"], c["args"]) for c in answer.tool_calls] == [
        ("get_weather", {"city": "Москва"}),
        ("get_weather", {"city": "Казань"}),
    ]
    assert all(c["id"] for c in answer.tool_calls)
    assert llm.requests[0].tools == ["get_weather"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_react_agent_round_trip(protocol: str, llm: ScriptedLLM):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # create_react_agent is deprecated in langgraph 1.x
        from langgraph.prebuilt import create_react_agent

        agent = create_react_agent(chat_model(protocol, llm), [get_weather])
    llm.add_rule("погода", Reply.tool_call("get_weather", {"city": "Москва"}))
    llm.set_default(lambda msgs: "Итог: " + msgs[-1]["content"])

    result = await agent.ainvoke({"messages": [("user", "Какая погода в Москве?")]})

    assert result["messages"][-1].content == "Итог: В городе Москва солнечно, +20"
    assert len(llm.requests) == 2
    assert llm.requests[1].messages[-1] == {
        "role": "tool",
        "content": "В городе Москва солнечно, +20",
    }


async def test_raw_clients_and_model_endpoints(llm: ScriptedLLM):
    llm.queue(Reply.tool_call("get_weather", {"city": "Тверь"}))
    async with ollama.AsyncClient(host=llm.ollama_base_url) as client:
        assert [m.model for m in (await client.list()).models] == [MODEL]
        assert "tools" in ((await client.show(MODEL)).capabilities or [])
        reply = await client.chat(MODEL, [{"role": "user", "content": "?"}], stream=False)
    assert reply.done and reply.message.tool_calls
    assert reply.message.tool_calls[0].function.arguments == {"city": "Тверь"}
    assert llm.requests[0].stream is False
    async with httpx.AsyncClient(base_url=llm.ollama_base_url) as http:
        assert (await http.get("/api/version")).json()["version"]
    async with openai.AsyncOpenAI(base_url=llm.openai_base_url, api_key="x") as oai:
        assert [m.id async for m in oai.models.list()] == [MODEL]


async def test_unknown_model_is_404(llm: ScriptedLLM):
    with pytest.raises(ollama.ResponseError) as err:
        await ChatOllama(base_url=llm.ollama_base_url, model="llama3").ainvoke("hi")
    assert err.value.status_code == 404


async def test_threaded_server_serves_blocking_calls():
    """validate_model_on_init makes a *sync* HTTP call; an in-loop server would deadlock."""
    async with ScriptedLLM(threaded=True) as llm:
        model = ChatOllama(base_url=llm.ollama_base_url, model=MODEL, validate_model_on_init=True)
        assert (await model.ainvoke("привет")).content == "Ответ: привет"


# -- LLM: failures ----------------------------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_http_error_raises_in_client(protocol: str, llm: ScriptedLLM):
    llm.queue(Reply.http_error(503, message="model is loading"))
    expected = ollama.ResponseError if protocol == "ollama" else openai.APIStatusError

    with pytest.raises(expected) as err:
        await chat_model(protocol, llm).ainvoke("hi")

    assert err.value.status_code == 503
    assert "model is loading" in str(err.value)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_hang_hits_client_timeout(protocol: str, llm: ScriptedLLM):
    llm.queue(Reply.hang())
    expected = httpx.TimeoutException if protocol == "ollama" else openai.APITimeoutError

    with pytest.raises(expected):
        await chat_model(protocol, llm, timeout=0.3).ainvoke("hi")

    await wait_for(lambda: llm.in_flight == 0)  # the abandoned request is noticed


async def test_hanging_request_is_released_when_server_stops():
    llm = await ScriptedLLM().start()
    llm.queue(Reply.hang())
    async with httpx.AsyncClient(timeout=None) as http:
        body = {"model": MODEL, "messages": [{"role": "user", "content": "x"}]}
        pending = asyncio.create_task(http.post(f"{llm.ollama_base_url}/api/chat", json=body))
        await wait_for(lambda: llm.in_flight == 1)
        await asyncio.wait_for(llm.stop(), timeout=2)
        assert (await pending).status_code == 500


async def test_kill_cuts_a_paced_answer_mid_stream_at_once():
    llm = await ScriptedLLM().start()
    llm.queue(Reply.text("раз два три четыре пять шесть семь", pace=0.5))
    received: list[str] = []

    async def read() -> None:
        async for chunk in chat_model("ollama", llm, timeout=30).astream("hi"):
            received.append(str(chunk.content))

    reading = asyncio.create_task(read())
    await wait_for(lambda: received)
    started = time.monotonic()
    await llm.kill()
    with pytest.raises(httpx.RemoteProtocolError):
        await asyncio.wait_for(reading, timeout=5)
    assert time.monotonic() - started < 1.5, "kill waited for the answer to finish"
    assert "".join(received).strip() in ("раз", "раз два")
    with pytest.raises(httpx.ConnectError):
        await chat_model("ollama", llm).ainvoke("hi")


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_close_mid_stream_raises_after_partial_output(protocol: str, llm: ScriptedLLM):
    llm.queue(Reply.close_mid_stream("Начало ответа"))
    expected = httpx.RemoteProtocolError if protocol == "ollama" else openai.APIError
    received: list[str] = []

    with pytest.raises(expected):
        async for chunk in chat_model(protocol, llm).astream("hi"):
            received.append(str(chunk.content))

    assert "".join(received) == "Начало ответа"


async def test_close_mid_body_without_streaming(llm: ScriptedLLM):
    llm.queue(Reply.close_mid_stream("Начало"))
    with pytest.raises(openai.APIConnectionError):
        await chat_model("openai", llm).ainvoke("hi")


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("streaming", [False, True])
async def test_garbage_body_raises(protocol: str, streaming: bool, llm: ScriptedLLM):
    llm.queue(Reply.garbage())
    model = chat_model(protocol, llm)

    with pytest.raises(ValueError):  # json.JSONDecodeError
        await (collect(model, "hi") if streaming else model.ainvoke("hi"))


# -- LLM: scripting ---------------------------------------------------------------------


async def test_rules_queue_and_default_precedence(llm: ScriptedLLM):
    model = chat_model("ollama", llm)

    async def ask(text: str) -> str:
        return str((await model.ainvoke(text)).content)

    llm.queue(Reply.text("q1"), Reply.text("q2"))
    llm.add_rule("ОТПУСК", Reply.text("r1"), Reply.text("r2"))
    llm.add_rule("зарплата", Reply.text("всегда"), repeat=True)
    llm.add_rule(lambda msgs: len(msgs) > 1, Reply.text("история"))
    llm.set_default(Reply.text("по умолчанию"))

    assert await ask("про отпуск") == "r1"
    assert await ask("И снова отпуск") == "r2"
    assert await ask("опять отпуск") == "q1"  # rule exhausted -> queue
    assert [await ask("зарплата?") for _ in range(3)] == ["всегда"] * 3
    assert await ask("что-то") == "q2"
    assert await ask("что-то") == "по умолчанию"
    assert await model.ainvoke([("system", "ты бот"), ("user", "x")]) is not None
    assert llm.requests[-1].reply == Reply.text("история")
    assert llm.pending == 0

    llm.reset()
    assert await ask("сброс") == "Ответ: сброс" and len(llm.requests) == 1


async def test_match_any_looks_at_every_message(llm: ScriptedLLM):
    llm.add_rule("секрет", Reply.text("нашёл"), match_any=True)
    answer = await chat_model("openai", llm).ainvoke([("system", "Секрет: 42"), ("user", "?")])
    assert answer.content == "нашёл"


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_delayed_replies_run_concurrently(protocol: str, llm: ScriptedLLM):
    llm.set_default(Reply.text("медленно", delay=0.3))
    model = chat_model(protocol, llm)
    started = time.monotonic()

    answers = await asyncio.gather(*(model.ainvoke(f"q{i}") for i in range(3)))

    assert [a.content for a in answers] == ["медленно"] * 3
    assert llm.max_in_flight == 3
    assert time.monotonic() - started < 0.85
    assert llm.in_flight == 0


# -- Telegram ---------------------------------------------------------------------------


async def test_telegram_send_message_and_webhooks(tg: FakeTelegram):
    async with httpx.AsyncClient(base_url=f"{tg.base_url}/bot{TOKEN}") as bot:
        me = (await bot.get("/getMe")).json()
        sent = await bot.post(
            "/sendMessage", json={"chat_id": 42, "text": "<b>Привет</b>", "parse_mode": "HTML"}
        )
        form = await bot.post("/sendMessage", data={"chat_id": "-100", "text": "форма"})
        hook = await bot.post("/setWebhook", json={"url": "https://example.test/hook"})

    assert me["ok"] and me["result"]["is_bot"] and me["result"]["id"] == 123456
    assert sent.json()["result"]["chat"]["id"] == 42
    assert form.json()["result"]["message_id"] == 2
    assert hook.json() == {"ok": True, "result": True}
    assert tg.webhook_url == "https://example.test/hook"
    assert [(m.chat_id, m.text, m.parse_mode) for m in tg.sent] == [
        (42, "<b>Привет</b>", "HTML"),
        (-100, "форма", None),
    ]
    assert tg.texts(42) == ["<b>Привет</b>"]


async def test_telegram_wrong_token_and_bad_request(tg: FakeTelegram):
    async with httpx.AsyncClient(base_url=tg.base_url) as http:
        wrong = await http.post("/botWRONG/sendMessage", json={"chat_id": 1, "text": "x"})
        empty = await http.post(f"/bot{TOKEN}/sendMessage", json={"chat_id": 1})

    assert wrong.status_code == 401
    assert wrong.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}
    assert empty.status_code == 400 and "text is empty" in empty.json()["description"]
    assert tg.sent == []


async def test_telegram_scripted_failures(tg: FakeTelegram):
    tg.fail_next(429, retry_after=7)
    tg.fail_next(403, count=2)
    url = f"{tg.base_url}/bot{TOKEN}/sendMessage"
    async with httpx.AsyncClient() as http:
        replies = [await http.post(url, json={"chat_id": 5, "text": "hi"}) for _ in range(4)]

    assert [r.status_code for r in replies] == [429, 403, 403, 200]
    assert replies[0].json() == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 7",
        "parameters": {"retry_after": 7},
    }
    assert replies[1].json()["description"] == "Forbidden: bot was blocked by the user"
    assert len(tg.sent) == 1 and [c.status for c in tg.calls] == [429, 403, 403, 200]


async def test_telegram_down_and_up_keep_the_url(tg: FakeTelegram):
    url = f"{tg.base_url}/bot{TOKEN}/getMe"
    async with httpx.AsyncClient() as http:
        await tg.down()
        with pytest.raises(httpx.ConnectError):
            await http.get(url)
        await tg.up()
        assert (await http.get(url)).json()["ok"] is True
    assert url.startswith(tg.base_url)


# -- SMTP -------------------------------------------------------------------------------


def make_mail(subject: str = "Отчёт за неделю") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "assistant@corp.test"
    message["To"] = "Иван <ivan@corp.test>, anna@corp.test"
    message["Subject"] = subject
    message.set_content("Текстовая версия")
    message.add_alternative("<p>HTML версия</p>", subtype="html")
    return message


async def send(smtp: FakeSMTP, message: EmailMessage) -> Any:
    return await aiosmtplib.send(
        message, hostname=smtp.host, port=smtp.port, timeout=5, local_hostname="client.test"
    )


async def test_smtp_receives_plain_and_html(smtp: FakeSMTP):
    await send(smtp, make_mail())

    await wait_for_len(smtp.messages, 1)
    [mail] = smtp.messages
    assert mail.subject == "Отчёт за неделю"
    assert mail.from_ == "assistant@corp.test" and mail.mail_from == "assistant@corp.test"
    assert mail.to == ["ivan@corp.test", "anna@corp.test"] == mail.rcpt_tos
    assert mail.text is not None and mail.text.strip() == "Текстовая версия"
    assert mail.html is not None and mail.html.strip() == "<p>HTML версия</p>"


async def test_smtp_transient_rcpt_failure_then_success(smtp: FakeSMTP):
    smtp.fail_next(451, "4.7.1 Greylisted")

    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as err:
        await send(smtp, make_mail())
    assert {e.code for e in err.value.recipients} == {451}

    await send(smtp, make_mail("retry"))
    assert [m.subject for m in smtp.messages] == ["retry"]
    assert smtp.rejected == [(451, "assistant@corp.test")]


async def test_smtp_permanent_data_failure(smtp: FakeSMTP):
    smtp.fail_next(554, "5.7.1 Spam detected", at="data")

    with pytest.raises(aiosmtplib.SMTPDataError) as err:
        await send(smtp, make_mail())

    assert err.value.code == 554 and "Spam" in err.value.message
    assert smtp.messages == []


async def test_smtp_down_and_up_on_same_port(smtp: FakeSMTP):
    port = smtp.port
    await smtp.down()
    with pytest.raises(aiosmtplib.SMTPConnectError):
        await send(smtp, make_mail())
    await smtp.up()
    await send(smtp, make_mail())
    assert smtp.port == port and len(smtp.messages) == 1


# -- waiting helpers --------------------------------------------------------------------


async def test_wait_for_returns_value_or_times_out():
    box: list[int] = []
    asyncio.get_running_loop().call_later(0.05, box.append, 1)
    assert await wait_for(lambda: box) == [1]
    with pytest.raises(TimeoutError, match="got 1"):
        await wait_for_len(box, 2, timeout=0.05)
