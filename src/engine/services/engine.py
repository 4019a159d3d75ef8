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
from engine.notifications.base import BaseSender
from engine.notifications.email import EmailSender
from engine.notifications.telegram import TelegramSender
from engine.services.auth_service import AuthService
from engine.services.background import PeriodicTask
from engine.services.calendar_service import CalendarService
from engine.services.health_service import HealthService
from engine.services.notification_service import NotificationService
from engine.services.organization_service import OrganizationService
from engine.services.passwords import PasswordHasher
from engine.services.prompt_cache import PromptCache
from engine.services.role_service import RoleService
from engine.services.scheduler_service import (
    ProactiveAgentRunner,
    SchedulerService,
    agent_system_unavailable,
)
from engine.services.telegram_bot import TelegramBotService
from engine.services.user_service import UserService
from engine.storage.auth_tokens import LoginFailureStorage, RefreshTokenStorage
from engine.storage.calendar import CalendarRunStorage, CalendarStorage
from engine.storage.clock import DatabaseClock
from engine.storage.database import Database, create_pool
from engine.storage.embedded import EmbeddedPostgres
from engine.storage.migrations import apply_migrations
from engine.storage.notifications import (
    ChannelStorage,
    NotificationLogStorage,
    NotificationStorage,
)
from engine.storage.organizations import OrganizationStorage
from engine.storage.roles import RoleStorage
from engine.storage.telegram import TelegramLinkStorage, TelegramUpdateStorage
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
    channels: ChannelStorage
    notifications: NotificationStorage
    notification_log: NotificationLogStorage
    telegram_links: TelegramLinkStorage
    telegram_updates: TelegramUpdateStorage

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
            channels=ChannelStorage(pool),
            notifications=NotificationStorage(pool),
            notification_log=NotificationLogStorage(pool),
            telegram_links=TelegramLinkStorage(pool),
            telegram_updates=TelegramUpdateStorage(pool),
        )


def build_senders(settings: Settings, http: httpx.AsyncClient) -> dict[str, BaseSender]:
    """A sender per channel type that is configured; an unconfigured type is absent."""
    senders: dict[str, BaseSender] = {}
    token = settings.telegram_bot_token.get_secret_value()
    if token:
        senders[TelegramSender.channel_type] = TelegramSender(
            http,
            token=token,
            base_url=settings.telegram_api_base_url,
            timeout=settings.telegram_timeout_seconds,
            max_inline_wait=settings.telegram_max_inline_wait_seconds,
        )
    if settings.smtp_host:
        senders[EmailSender.channel_type] = EmailSender(
            host=settings.smtp_host,
            port=settings.smtp_port,
            sender=settings.smtp_from,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value(),
            security=settings.smtp_security,
            timeout=settings.smtp_timeout_seconds,
            validate_certs=settings.smtp_validate_certs,
        )
    return senders


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
    notifications: NotificationService
    scheduler: SchedulerService
    telegram: TelegramBotService
    proactive_runner: ProactiveAgentRunner = agent_system_unavailable
    embedded: EmbeddedPostgres | None = None
    background: list[PeriodicTask] = field(default_factory=list)
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
        if settings.scheduler_enabled:
            engine.start_background()
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
        senders = build_senders(settings, http)
        notifications = NotificationService(
            settings,
            storages.channels,
            storages.notifications,
            storages.notification_log,
            storages.users,
            senders,
            clock,
        )
        scheduler = SchedulerService(
            settings,
            db,
            storages.calendar_events,
            storages.calendar_runs,
            storages.users,
            notifications,
            clock,
        )
        telegram_sender = senders.get(TelegramSender.channel_type)
        telegram = TelegramBotService(
            settings,
            db,
            storages.telegram_links,
            storages.telegram_updates,
            storages.channels,
            telegram_sender if isinstance(telegram_sender, TelegramSender) else None,
            agent_system_unavailable,
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
            notifications=notifications,
            scheduler=scheduler,
            telegram=telegram,
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

    def use_proactive_runner(self, runner: ProactiveAgentRunner) -> None:
        """Plug in what runs AI roles for the scheduler and the Telegram bot."""
        self.proactive_runner = runner
        self.scheduler.runner = runner
        self.telegram.runner = runner

    def start_background(self) -> None:
        """Start the scheduler and notification loops; `close` stops them."""
        settings = self.settings
        grace = settings.scheduler_shutdown_grace_seconds
        dispatcher = PeriodicTask(
            "notification-dispatcher",
            self.notifications.dispatch_pending,
            interval=settings.notification_dispatch_interval_seconds,
            shutdown_grace=grace,
        )
        scheduler = PeriodicTask(
            "calendar-scheduler",
            self.scheduler.tick,
            interval=settings.scheduler_interval_seconds,
            shutdown_grace=grace,
        )
        pruner = PeriodicTask(
            "telegram-update-pruner", self.telegram.forget_old_updates, interval=3600
        )
        self.notifications.on_queued = dispatcher.wake
        # stopped in reverse: the scheduler (which queues) before the dispatcher
        for task in (pruner, dispatcher, scheduler):
            task.start()
            self.background.append(task)
            self._closers.append(task.stop)

    async def close(self) -> None:
        try:
            await self.telegram.close(self.settings.scheduler_shutdown_grace_seconds)
        except Exception:
            log.exception("error while stopping the Telegram bot")
        for closer in reversed(self._closers):
            try:
                await closer()
            except Exception:  # shutdown must go on whatever one part does
                log.exception("error while stopping %r", closer)
        await self.notifications.close()
        await self.http.aclose()
        await self.db.close()
        if self.embedded is not None:
            await self.embedded.stop()
