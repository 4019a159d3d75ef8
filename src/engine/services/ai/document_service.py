"""The organization's knowledge base for the `rag` tool: upload, chunk, list, delete."""

from __future__ import annotations

from uuid import UUID

from engine.errors import NotFound
from engine.models.document import Document
from engine.models.user import User
from engine.services.audit_service import AuditTrail
from engine.services.identity.access import require_org_admin
from engine.storage.documents import DocumentStorage
from engine.storage.postgres.database import Database

CHUNK_CHARS = 1200
CHUNK_OVERLAP = 150


def chunk_text(text: str, size: int = CHUNK_CHARS, overlap: int = CHUNK_OVERLAP) -> list[str]:
    """Split on paragraph boundaries into pieces of about `size` characters."""
    paragraphs = [p.strip() for p in text.replace("\r\n", "\n").split("\n\n") if p.strip()]
    chunks: list[str] = []
    current = ""
    for paragraph in paragraphs:
        while len(paragraph) > size:
            head, paragraph = paragraph[:size], paragraph[size - overlap :]
            if current:
                chunks.append(current)
                current = ""
            chunks.append(head)
        if current and len(current) + len(paragraph) + 2 > size:
            chunks.append(current)
            current = ""
        current = f"{current}\n\n{paragraph}" if current else paragraph
    if current:
        chunks.append(current)
    return chunks


class DocumentService:
    def __init__(self, db: Database, documents: DocumentStorage, audit: AuditTrail) -> None:
        self.db = db
        self.audit = audit
        self.documents = documents

    @staticmethod
    def _same_org(actor: User, org_id: UUID) -> None:
        if org_id != actor.org_id:
            raise NotFound("organization not found")

    async def upload(self, actor: User, org_id: UUID, title: str, content: str) -> Document:
        self._same_org(actor, org_id)
        require_org_admin(actor)
        async with self.db.tenant(actor.org_id).transaction() as conn:
            document = await self.documents.create(
                actor.org_id, title, content, actor.id, chunk_text(content), conn=conn
            )
            await self.audit.record(
                conn,
                org_id=actor.org_id,
                actor=actor,
                action="document.created",
                target_type="document",
                target_id=document.id,
                details={"title": title, "chars": len(content)},
            )
        return document

    async def list_page(
        self, actor: User, org_id: UUID, *, limit: int, offset: int
    ) -> list[Document]:
        self._same_org(actor, org_id)
        return await self.documents.list_page(actor.org_id, limit=limit, offset=offset)

    async def get(self, actor: User, org_id: UUID, document_id: UUID) -> Document:
        self._same_org(actor, org_id)
        document = await self.documents.get(actor.org_id, document_id)
        if document is None:
            raise NotFound("document not found")
        return document

    async def delete(self, actor: User, org_id: UUID, document_id: UUID) -> None:
        document = await self.get(actor, org_id, document_id)
        require_org_admin(actor)
        async with self.db.tenant(actor.org_id).transaction() as conn:
            await self.documents.soft_delete(actor.org_id, document_id, conn=conn)
            await self.audit.record(
                conn,
                org_id=actor.org_id,
                actor=actor,
                action="document.deleted",
                target_type="document",
                target_id=document_id,
                details={"title": document.title},
            )
