"""`rugpt worker`: a process without HTTP answers what a replica that serves HTTP queued."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from engine.config import Settings
from tests.conftest import SYSTEM_ADMIN_PASSWORD, running_app
from tests.fakes.llm_server import Reply, ScriptedLLM
from tests.support.api import Api, create_chat, post_message, wait_ai_message
from tests.support.database import create_database, drop_database
from tests.support.engine_process import engine_env


@pytest.fixture
async def own_database(pg_admin_dsn: str) -> AsyncIterator[str]:
    dsn = await create_database(pg_admin_dsn, prefix="rugpt_worker")
    yield dsn
    await drop_database(pg_admin_dsn, dsn)


async def test_worker_answers_what_a_replica_queued(
    own_database: str,
    llm: ScriptedLLM,
    make_settings: Callable[..., Settings],
    tmp_path: Path,
) -> None:
    llm.set_default(Reply.text("Ответ от рабочего процесса."))
    replica = make_settings(
        database_url=own_database, llm_base_url=llm.ollama_base_url, ai_worker_enabled=False
    )
    async with running_app(replica) as (_, client):
        org = await Api(client, SYSTEM_ADMIN_PASSWORD).create_org(members=2)
        alice, bob = org.members
        chat = await create_chat(client, alice, bob)
        posted = await post_message(client, alice, chat["id"], "@@accountant вопрос")
        env = {**os.environ, **engine_env(own_database, llm.ollama_base_url)}
        worker = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "engine",
            "worker",
            env=env,
            cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            answer = await wait_ai_message(
                client, alice, chat["id"], posted["ai_message_ids"][0], timeout=60
            )
            assert answer["ai_status"] == "done"
            assert answer["content"] == "Ответ от рабочего процесса."
        finally:
            worker.send_signal(signal.SIGTERM)
            output, _ = await asyncio.wait_for(worker.communicate(), 30)
        assert worker.returncode == 0, output.decode(errors="replace")[-2000:]
