from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, status

from engine.routes.deps import CurrentUser, Engine, PageParams
from engine.schemas.documents import DocumentIn, DocumentOut

router = APIRouter(prefix="/organizations/{org_id}/documents", tags=["documents"])


def _out(document, with_content: bool = False) -> DocumentOut:  # type: ignore[no-untyped-def]
    return DocumentOut(
        id=document.id,
        title=document.title,
        created_by=document.created_by,
        created_at=document.created_at,
        chunks=document.chunks,
        content=document.content if with_content else None,
    )


@router.post("", response_model=DocumentOut, status_code=status.HTTP_201_CREATED)
async def upload_document(
    org_id: UUID, body: DocumentIn, user: CurrentUser, engine: Engine
) -> DocumentOut:
    """Add a text/markdown document to the organization's knowledge base (admins)."""
    return _out(await engine.documents.upload(user, org_id, body.title, body.content))


@router.get("", response_model=list[DocumentOut])
async def list_documents(
    org_id: UUID, user: CurrentUser, engine: Engine, page: PageParams
) -> list[DocumentOut]:
    documents = await engine.documents.list_page(user, org_id, limit=page.limit, offset=page.offset)
    return [_out(d) for d in documents]


@router.get("/{document_id}", response_model=DocumentOut)
async def get_document(
    org_id: UUID, document_id: UUID, user: CurrentUser, engine: Engine
) -> DocumentOut:
    return _out(await engine.documents.get(user, org_id, document_id), with_content=True)


@router.delete("/{document_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_document(
    org_id: UUID, document_id: UUID, user: CurrentUser, engine: Engine
) -> None:
    await engine.documents.delete(user, org_id, document_id)
