"""Relay chat events between engine processes through PostgreSQL LISTEN/NOTIFY.

Each process publishes message events locally and also sends a small NOTIFY (chat, message,
event type, origin). Every other process loads the message and publishes it to its own SSE
subscribers, so a client connected to any process sees every message. Streamed tokens stay
local: they are too many for NOTIFY and are only a preview of the stored answer.

Revocations (a member removed, a user or organization deactivated, a password reset, a
logout) travel the same way, so a stream ends on whichever process holds it.

Signals (`broadcast`) carry what every process must do to its own memory, such as dropping
the prompt cache: a name only; each process runs the handler it registered (`on_signal`).
After the listening connection was lost, every handler runs once on reconnecting, since a
signal sent in between was missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

import asyncpg

from engine.errors import DB_UNAVAILABLE_ERRORS
from engine.models.access import Revocation, RevocationReason
from engine.services.chats.events import PROPOSAL_EVENTS, ChatEvent, ChatEventBus, EventType
from engine.storage.messages import MessageStorage
from engine.storage.postgres.database import Scope

log = logging.getLogger(__name__)

CHANNEL = "rugpt_chat_events"
RELAYED = {
    EventType.MESSAGE_CREATED,
    EventType.MESSAGE_UPDATED,
    EventType.MESSAGE_DELETED,
    EventType.MESSAGE_STATUS,
    EventType.CHAT_UPDATED,
    EventType.CHAT_MEMBER_ADDED,
    EventType.CHAT_MEMBER_REMOVED,
    *PROPOSAL_EVENTS,
}
# Loads a proposal's event data by (org_id, proposal_id): a proposal can outgrow a NOTIFY
# payload (8000 bytes), so only its id travels, like a message's.
ProposalLoader = Callable[[UUID, UUID], Awaitable[dict[str, Any] | None]]
RECONNECT_SECONDS = 2.0


class PgEventRelay:
    def __init__(
        self, dsn: str, notifier: Scope, bus: ChatEventBus, messages: MessageStorage
    ) -> None:
        self.dsn = dsn
        self.notifier = notifier
        self.bus = bus
        self.messages = messages
        self.origin = uuid.uuid4().hex
        self._listener: asyncio.Task[None] | None = None
        self._sends: set[asyncio.Task[None]] = set()
        self._outbox: list[str] = []
        self._flusher: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()
        self.listener_pid: int | None = None  # the listening connection's server process
        self.load_proposal: ProposalLoader | None = None
        self._signal_handlers: dict[str, Callable[[], object]] = {}

    async def start(self) -> None:
        self.bus.forward = self.forward
        self.bus.forward_revocation = self.forward_revocation
        self._listener = asyncio.create_task(self._listen_forever(), name="event-relay")

    def forward(self, chat_id: UUID, event: ChatEvent) -> None:
        if event.type not in RELAYED:
            return
        payload: dict[str, Any] = {"o": self.origin, "c": str(chat_id), "t": event.type}
        if event.message is not None:
            payload["m"] = event.message.id
            payload["g"] = str(event.message.org_id)
        elif event.type in PROPOSAL_EVENTS:
            payload["p"] = event.data["id"]
            payload["g"] = event.data["org_id"]
        else:
            payload["d"] = event.data
        self._send(payload)

    def forward_revocation(self, revocation: Revocation) -> None:
        payload: dict[str, Any] = {"o": self.origin, "r": revocation.reason.value}
        for key, value in (
            ("g", revocation.org_id),
            ("u", revocation.user_id),
            ("c", revocation.chat_id),
            ("s", revocation.session_id),
        ):
            if value is not None:
                payload[key] = str(value)
        self._send(payload)

    def broadcast(self, signal: str) -> None:
        """Have every other process run its handler of `signal`."""
        self._send({"o": self.origin, "x": signal})

    def on_signal(self, signal: str, handler: Callable[[], object]) -> None:
        self._signal_handlers[signal] = handler

    def _run_signal(self, signal: str) -> None:
        handler = self._signal_handlers.get(signal)
        if handler is None:
            return
        try:
            handler()
        except Exception:
            log.exception("relayed signal %r failed", signal)

    def _send(self, payload: dict[str, Any]) -> None:
        self._outbox.append(json.dumps(payload, default=str))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
            self._sends.add(self._flusher)
            self._flusher.add_done_callback(self._sends.discard)

    async def _flush(self) -> None:
        """Send what the outbox holds in one statement, in order, until it is empty.

        Events queued while a batch is on its way go out together in the next one: under
        load one round trip carries many events (a statement per event was a measurable
        part of every posted message, bench/README.md); alone, an event leaves at once.
        """
        while self._outbox:
            batch, self._outbox = self._outbox, []
            try:
                await self.notifier.execute(
                    "SELECT pg_notify($1, payload) FROM unnest($2::text[]) AS payload",
                    CHANNEL,
                    batch,
                )
            except DB_UNAVAILABLE_ERRORS as exc:
                log.warning("%d chat events not relayed: %r", len(batch), exc)

    async def _listen_forever(self) -> None:
        was_connected = False
        while True:
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(self.dsn)
                await conn.add_listener(CHANNEL, self._on_notify)
                self.listener_pid = conn.get_server_pid()
                if was_connected:  # signals sent while no one listened here are lost
                    for signal in list(self._signal_handlers):
                        self._run_signal(signal)
                was_connected = True
                self.connected.set()
                await self._wait_closed(conn)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("event relay connection lost: %r; reconnecting", exc)
            finally:
                self.connected.clear()
                if conn is not None and not conn.is_closed():
                    with contextlib.suppress(Exception):
                        await conn.close()
            await asyncio.sleep(RECONNECT_SECONDS)

    @staticmethod
    async def _wait_closed(conn: asyncpg.Connection) -> None:
        closed = asyncio.Event()
        conn.add_termination_listener(lambda _: closed.set())
        await closed.wait()

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            data = json.loads(payload)
        except ValueError:
            return
        if data.get("o") == self.origin:
            return
        if "r" in data:  # no database read: ends the streams at once
            self._revoke(data)
            return
        if "x" in data:
            self._run_signal(str(data["x"]))
            return
        task = asyncio.create_task(self._deliver(data))
        self._sends.add(task)
        task.add_done_callback(self._sends.discard)

    def _revoke(self, data: dict[str, Any]) -> None:
        def uuid_of(key: str) -> UUID | None:
            return UUID(data[key]) if key in data else None

        try:
            self.bus.revoke_local(
                Revocation(
                    RevocationReason(data["r"]),
                    org_id=UUID(data["g"]),
                    user_id=uuid_of("u"),
                    chat_id=uuid_of("c"),
                    session_id=uuid_of("s"),
                )
            )
        except (KeyError, ValueError, TypeError):
            log.warning("malformed relayed revocation: %r", data)

    async def _deliver(self, data: dict[str, Any]) -> None:
        try:
            chat_id = UUID(data["c"])
            if self.bus.subscriber_count(chat_id) == 0:
                return
            kind = EventType(data["t"])
            if "m" in data:
                message = await self.messages.get_by_id(UUID(data["g"]), int(data["m"]))
                if message is not None:
                    self.bus.publish_local(chat_id, ChatEvent(kind, message=message))
            elif "p" in data:
                loaded = None
                if self.load_proposal is not None:
                    loaded = await self.load_proposal(UUID(data["g"]), UUID(data["p"]))
                if loaded is not None:
                    self.bus.publish_local(chat_id, ChatEvent(kind, loaded))
            else:
                self.bus.publish_local(chat_id, ChatEvent(kind, data.get("d") or {}))
        except Exception:
            log.exception("could not deliver relayed chat event")

    async def stop(self) -> None:
        self.bus.forward = None
        self.bus.forward_revocation = None
        tasks = [t for t in (self._listener, *self._sends) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
