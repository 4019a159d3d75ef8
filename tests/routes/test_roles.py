from __future__ import annotations

import shutil
from pathlib import Path

import httpx

from engine.config import PACKAGE_DIR
from tests.conftest import running_app
from tests.support.api import Api


async def test_roles_are_described(api: Api, client: httpx.AsyncClient) -> None:
    org = await api.create_org(members=1)
    member = org.members[0]
    lawyer = await client.get("/api/v1/roles/lawyer", headers=member.headers)
    assert lawyer.status_code == 200
    body = lawyer.json()
    assert body["agent_type"] == "chain" and body["prompt_file"] == "lawyer.md"
    assert [s["name"] for s in body["config"]["steps"]] == ["analyse", "draft", "review"]
    assert "юрист" in body["prompt"].lower()
    types = {
        r["code"]: r["agent_type"]
        for r in (await client.get("/api/v1/roles", headers=member.headers)).json()
    }
    assert types == {
        "lawyer": "chain",
        "accountant": "simple",
        "hr": "simple",
        "chu": "multi_agent",
    }
    assert (await client.get("/api/v1/roles/pirate", headers=member.headers)).status_code == 404
    assert (await client.get("/api/v1/roles/../etc", headers=member.headers)).status_code == 404


async def test_prompt_cache_clear_picks_up_edited_file(make_settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    prompt_dir = tmp_path / "prompts"
    shutil.copytree(PACKAGE_DIR / "prompts", prompt_dir)
    async with running_app(make_settings(prompt_dir=prompt_dir)) as (_, client):
        org = await Api(client, "system-admin-password-1").create_org(members=0)
        before = (await client.get("/api/v1/roles/hr", headers=org.admin.headers)).json()["prompt"]
        (prompt_dir / "hr.md").write_text("Новая версия промпта HR.", encoding="utf-8")
        cached = (await client.get("/api/v1/roles/hr", headers=org.admin.headers)).json()["prompt"]
        assert cached == before, "without a clear the cached prompt stays"
        cleared = await client.post("/api/v1/roles/admin/cache/clear", headers=org.admin.headers)
        assert cleared.status_code == 200 and cleared.json()["cleared"] >= 1
        after = (await client.get("/api/v1/roles/hr", headers=org.admin.headers)).json()["prompt"]
        assert after == "Новая версия промпта HR."


def test_every_role_prompt_exists_and_is_substantive() -> None:
    for name in ("lawyer", "accountant", "hr", "chu"):
        text = (PACKAGE_DIR / "prompts" / f"{name}.md").read_text(encoding="utf-8")
        assert len(text) > 800 and any("а" <= ch <= "я" for ch in text)
