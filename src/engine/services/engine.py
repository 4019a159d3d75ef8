"""EngineService: the one composite that owns storages, services and shared clients.

Built in the app's lifespan (`EngineService.start`) and closed there; routes reach it
through the `get_engine` dependency, never through a module-level global.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import asyncpg
import httpx

from engine.config import Settings
from engine.llm.probe import LLMProbe
from engine.services.auth_service import AuthService
from engine.services.calendar_service import CalendarService
from engine.services.health_service import HealthService
from engine.services.organization_service import OrganizationService
from engine.services.passwords import PasswordHasher
from engine.services.prompt_cache import PromptCache
from engine.services.role_service import RoleService
from engine.services.user_service import UserService
from engine.storage.auth_tokens import LoginFailureStorage, RefreshTokenStorage
from engine.storage.calendar import CalendarRunStorage, CalendarStorage
from engine.storage.clock import DatabaseClock
from engine.storage.database import Database, create_pool
from engine.storage.embedded import EmbeddedPostgres
from engine.storage.migrations import apply_migrations
from engine.storage.organizations import OrganizationStorage
from engine.storage.roles import RoleStorage
from engine.storage.users import UserStorage

log = logging.getLogger(__name__)


@dataclass
class Storages:
    organizations: OrganizationStorage
    users: UserStorage
    refresh_tokens: RefreshTokenStorage
    login_failures: LoginFailureStorage
    roles: RoleStorage
    calendar_events: CalendarStorage
    calendar_runs: CalendarRunStorage

    @classmethod
    def build(cls, pool: asyncpg.Pool) -> Storages:
        return cls(
            organizations=OrganizationStorage(pool),
            users=UserStorage(pool),
            refresh_tokens=RefreshTokenStorage(pool),
            login_failures=LoginFailureStorage(pool),
            roles=RoleStorage(pool),
            calendar_events=CalendarStorage(pool),
            calendar_runs=CalendarRunStorage(pool),
        )


@dataclass
class EngineService:
    settings: Settings
    db: Database
    storages: Storages
    http: httpx.AsyncClient
    prompts: PromptCache
    auth: AuthService
    users: UserService
    organizations: OrganizationService
    roles: RoleService
    health: HealthService
    clock: DatabaseClock
    calendar: CalendarService
    embedded: EmbeddedPostgres | None = None
    _closers: list = field(default_factory=list)

    @classmethod
    async def start(cls, settings: Settings) -> EngineService:
        embedded: EmbeddedPostgres | None = None
        dsn = settings.database_url
        if settings.uses_embedded_db:
            embedded = EmbeddedPostgres(settings.data_dir)
            dsn = await embedded.start()
        try:
            pool = await create_pool(
                dsn,
                min_size=settings.db_pool_min,
                max_size=settings.db_pool_max,
                command_timeout=settings.db_command_timeout,
            )
            async with pool.acquire() as conn:
                await apply_migrations(conn)
        except BaseException:
            if embedded is not None:
                await embedded.stop()
            raise
        engine = cls.build(settings, pool, embedded=embedded)
        await engine._bootstrap()
        return engine

    @classmethod
    def build(
        cls, settings: Settings, pool: asyncpg.Pool, *, embedded: EmbeddedPostgres | None = None
    ) -> EngineService:
        db = Database(pool)
        storages = Storages.build(pool)
        http = httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=5.0))
        hasher = PasswordHasher(settings.bcrypt_rounds)
        prompts = PromptCache(settings.prompt_dir)
        users = UserService(storages.users, storages.refresh_tokens, hasher)
        clock = DatabaseClock(pool)
        calendar = CalendarService(
            db,
            storages.calendar_events,
            storages.calendar_runs,
            storages.users,
            storages.roles,
            clock,
        )
        return cls(
            settings=settings,
            db=db,
            storages=storages,
            http=http,
            prompts=prompts,
            auth=AuthService(
                settings,
                db,
                storages.users,
                storages.refresh_tokens,
                storages.login_failures,
                hasher,
            ),
            users=users,
            organizations=OrganizationService(db, storages.organizations, storages.roles, users),
            roles=RoleService(storages.roles, prompts),
            health=HealthService(db, LLMProbe(settings, http)),
            clock=clock,
            calendar=calendar,
            embedded=embedded,
        )

    async def _bootstrap(self) -> None:
        password = self.settings.admin_password
        if password is not None:
            await self.organizations.bootstrap_system_admin(
                self.settings.admin_username,
                self.settings.admin_email,
                password.get_secret_value(),
            )

    async def close(self) -> None:
        for closer in reversed(self._closers):
            try:
                await closer()
            except Exception:  # shutdown must go on whatever one part does
                log.exception("error while stopping %r", closer)
        await self.http.aclose()
        await self.db.close()
        if self.embedded is not None:
            await self.embedded.stop()
