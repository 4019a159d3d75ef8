"""`LLM_PROVIDER=local`: the engine runs llama.cpp's server with the bundled small model.

The real-model tests need the `local` extra (installed by ./setup.sh, so they run in CI);
they skip only when `llama_cpp` cannot be imported. Answers are kept short
(`LOCAL_MAX_TOKENS`) so that they take seconds on two cores.
"""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from engine.config import Settings
from engine.llm.gate import FAILURE_TEXT, LLMFailure
from engine.llm.local_server import LocalLLMServer, LocalModelError, llama_cpp_installed
from tests.conftest import SYSTEM_ADMIN_PASSWORD, running_app
from tests.fakes._uvicorn import UvicornRunner
from tests.fakes.waiting import wait_for
from tests.support.api import Api, create_chat, post_message, wait_ai_message
from tests.support.sse import EventStream

needs_llama_cpp = pytest.mark.skipif(
    not llama_cpp_installed(),
    reason="llama_cpp is not importable: install the `local` extra (./setup.sh does)",
)
CYRILLIC = re.compile(r"[А-Яа-яЁё]")
QUESTION = "@@lawyer можно ли уволить работника?"


def _local(make_settings: Callable[..., Settings], **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "llm_provider": "local",
        "local_max_tokens": 12,
        "local_context_size": 4096,
        "llm_timeout_seconds": 300.0,
        "llm_max_concurrency": 1,
    }
    values.update(overrides)
    return make_settings(**values)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "(Z)" not in _proc_state(pid)


def _proc_state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[1][:4]
    except OSError:
        return "(Z)"


@pytest.mark.parametrize(
    ("content", "expected"),
    [(None, "no such file"), (b"PK\x03\x04 a zip, not a model", "not a GGUF model")],
    ids=["missing", "not-gguf"],
)
async def test_bad_model_file_is_a_clear_startup_error(
    make_settings: Callable[..., Settings], tmp_path: Path, content: bytes | None, expected: str
) -> None:
    model = tmp_path / "model.gguf"
    if content is not None:
        model.write_bytes(content)
    settings = _local(make_settings, local_model_path=model)
    with pytest.raises(LocalModelError) as raised:
        async with running_app(settings):
            pass
    assert f"LOCAL_MODEL_PATH={model}" in str(raised.value)
    assert expected in str(raised.value)


@needs_llama_cpp
@pytest.mark.slow
async def test_lawyer_answers_in_a_chat_through_the_managed_server(
    make_settings: Callable[..., Settings],
) -> None:
    settings = _local(make_settings)
    events: list[tuple[str, Any]] = []
    async with running_app(settings) as (app, client):
        local: LocalLLMServer = app.state.engine.local_llm
        pid = local.pid
        assert pid is not None and _alive(pid)
        health = (await client.get("/api/v1/health")).json()
        assert health["llm"]["provider"] == "local" and health["llm"]["model_present"]
        assert health["llm"]["local"]["state"] == "running"
        assert health["llm"]["local"]["pid"] == pid
        assert health["llm"]["local"]["model_path"].endswith(".gguf")
        assert health["llm"]["local"]["queue"] == 0

        org = await Api(client, SYSTEM_ADMIN_PASSWORD).create_org(members=2)
        alice, bob = org.members
        chat = await create_chat(client, alice, bob)
        server = UvicornRunner(app)
        port = await server.start()
        try:
            async with EventStream(
                f"http://127.0.0.1:{port}", f"/api/v1/chats/{chat['id']}/events", bob.headers
            ) as stream:
                posted = await post_message(
                    client, alice, chat["id"], "@@lawyer можно ли уволить работника?"
                )
                answer_id = posted["ai_message_ids"][0]

                def finished() -> bool:
                    return any(
                        kind == "message.updated"
                        and data["id"] == answer_id
                        and data["ai_status"] in ("done", "failed")
                        for kind, data in stream.events
                    )

                await stream.wait(finished, timeout=400)
                events.extend(stream.events)
        finally:
            await server.stop()
    final = next(
        data
        for kind, data in reversed(events)
        if kind == "message.updated" and data["id"] == answer_id
    )
    assert final["ai_status"] == "done", final
    assert final["content"].strip() and CYRILLIC.search(final["content"]), final["content"]
    tokens = "".join(d["delta"] for k, d in events if k == "ai.token")
    assert tokens.strip() and tokens.strip() in final["content"]
    assert [s["name"] for s in final["meta"]["steps"]] == ["analyse", "draft", "review"]
    await wait_for(lambda: not _alive(pid), timeout=15, message="llama.cpp server gone")


@needs_llama_cpp
@pytest.mark.slow
async def test_server_killed_mid_answer_fails_it_with_a_reason_and_comes_back(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    # the engine's own HOST/PORT (as under systemd) must not reach llama_cpp.server, which
    # prefers them to its flags
    monkeypatch.setenv("PORT", "9")
    monkeypatch.setenv("HOST", "0.0.0.0")
    settings = _local(make_settings, local_max_tokens=16)
    async with running_app(settings) as (app, client):
        engine = app.state.engine
        local: LocalLLMServer = engine.local_llm
        first_pid = local.pid
        assert first_pid is not None
        org = await Api(client, SYSTEM_ADMIN_PASSWORD).create_org(members=2)
        alice, bob = org.members
        chat = await create_chat(client, alice, bob)
        posted = await post_message(client, alice, chat["id"], "@@accountant расскажи про НДС")
        await wait_for(lambda: engine.llm.in_flight == 1, timeout=60, message="model busy")
        os.kill(first_pid, signal.SIGKILL)
        answer = await wait_ai_message(
            client, alice, chat["id"], posted["ai_message_ids"][0], timeout=120
        )
        assert answer["ai_status"] == "failed"
        assert answer["ai_error"] in (
            FAILURE_TEXT[LLMFailure.CLOSED_MID_ANSWER],
            FAILURE_TEXT[LLMFailure.UNREACHABLE],
        )
        assert answer["meta"]["llm_error"]["detail"]

        await wait_for(
            lambda: local.state == "running" and local.pid not in (None, first_pid),
            timeout=60,
            message="server restarted",
        )
        assert local.restarts == 1 and local.last_exit_code == -signal.SIGKILL
        again = await post_message(client, alice, chat["id"], "@@accountant а теперь?")
        ok = await wait_ai_message(client, alice, chat["id"], again["ai_message_ids"][0], 300)
        assert ok["ai_status"] == "done" and ok["content"].strip(), ok
        assert ok["meta"]["tools_unavailable"]
        health = (await client.get("/api/v1/health")).json()
        assert health["llm"]["local"]["restarts"] == 1


@pytest.mark.parametrize("model", ["missing", "bundled"])
def test_check_reports_the_local_model(database_url: str, tmp_path: Path, model: str) -> None:
    from tests.deploy.conftest import engine_settings
    from tests.support.processes import engine_env, run_cli

    overrides: dict[str, object] = {"llm_provider": "local"}
    if model == "missing":
        overrides["local_model_path"] = tmp_path / "absent.gguf"
    settings = engine_settings(database_url, tmp_path, **overrides)
    result = run_cli(["check"], engine_env(**settings), tmp_path)
    llm_line = result.stdout.splitlines()[-1]
    if model == "missing":
        assert result.returncode == 1
        assert llm_line.startswith("llm: FAILED (local: LOCAL_MODEL_PATH=")
    elif llama_cpp_installed():
        assert result.returncode == 0, result.stdout
        assert "not running, started by `rugpt serve`" in llm_line
        assert "SmolLM2-135M-Instruct" in llm_line and "tools unavailable" in llm_line
    else:
        assert "llm: FAILED" in llm_line
