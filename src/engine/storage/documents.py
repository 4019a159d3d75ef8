from __future__ import annotations

from uuid import UUID

from engine.models.document import Document, DocumentHit
from engine.storage.postgres.database import Database, Executor


class DocumentStorage:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(
        self,
        org_id: UUID,
        title: str,
        content: str,
        created_by: UUID,
        chunks: list[str],
        *,
        conn: Executor,
    ) -> Document:
        row = await conn.fetchrow(
            "INSERT INTO documents (org_id, title, content, created_by) VALUES ($1, $2, $3, $4) "
            "RETURNING id, org_id, title, created_by, created_at",
            org_id,
            title,
            content,
            created_by,
        )
        assert row is not None
        await conn.executemany(
            "INSERT INTO document_chunks (org_id, document_id, ordinal, content) "
            "VALUES ($1, $2, $3, $4)",
            [(org_id, row["id"], i, chunk) for i, chunk in enumerate(chunks)],
        )
        return Document(**dict(row), chunks=len(chunks))

    async def list_page(self, org_id: UUID, *, limit: int, offset: int) -> list[Document]:
        rows = await self.db.tenant(org_id).fetch(
            """SELECT d.id, d.org_id, d.title, d.created_by, d.created_at,
                      (SELECT count(*) FROM document_chunks c WHERE c.document_id = d.id) AS chunks
               FROM documents d WHERE d.org_id = $1 AND NOT d.is_deleted
               ORDER BY d.created_at DESC, d.id LIMIT $2 OFFSET $3""",
            org_id,
            limit,
            offset,
        )
        return [Document(**dict(r)) for r in rows]

    async def get(self, org_id: UUID, document_id: UUID) -> Document | None:
        row = await self.db.tenant(org_id).fetchrow(
            """SELECT d.id, d.org_id, d.title, d.created_by, d.created_at, d.content,
                      (SELECT count(*) FROM document_chunks c WHERE c.document_id = d.id) AS chunks
               FROM documents d WHERE d.org_id = $1 AND d.id = $2 AND NOT d.is_deleted""",
            org_id,
            document_id,
        )
        return Document(**dict(row)) if row else None

    async def soft_delete(
        self, org_id: UUID, document_id: UUID, *, conn: Executor | None = None
    ) -> bool:
        status = await (conn or self.db.tenant(org_id)).execute(
            "UPDATE documents SET is_deleted = true, updated_at = now() "
            "WHERE org_id = $1 AND id = $2 AND NOT is_deleted",
            org_id,
            document_id,
        )
        return status.endswith(" 1")

    async def search(self, org_id: UUID, query: str, limit: int) -> list[DocumentHit]:
        rows = await self.db.tenant(org_id).fetch(
            """WITH q AS (SELECT websearch_to_tsquery('russian', $2)
                              || websearch_to_tsquery('simple', $2) AS query)
               SELECT c.document_id, d.title, c.ordinal,
                      ts_headline('russian', c.content, q.query,
                                  'MaxWords=40, MinWords=15, MaxFragments=2') AS snippet,
                      ts_rank(c.tsv, q.query) AS rank
               FROM document_chunks c
               JOIN documents d ON d.id = c.document_id AND NOT d.is_deleted
               CROSS JOIN q
               WHERE c.org_id = $1 AND d.org_id = $1 AND c.tsv @@ q.query
               ORDER BY rank DESC, c.document_id, c.ordinal LIMIT $3""",
            org_id,
            query,
            limit,
        )
        return [DocumentHit(**dict(r)) for r in rows]
