from __future__ import annotations

import httpx

from engine.services.ai.document_service import chunk_text
from tests.support.api import Api


async def test_documents_lifecycle_and_permissions(api: Api, client: httpx.AsyncClient) -> None:
    org = await api.create_org(members=1)
    member = org.members[0]
    base = f"/api/v1/organizations/{org.id}/documents"
    text = "\n\n".join(f"Раздел {i}. " + "Правила оформления отпусков. " * 30 for i in range(5))
    denied = await client.post(base, headers=member.headers, json={"title": "x", "content": "y"})
    assert denied.status_code == 403
    created = await client.post(
        base, headers=org.admin.headers, json={"title": "Положение об отпусках", "content": text}
    )
    assert created.status_code == 201
    document = created.json()
    assert document["chunks"] == len(chunk_text(text)) > 1
    listed = await client.get(base, headers=member.headers)
    assert [d["id"] for d in listed.json()] == [document["id"]]
    one = await client.get(f"{base}/{document['id']}", headers=member.headers)
    assert one.json()["content"] == text.strip()
    assert (
        await client.delete(f"{base}/{document['id']}", headers=member.headers)
    ).status_code == 403
    assert (
        await client.delete(f"{base}/{document['id']}", headers=org.admin.headers)
    ).status_code == 204
    assert (await client.get(f"{base}/{document['id']}", headers=member.headers)).status_code == 404
    assert (await client.get(base, headers=member.headers)).json() == []


async def test_documents_of_another_org_are_404(api: Api, client: httpx.AsyncClient) -> None:
    a = await api.create_org(members=0)
    b = await api.create_org(members=0)
    created = await client.post(
        f"/api/v1/organizations/{b.id}/documents",
        headers=b.admin.headers,
        json={"title": "Секрет B", "content": "тайна"},
    )
    doc_id = created.json()["id"]
    for method, url, body in (
        ("get", f"/api/v1/organizations/{b.id}/documents", None),
        ("post", f"/api/v1/organizations/{b.id}/documents", {"title": "x", "content": "y"}),
        ("get", f"/api/v1/organizations/{b.id}/documents/{doc_id}", None),
        ("delete", f"/api/v1/organizations/{b.id}/documents/{doc_id}", None),
        ("get", f"/api/v1/organizations/{a.id}/documents/{doc_id}", None),
        ("delete", f"/api/v1/organizations/{a.id}/documents/{doc_id}", None),
    ):
        kwargs = {"json": body} if body is not None else {}
        response = await client.request(method, url, headers=a.admin.headers, **kwargs)
        assert response.status_code == 404, (method, url)
        assert "Секрет" not in response.text
    assert (
        await client.get(
            f"/api/v1/organizations/{b.id}/documents/{doc_id}", headers=b.admin.headers
        )
    ).status_code == 200


def test_chunking_keeps_every_word() -> None:
    text = "\n\n".join(["короткий абзац"] * 3 + ["длинный " * 400])
    chunks = chunk_text(text, size=300, overlap=50)
    assert all(len(c) <= 300 for c in chunks)
    assert "короткий абзац" in chunks[0]
    assert sum(c.count("длинный") for c in chunks) >= 400
