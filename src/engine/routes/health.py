from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from engine.routes.deps import Engine

router = APIRouter(prefix="/health", tags=["health"])


@router.get("", response_model=dict[str, Any])
async def health(engine: Engine) -> JSONResponse:
    """200 while the database answers (LLM state reported, never fatal); 503 when it does not."""
    db_ok, report = await engine.health.report()
    return JSONResponse(report, status_code=200 if db_ok else 503)
