"""Email over SMTP with aiosmtplib: plain text plus an HTML alternative."""

from __future__ import annotations

import html
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Literal

import aiosmtplib

from engine.notifications.base import BaseSender, DeliveryError

Security = Literal["none", "starttls", "ssl"]


def html_body(text: str) -> str:
    paragraphs = [p for p in text.split("\n\n") if p.strip()]
    rendered = "".join(f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>" for p in paragraphs)
    return f'<!doctype html><html><body style="font-family: sans-serif">{rendered}</body></html>'


class EmailSender(BaseSender):
    channel_type = "email"

    def __init__(
        self,
        *,
        host: str,
        port: int,
        sender: str,
        username: str = "",
        password: str = "",
        security: Security = "starttls",
        timeout: float = 30.0,
        validate_certs: bool = True,
    ) -> None:
        self.host = host
        self.port = port
        self.sender = sender
        self.username = username
        self.password = password
        self.security = security
        self.timeout = timeout
        self.validate_certs = validate_certs

    def build_message(self, address: str, subject: str, body: str) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = address
        message["Subject"] = subject
        message["Date"] = format_datetime(datetime.now(UTC))
        message["Message-ID"] = make_msgid(domain=self.sender.rpartition("@")[2] or None)
        message.set_content(body)
        message.add_alternative(html_body(body), subtype="html")
        return message

    async def send(self, address: str, subject: str, body: str) -> None:
        message = self.build_message(address, subject, body)
        try:
            await aiosmtplib.send(
                message,
                hostname=self.host,
                port=self.port,
                username=self.username or None,
                password=self.password or None,
                use_tls=self.security == "ssl",
                start_tls=self.security == "starttls",
                validate_certs=self.validate_certs,
                timeout=self.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients] or [550]
            reasons = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)
            raise _by_code(min(codes), f"recipient refused: {reasons}") from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise _by_code(exc.code, f"smtp {exc.code}: {exc.message}") from exc
        except (aiosmtplib.SMTPException, OSError) as exc:  # connection, TLS, timeout
            raise DeliveryError(f"smtp unreachable: {exc!r}", transient=True) from exc


def _by_code(code: int, message: str) -> DeliveryError:
    """SMTP 4xx means try again later; 5xx means this will never work."""
    return DeliveryError(message, transient=not 500 <= code < 600)
