"""EngineService: the one composite that owns storages, services and shared clients.

Built in the app's lifespan (`EngineService.start`) and closed there; routes reach it
through the `get_engine` dependency, never through a module-level global.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

import asyncpg
import httpx

from engine.agents.executor import AgentExecutor
from engine.agents.prompt_cache import PromptCache
from engine.agents.tools.calendar import calendar_tool
from engine.agents.tools.rag import rag_tool
from engine.agents.tools.registry import ToolRegistry
from engine.agents.tools.role_call import role_call_tool
from engine.agents.tools.web import web_tool
from engine.config import Settings
from engine.llm.factory import build_chat_model, shared_tls_context
from engine.llm.fleet import FleetGate
from engine.llm.gate import LLMGate
from engine.llm.local_server import MODEL_ALIAS, LocalLLMServer, resolve_model
from engine.llm.probe import LLMProbe
from engine.notifications.base import BaseSender
from engine.notifications.email import EmailSender
from engine.notifications.telegram import TelegramSender
from engine.services.ai.ai_answers import AIAnswerService
from engine.services.ai.ai_worker import AIWorker
from engine.services.ai.document_service import DocumentService
from engine.services.ai.fleet import QUEUE_SIGNAL, AIFleet
from engine.services.ai.proactive_runner import ExecutorProactiveRunner
from engine.services.ai.proposal_service import ProposalService
from engine.services.ai.role_service import PROMPT_CACHE_CLEARED, RoleService
from engine.services.audit_service import AuditTrail
from engine.services.background import PeriodicTask
from engine.services.calendar.calendar_service import CalendarService
from engine.services.calendar.scheduler_service import ProactiveAgentRunner, SchedulerService
from engine.services.chats.chat_service import ChatService
from engine.services.chats.chat_stream import ChatStreamService
from engine.services.chats.event_relay import PgEventRelay
from engine.services.chats.events import ChatEventBus
from engine.services.chats.message_service import MessageService
from engine.services.health_service import HealthService
from engine.services.identity.auth_service import AuthService
from engine.services.identity.organization_service import OrganizationService
from engine.services.identity.passwords import PasswordHasher
from engine.services.identity.user_service import UserService
from engine.services.notifications.notification_service import NotificationService
from engine.services.notifications.telegram_bot import TelegramBotService
from engine.storage.ai_queue import AIQueueStorage
from engine.storage.audit import AuditStorage
from engine.storage.auth_tokens import LoginFailureStorage, RefreshTokenStorage
from engine.storage.calendar import CalendarRunStorage, CalendarStorage
from engine.storage.chats import ChatStorage
from engine.storage.documents import DocumentStorage
from engine.storage.messages import MessageStorage
from engine.storage.notifications import (
    ChannelStorage,
    NotificationLogStorage,
    NotificationStorage,
)
from engine.storage.organizations import OrganizationStorage
from engine.storage.postgres.clock import DatabaseClock
from engine.storage.postgres.database import Database, create_pool
from engine.storage.postgres.embedded import EmbeddedPostgres
from engine.storage.postgres.migrations import apply_migrations
from engine.storage.proposals import ProposalStorage
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
    chats: ChatStorage
    messages: MessageStorage
    documents: DocumentStorage
    calendar_events: CalendarStorage
    calendar_runs: CalendarRunStorage
    channels: ChannelStorage
    notifications: NotificationStorage
    notification_log: NotificationLogStorage
    telegram_links: TelegramLinkStorage
    telegram_updates: TelegramUpdateStorage
    proposals: ProposalStorage
    audit: AuditStorage
    ai_queue: AIQueueStorage

    @classmethod
    def build(cls, db: Database) -> Storages:
        return cls(
            organizations=OrganizationStorage(db),
            users=UserStorage(db),
            refresh_tokens=RefreshTokenStorage(db),
            login_failures=LoginFailureStorage(db),
            roles=RoleStorage(db),
            chats=ChatStorage(db),
            messages=MessageStorage(db),
            documents=DocumentStorage(db),
            calendar_events=CalendarStorage(db),
            calendar_runs=CalendarRunStorage(db),
            channels=ChannelStorage(db),
            notifications=NotificationStorage(db),
            notification_log=NotificationLogStorage(db),
            telegram_links=TelegramLinkStorage(db),
            telegram_updates=TelegramUpdateStorage(db),
            proposals=ProposalStorage(db),
            audit=AuditStorage(db),
            ai_queue=AIQueueStorage(db),
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
    bus: ChatEventBus
    chats: ChatService
    streams: ChatStreamService
    messages: MessageService
    documents: DocumentService
    llm: FleetGate
    fleet: AIFleet
    tools: ToolRegistry
    agents: AgentExecutor
    ai_worker: AIWorker
    clock: DatabaseClock
    calendar: CalendarService
    notifications: NotificationService
    scheduler: SchedulerService
    telegram: TelegramBotService
    proactive_runner: ProactiveAgentRunner
    proposals: ProposalService
    audit: AuditTrail
    embedded: EmbeddedPostgres | None = None
    local_llm: LocalLLMServer | None = None
    relay: PgEventRelay | None = None
    background: list[PeriodicTask] = field(default_factory=list)
    _closers: list = field(default_factory=list)

    @classmethod
    async def start(cls, settings: Settings) -> EngineService:
        local_llm: LocalLLMServer | None = None
        if settings.llm_provider == "local":
            local_model = await asyncio.to_thread(resolve_model, settings)
            local_llm = LocalLLMServer(settings, local_model)
        embedded: EmbeddedPostgres | None = None
        dsn = settings.database_url
        try:
            if settings.uses_embedded_db:
                embedded = EmbeddedPostgres(settings.data_dir)
                dsn = await embedded.start()
            if local_llm is not None:
                await local_llm.start()
                settings = settings.model_copy(
                    update={"llm_base_url": local_llm.base_url, "llm_model": MODEL_ALIAS}
                )
            # Migrations and the tenancy set-up run as the DSN's user, the schema's owner;
            # the pool then switches every connection to the runtime role.
            owner = await asyncpg.connect(dsn, timeout=settings.db_command_timeout)
            try:
                await apply_migrations(owner, app_role=settings.database_app_role)
            finally:
                await owner.close()
            pool = await create_pool(
                dsn,
                min_size=settings.db_pool_min,
                max_size=settings.db_pool_max,
                command_timeout=settings.db_command_timeout,
                role=settings.database_app_role,
            )
        except BaseException:
            if local_llm is not None:
                await local_llm.stop()
            if embedded is not None:
                await embedded.stop()
            raise
        engine = cls.build(settings, pool, embedded=embedded, local_llm=local_llm)
        try:
            await engine._bootstrap()
            await engine.fleet.start()
            await engine.ai_worker.start()
            if settings.events_relay_enabled:
                relay = PgEventRelay(
                    dsn, engine.db.tableless(), engine.bus, engine.storages.messages
                )
                relay.load_proposal = engine.proposals.event_data
                relay.on_signal(PROMPT_CACHE_CLEARED, engine.prompts.clear)
                relay.on_signal(QUEUE_SIGNAL, engine.fleet.local_changed)
                engine.roles.broadcast = relay.broadcast
                engine.fleet.broadcast = relay.broadcast
                await relay.start()
                engine.relay = relay
            if settings.ai_worker_enabled and settings.ai_recovery_enabled:
                engine.start_fleet_probes()
            if settings.scheduler_enabled:
                engine.start_background()
        except BaseException:
            await engine.close()
            raise
        return engine

    @classmethod
    def build(
        cls,
        settings: Settings,
        pool: asyncpg.Pool,
        *,
        embedded: EmbeddedPostgres | None = None,
        local_llm: LocalLLMServer | None = None,
    ) -> EngineService:
        db = Database(pool)
        storages = Storages.build(db)
        http = httpx.AsyncClient(
            timeout=httpx.Timeout(30.0, connect=5.0), verify=shared_tls_context()
        )
        hasher = PasswordHasher(settings.bcrypt_rounds)
        prompts = PromptCache(settings.prompt_dir)
        audit = AuditTrail(storages.audit)
        users = UserService(db, storages.users, storages.refresh_tokens, hasher, audit)
        bus = ChatEventBus()
        gate = FleetGate(
            {
                backend.name: LLMGate(
                    build_chat_model(settings, backend),
                    max_concurrency=backend.capacity,
                    timeout=settings.llm_timeout_seconds,
                    tools_unavailable=local_llm.model.tools_unavailable if local_llm else None,
                )
                for backend in settings.backends
            },
            default=settings.backends[0].name,
        )
        fleet = AIFleet(
            settings,
            storages.ai_queue,
            {b.name: LLMProbe(settings, http, backend=b) for b in settings.backends},
        )
        tools = ToolRegistry()
        executor = AgentExecutor(
            gate, prompts, storages.roles, tools, max_steps=settings.agent_max_steps
        )
        clock = DatabaseClock(db)
        calendar = CalendarService(
            db,
            storages.calendar_events,
            storages.calendar_runs,
            storages.users,
            storages.roles,
            clock,
            audit,
        )
        proposals = ProposalService(
            db, storages.proposals, storages.chats, storages.messages, calendar, audit, bus
        )
        tools.register(calendar_tool(calendar, proposals.propose))
        tools.register(role_call_tool(executor.ask_role))
        tools.register(rag_tool(storages.documents))
        tools.register(web_tool(http, settings.web_search_url))
        answers = AIAnswerService(
            settings, executor, storages.messages, storages.roles, storages.users
        )
        ai_worker = AIWorker(settings, storages.messages, bus, answers.answer, fleet)
        messages = MessageService(
            db, storages.messages, storages.chats, storages.users, storages.roles, bus, audit
        )
        messages.submit_ai_job = ai_worker.submit
        messages.proposals = proposals
        proactive_runner = ExecutorProactiveRunner(executor, storages.users, storages.roles, fleet)
        senders = build_senders(settings, http)
        notifications = NotificationService(
            settings,
            storages.channels,
            storages.notifications,
            storages.notification_log,
            storages.users,
            senders,
            clock,
            db,
            audit,
        )
        messages.notify = notifications.notify
        scheduler = SchedulerService(
            settings,
            db,
            storages.calendar_events,
            storages.calendar_runs,
            storages.users,
            notifications,
            clock,
            proactive_runner,
        )
        telegram_sender = senders.get(TelegramSender.channel_type)
        telegram = TelegramBotService(
            settings,
            db,
            storages.telegram_links,
            storages.telegram_updates,
            storages.channels,
            telegram_sender if isinstance(telegram_sender, TelegramSender) else None,
            proactive_runner,
            clock,
            audit,
        )
        auth = AuthService(
            settings,
            db,
            storages.users,
            storages.refresh_tokens,
            storages.login_failures,
            hasher,
            storages.organizations,
            audit,
        )
        organizations = OrganizationService(db, storages.organizations, storages.roles, users)
        for revoker in (auth, users, organizations):
            revoker.on_revoked = bus.revoke
        return cls(
            settings=settings,
            db=db,
            storages=storages,
            http=http,
            prompts=prompts,
            auth=auth,
            users=users,
            organizations=organizations,
            roles=RoleService(storages.roles, prompts, audit),
            health=HealthService(
                db,
                fleet.probes[settings.backends[0].name],
                gate,
                lambda: ai_worker.active_jobs,
                local_llm,
                fleet,
            ),
            bus=bus,
            chats=ChatService(db, storages.chats, storages.users, bus, audit),
            streams=ChatStreamService(
                bus, storages.chats, storages.messages, storages.users, storages.organizations
            ),
            messages=messages,
            documents=DocumentService(db, storages.documents, audit),
            llm=gate,
            fleet=fleet,
            tools=tools,
            agents=executor,
            ai_worker=ai_worker,
            clock=clock,
            calendar=calendar,
            notifications=notifications,
            scheduler=scheduler,
            telegram=telegram,
            proactive_runner=proactive_runner,
            proposals=proposals,
            audit=audit,
            embedded=embedded,
            local_llm=local_llm,
        )

    async def _bootstrap(self) -> None:
        await self.storages.login_failures.prune(self.settings.login_failure_window_seconds)
        await self.storages.refresh_tokens.purge_expired()
        password = self.settings.admin_password
        if password is not None:
            await self.organizations.bootstrap_system_admin(
                self.settings.admin_username,
                self.settings.admin_email,
                password.get_secret_value(),
            )

    def use_proactive_runner(self, runner: ProactiveAgentRunner) -> None:
        """Replace what runs AI roles for the scheduler and the Telegram bot (tests, plugins)."""
        self.proactive_runner = runner
        self.scheduler.runner = runner
        self.telegram.runner = runner

    def start_fleet_probes(self) -> None:
        """Probe every model server now and then; a failed probe ejects it for a while."""
        probes = PeriodicTask(
            "llm-fleet-probes",
            self.fleet.probe,
            interval=self.settings.ai_backend_health_interval_seconds,
            shutdown_grace=2.0,
        )
        probes.start()
        self.background.append(probes)
        self._closers.append(probes.stop)

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
        except Exception:  # shutdown must go on whatever one part does
            log.exception("error while stopping the Telegram bot")
        await self.ai_worker.stop()
        if self.relay is not None:
            await self.relay.stop()
        for closer in reversed(self._closers):
            try:
                await closer()
            except Exception:  # shutdown must go on whatever one part does
                log.exception("error while stopping %r", closer)
        await self.notifications.close()
        await self.http.aclose()
        await self.db.close()
        if self.local_llm is not None:
            await self.local_llm.stop()
        if self.embedded is not None:
            await self.embedded.stop()
