from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, status

from engine.models.user import AccessRole
from engine.routes.deps import CurrentUser, Engine, PageParams
from engine.schemas.organizations import (
    OrganizationCreatedOut,
    OrganizationCreateIn,
    OrganizationOut,
    OrganizationUpdateIn,
)
from engine.schemas.users import UserOut
from engine.services.identity.user_service import NewUser

router = APIRouter(prefix="/organizations", tags=["organizations"])


@router.post("", response_model=OrganizationCreatedOut, status_code=status.HTTP_201_CREATED)
async def create_organization(
    body: OrganizationCreateIn, user: CurrentUser, engine: Engine
) -> OrganizationCreatedOut:
    admin = None
    if body.admin is not None:
        admin = NewUser(
            username=body.admin.username,
            password=body.admin.password,
            email=body.admin.email,
            full_name=body.admin.full_name,
            role=AccessRole.ADMIN,
        )
    org, first_admin = await engine.organizations.create(
        user, slug=body.slug, name=body.name, admin=admin
    )
    return OrganizationCreatedOut(
        **OrganizationOut.model_validate(org).model_dump(),
        admin=UserOut.model_validate(first_admin) if first_admin else None,
    )


@router.get("", response_model=list[OrganizationOut])
async def list_organizations(
    user: CurrentUser, engine: Engine, page: PageParams
) -> list[OrganizationOut]:
    orgs = await engine.organizations.list_visible(user, limit=page.limit, offset=page.offset)
    return [OrganizationOut.model_validate(o) for o in orgs]


@router.get("/{org_id}", response_model=OrganizationOut)
async def get_organization(org_id: UUID, user: CurrentUser, engine: Engine) -> OrganizationOut:
    return OrganizationOut.model_validate(await engine.organizations.get(user, org_id))


@router.patch("/{org_id}", response_model=OrganizationOut)
async def update_organization(
    org_id: UUID, body: OrganizationUpdateIn, user: CurrentUser, engine: Engine
) -> OrganizationOut:
    org = await engine.organizations.update(user, org_id, name=body.name, is_active=body.is_active)
    return OrganizationOut.model_validate(org)


@router.delete("/{org_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_organization(org_id: UUID, user: CurrentUser, engine: Engine) -> None:
    await engine.organizations.delete(user, org_id)
