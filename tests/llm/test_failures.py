"""Every provider's failures map to one reason and a Russian sentence, by exception type.

The real clients (ChatOllama, ChatOpenAI — the latter also for `local`, configured as the
engine configures it for the managed llama.cpp server) talk to the scripted LLM server,
which hangs, answers 500, sends garbage, closes mid-stream or does not know the model; a
closed port is the unreachable server.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from langchain_core.messages import HumanMessage

from engine.config import Settings
from engine.llm.factory import build_chat_model
from engine.llm.gate import FAILURE_TEXT, LLMError, LLMFailure, LLMGate
from engine.llm.local_server import free_loopback_port
from tests.conftest import SYSTEM_ADMIN_PASSWORD, running_app
from tests.fakes.llm_server import Reply, ScriptedLLM
from tests.support.api import Api, create_chat, post_message, wait_ai_message

PROVIDERS = ["ollama", "openai", "local"]
FAILURES: dict[LLMFailure, Reply | None] = {
    LLMFailure.UNREACHABLE: None,
    LLMFailure.TIMED_OUT: Reply.hang(),
    LLMFailure.CLOSED_MID_ANSWER: Reply.close_mid_stream("Начинаю отвечать"),
    LLMFailure.SERVER_ERROR: Reply.http_error(500),
    LLMFailure.MODEL_MISSING: Reply.text("не дойдёт до модели"),
    LLMFailure.BAD_OUTPUT: Reply.garbage(),
}


def _base_url(llm: ScriptedLLM, provider: str) -> str:
    return llm.ollama_base_url if provider == "ollama" else llm.openai_base_url


@pytest.mark.parametrize("failure", list(FAILURES), ids=[f.value for f in FAILURES])
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_failure_maps_to_reason(llm: ScriptedLLM, provider: str, failure: LLMFailure) -> None:
    reply = FAILURES[failure]
    base_url = _base_url(llm, provider)
    model = "qwen2.5:7b"
    if failure is LLMFailure.UNREACHABLE:
        base_url = f"http://127.0.0.1:{free_loopback_port()}" + (
            "" if provider == "ollama" else "/v1"
        )
    elif failure is LLMFailure.MODEL_MISSING:
        model = "no-such-model:1b"
    if reply is not None:
        llm.queue(reply)
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        llm_provider=provider,
        llm_base_url=base_url,
        llm_model=model,
        llm_timeout_seconds=1.0,
    )
    gate = LLMGate(build_chat_model(settings), max_concurrency=1, timeout=1.0)

    with pytest.raises(LLMError) as raised:
        await gate.complete([HumanMessage("Сколько дней отпуска положено?")])

    error = raised.value
    assert error.kind is failure, error.detail
    assert str(error) == FAILURE_TEXT[failure]
    assert error.detail and "Error" in error.detail or failure is LLMFailure.TIMED_OUT
    assert gate.in_flight == 0 and gate.waiting == 0


def test_every_reason_has_a_short_russian_sentence() -> None:
    assert set(FAILURE_TEXT) == set(LLMFailure)
    for text in FAILURE_TEXT.values():
        assert len(text) < 80 and any("а" <= ch <= "я" for ch in text.lower())
        assert "Error" not in text and "LLM" not in text


@pytest.mark.parametrize("provider", ["ollama", "openai"])
async def test_failed_answer_shows_the_sentence_and_keeps_the_detail_in_meta(
    make_settings: Callable[..., Settings], llm: ScriptedLLM, provider: str
) -> None:
    llm.queue(Reply.close_mid_stream("Начинаю отвечать"))
    settings = make_settings(llm_provider=provider, llm_base_url=_base_url(llm, provider))
    async with running_app(settings) as (_, client):
        org = await Api(client, SYSTEM_ADMIN_PASSWORD).create_org(members=2)
        chat = await create_chat(client, *org.members)
        posted = await post_message(client, org.members[0], chat["id"], "@@accountant отчёт")
        answer: dict[str, Any] = await wait_ai_message(
            client, org.members[0], chat["id"], posted["ai_message_ids"][0]
        )
    assert answer["ai_status"] == "failed"
    assert answer["ai_error"] == FAILURE_TEXT[LLMFailure.CLOSED_MID_ANSWER]
    llm_error = answer["meta"]["llm_error"]
    assert llm_error["kind"] == "closed_mid_answer"
    assert "RemoteProtocolError" in llm_error["detail"] or "Error" in llm_error["detail"]


async def test_unreachable_reason_names_no_class() -> None:
    gate = LLMGate(
        build_chat_model(
            Settings(
                _env_file=None,  # type: ignore[call-arg]
                llm_provider="openai",
                llm_base_url=f"http://127.0.0.1:{free_loopback_port()}/v1",
            )
        ),
        max_concurrency=1,
        timeout=5,
    )
    with pytest.raises(LLMError) as raised:
        await gate.complete([HumanMessage("привет")])
    assert "Connection" not in str(raised.value)
    assert isinstance(raised.value.__cause__, Exception)
    assert not isinstance(raised.value.__cause__, httpx.HTTPStatusError)


def test_model_clients_load_the_ca_certificates_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every Ollama server has two clients; each loading the CA bundle again cost tens of
    milliseconds of CPU per client at every start."""
    import ssl

    import langchain_ollama  # noqa: F401 - its import makes a client of its own, once

    from engine.llm.factory import shared_tls_context

    made: list[object] = []
    real = ssl.create_default_context

    def counting(*args: object, **kwargs: object) -> ssl.SSLContext:
        made.append(args)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ssl, "create_default_context", counting)
    shared_tls_context.cache_clear()
    backends = [
        {"name": f"gpu{n}", "base_url": f"http://127.0.0.1:{9 + n}", "model": "m", "capacity": 1}
        for n in range(3)
    ]
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        environment="test",
        jwt_secret="x" * 48,
        llm_backends=backends,
    )
    models = [build_chat_model(settings, backend) for backend in settings.backends]
    assert len(models) == 3 and len(made) == 1
