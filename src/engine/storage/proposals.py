"""Proposals of AI tool writes and their one-way status transitions."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from engine.models.proposal import PlannedWrite, Proposal, ProposalStatus
from engine.storage.postgres.database import Database, Executor

_COLUMNS = (
    "id, org_id, chat_id, message_id, calendar_run_id, requested_by, role_code, tool, action, "
    "target_type, target_id, target_version, payload, summary, status, status_reason, result, "
    "decided_by, decided_at, created_at"
)


class ProposalStorage:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def insert(
        self,
        org_id: UUID,
        planned: PlannedWrite,
        *,
        role_code: str,
        requested_by: UUID | None,
        chat_id: UUID | None,
        message_id: int | None,
        calendar_run_id: UUID | None,
    ) -> Proposal:
        row = await self.db.tenant(org_id).fetchrow(
            f"""INSERT INTO proposals (org_id, chat_id, message_id, calendar_run_id, requested_by,
                                       role_code, tool, action, target_type, target_id,
                                       target_version, payload, summary)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
                RETURNING {_COLUMNS}""",
            org_id,
            chat_id,
            message_id,
            calendar_run_id,
            requested_by,
            role_code,
            planned.tool,
            planned.action,
            planned.target_type,
            planned.target_id,
            planned.target_version,
            planned.payload,
            planned.summary,
        )
        return Proposal.from_row(row)

    async def get(
        self,
        org_id: UUID,
        proposal_id: UUID,
        *,
        for_update: bool = False,
        conn: Executor | None = None,
    ) -> Proposal | None:
        lock = " FOR UPDATE" if for_update else ""
        row = await (conn or self.db.tenant(org_id)).fetchrow(
            f"SELECT {_COLUMNS} FROM proposals WHERE org_id = $1 AND id = $2{lock}",
            org_id,
            proposal_id,
        )
        return Proposal.from_row(row) if row else None

    async def list_for_message(self, org_id: UUID, message_id: int) -> list[Proposal]:
        rows = await self.db.tenant(org_id).fetch(
            f"SELECT {_COLUMNS} FROM proposals WHERE org_id = $1 AND message_id = $2 "
            "ORDER BY created_at, id",
            org_id,
            message_id,
        )
        return [Proposal.from_row(r) for r in rows]

    async def list_outside_chats(
        self, org_id: UUID, requested_by: UUID, *, status: ProposalStatus | None, limit: int
    ) -> list[Proposal]:
        """Proposals of proactive runs made for `requested_by`, newest first."""
        rows = await self.db.tenant(org_id).fetch(
            f"""SELECT {_COLUMNS} FROM proposals
                WHERE org_id = $1 AND requested_by = $2 AND chat_id IS NULL
                  AND ($3::text IS NULL OR status = $3)
                ORDER BY created_at DESC, id LIMIT $4""",
            org_id,
            requested_by,
            status.value if status else None,
            limit,
        )
        return [Proposal.from_row(r) for r in rows]

    async def decide(
        self,
        conn: Executor,
        org_id: UUID,
        proposal_id: UUID,
        *,
        status: ProposalStatus,
        by: UUID | None,
        reason: str | None = None,
        result: dict[str, Any] | None = None,
    ) -> Proposal | None:
        """pending → `status`; None when it is no longer pending (decided by someone else)."""
        row = await conn.fetchrow(
            f"""UPDATE proposals SET status = $3, decided_by = $4, decided_at = now(),
                       status_reason = $5, result = $6
                WHERE org_id = $1 AND id = $2 AND status = 'pending'
                RETURNING {_COLUMNS}""",
            org_id,
            proposal_id,
            status.value,
            by,
            reason,
            result,
        )
        return Proposal.from_row(row) if row else None

    async def reject_pending_for_message(
        self, conn: Executor, org_id: UUID, message_id: int, *, by: UUID, reason: str
    ) -> list[Proposal]:
        rows = await conn.fetch(
            f"""UPDATE proposals SET status = 'rejected', decided_by = $3, decided_at = now(),
                       status_reason = $4
                WHERE org_id = $1 AND message_id = $2 AND status = 'pending'
                RETURNING {_COLUMNS}""",
            org_id,
            message_id,
            by,
            reason,
        )
        return [Proposal.from_row(r) for r in rows]
