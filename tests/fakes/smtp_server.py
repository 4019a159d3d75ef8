"""`FakeSMTP`: an aiosmtpd server on the running loop that keeps what it receives.

async with FakeSMTP() as smtp:
    smtp.fail_next(451, "4.7.1 Try again later")   # next message: transient failure
    ...  # code under test sends to smtp.host:smtp.port
    await wait_for_len(smtp.messages, 1)
    assert smtp.messages[0].subject == "Отчёт"
    smtp.hold()  # a slow server: messages wait at DATA until smtp.release()
"""

from __future__ import annotations

import asyncio
import email
import email.policy
from collections import deque
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any, Literal

from aiosmtpd.smtp import SMTP, Envelope, Session

Stage = Literal["rcpt", "data"]


@dataclass
class ReceivedMail:
    """A delivered message, parsed with the `email` package."""

    mail_from: str  # envelope sender (MAIL FROM)
    rcpt_tos: list[str]  # envelope recipients (RCPT TO)
    from_: str  # From: header
    to: list[str]  # addresses in the To: header
    subject: str
    text: str | None  # text/plain body, if any
    html: str | None  # text/html body, if any
    message: EmailMessage
    raw: bytes


@dataclass
class _Failure:
    code: int
    message: str
    stage: Stage
    remaining: int


class FakeSMTP:
    """SMTP sink on 127.0.0.1 with scriptable 4xx/5xx answers and down/up."""

    host = "127.0.0.1"

    def __init__(self, hostname: str = "fake-smtp.test") -> None:
        self.hostname = hostname  # given explicitly: aiosmtpd's default does a DNS lookup
        self.port = 0
        self.messages: list[ReceivedMail] = []
        self.rejected: list[tuple[int, str]] = []  # (code, envelope sender) of failed tries
        self._failures: deque[_Failure] = deque()
        self.held = 0  # messages waiting at DATA while `hold()` is on
        self._gate: asyncio.Event | None = None
        self._server: asyncio.Server | None = None
        self._sessions: set[SMTP] = set()

    async def start(self) -> FakeSMTP:
        """Listen on 127.0.0.1 (a free port first, then the same port after `down()`)."""
        if self._server is None:
            loop = asyncio.get_running_loop()
            self._server = await loop.create_server(self._protocol, self.host, self.port)
            self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        """Stop listening and cut the connections that are still open."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for session in list(self._sessions):
            if session.transport is not None:
                session.transport.close()
        self._sessions.clear()
        await server.wait_closed()

    async def down(self) -> None:
        """Refuse connections (and drop open ones) until `up()`; the port is kept."""
        await self.stop()

    async def up(self) -> None:
        await self.start()

    @property
    def is_up(self) -> bool:
        return self._server is not None

    async def __aenter__(self) -> FakeSMTP:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def fail_next(
        self, code: int = 451, message: str = "", count: int = 1, *, at: Stage = "rcpt"
    ) -> None:
        """Reject the next `count` messages with `code` (4xx transient, 5xx permanent).

        `at="rcpt"` refuses every recipient of the message (aiosmtplib raises
        SMTPRecipientsRefused); `at="data"` accepts recipients, then rejects the content
        (SMTPDataError).
        """
        default = "4.3.0 Try again later" if code < 500 else "5.7.1 Message rejected"
        self._failures.append(_Failure(code, message or default, at, count))

    def hold(self) -> None:
        """Keep every message waiting at DATA (a slow server) until `release()`."""
        if self._gate is None:
            self._gate = asyncio.Event()

    def release(self) -> None:
        gate, self._gate = self._gate, None
        if gate is not None:
            gate.set()

    def reset(self) -> None:
        self.release()
        self.messages.clear()
        self.rejected.clear()
        self._failures.clear()

    def _protocol(self) -> SMTP:
        session = _TrackedSMTP(self, _Handler(self), hostname=self.hostname)
        self._sessions.add(session)
        return session

    def _failure_for(self, envelope: Envelope, stage: Stage) -> _Failure | None:
        """The failure for this transaction; taken from the queue once per message."""
        failure: _Failure | None = getattr(envelope, "fake_failure", None)
        if failure is None and self._failures and self._failures[0].stage == stage:
            failure = self._failures[0]
            failure.remaining -= 1
            if failure.remaining <= 0:
                self._failures.popleft()
            envelope.fake_failure = failure  # type: ignore[attr-defined]
            self.rejected.append((failure.code, envelope.mail_from or ""))
        return failure


class _TrackedSMTP(SMTP):
    def __init__(self, owner: FakeSMTP, handler: Any, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._owner = owner

    def connection_lost(self, error: Exception | None) -> None:
        self._owner._sessions.discard(self)
        super().connection_lost(error)


class _Handler:
    def __init__(self, owner: FakeSMTP) -> None:
        self.owner = owner

    async def handle_RCPT(  # noqa: N802 - aiosmtpd hook name
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if failure := self.owner._failure_for(envelope, "rcpt"):
            return f"{failure.code} {failure.message}"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        if failure := self.owner._failure_for(envelope, "data"):
            return f"{failure.code} {failure.message}"
        if (gate := self.owner._gate) is not None:
            self.owner.held += 1
            try:
                await gate.wait()
            finally:
                self.owner.held -= 1
            if server.transport is None or server.transport.is_closing():
                # the client is gone (killed meanwhile): it never heard "250", nothing sent
                return "421 4.4.2 Connection lost"
        raw = envelope.content if isinstance(envelope.content, bytes) else b""
        self.owner.messages.append(_parse(envelope, raw))
        return "250 Message accepted for delivery"


def _parse(envelope: Envelope, raw: bytes) -> ReceivedMail:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    to_header = message["to"]
    addresses = getattr(to_header, "addresses", ()) if to_header else ()

    def body(subtype: str) -> str | None:
        part = message.get_body(preferencelist=(subtype,))
        return part.get_content() if part is not None else None

    return ReceivedMail(
        mail_from=envelope.mail_from or "",
        rcpt_tos=list(envelope.rcpt_tos),
        from_=str(message["from"] or ""),
        to=[a.addr_spec for a in addresses],
        subject=str(message["subject"] or ""),
        text=body("plain"),
        html=body("html"),
        message=message,
        raw=raw,
    )
