from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from fastapi import FastAPI

from tests.support.api import Api


async def test_expired_refresh_tokens_are_purged(api: Api, app: FastAPI) -> None:
    org = await api.create_org(members=0)
    storage = app.state.engine.storages.refresh_tokens
    expired_hash = f"expired-{uuid.uuid4().hex}"
    await storage.add(
        token_id=uuid.uuid4(),
        org_id=uuid.UUID(org.id),
        user_id=uuid.UUID(org.admin.id),
        family_id=uuid.uuid4(),
        token_hash=expired_hash,
        expires_at=datetime.now(UTC) - timedelta(minutes=1),
    )
    assert await storage.purge_expired() >= 1
    pool = app.state.engine.db.system("refresh tokens")
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM refresh_tokens WHERE token_hash = $1", expired_hash
        )
        == 0
    )
    live = await api.client.post(
        "/api/v1/auth/refresh", json={"refresh_token": org.admin.refresh_token}
    )
    assert live.status_code == 200, "unexpired tokens stay usable"
