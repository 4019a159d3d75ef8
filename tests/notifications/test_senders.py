"""Senders against loopback Telegram Bot API and SMTP servers."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
import pytest

from engine.notifications import DeliveryError, EmailSender, TelegramSender, split_message
from tests.fakes import FakeSMTP, FakeTelegram

TOKEN = "123456:test-token"


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(token=TOKEN) as fake:
        yield fake


@pytest.fixture
async def smtp() -> AsyncIterator[FakeSMTP]:
    async with FakeSMTP() as fake:
        yield fake


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def telegram_sender(
    http: httpx.AsyncClient, fake: FakeTelegram, max_inline_wait: float = 5.0
) -> TelegramSender:
    return TelegramSender(
        http, token=TOKEN, base_url=fake.base_url, timeout=5, max_inline_wait=max_inline_wait
    )


def email_sender(fake: FakeSMTP) -> EmailSender:
    return EmailSender(
        host=fake.host, port=fake.port, sender="rugpt@example.com", security="none", timeout=5
    )


async def test_telegram_sends_subject_and_body(
    telegram: FakeTelegram, http: httpx.AsyncClient
) -> None:
    await telegram_sender(http, telegram).send("4242", "Календарь: отчёт", "Срок — сегодня")
    assert telegram.sent[0].chat_id == 4242
    assert telegram.sent[0].text == "Календарь: отчёт\n\nСрок — сегодня"


async def test_telegram_splits_long_text(telegram: FakeTelegram, http: httpx.AsyncClient) -> None:
    paragraph = "Строка отчёта номер {} — всё сходится.\n"
    body = "".join(paragraph.format(i) for i in range(400))  # ~16k characters
    await telegram_sender(http, telegram).send("1", "Отчёт", body)
    texts = telegram.texts(1)
    assert len(texts) >= 4
    assert all(len(t) <= 4096 for t in texts)
    assert all(t.endswith("\n") for t in texts[:-1])  # cut at line breaks
    assert "".join(texts) == "Отчёт\n\n" + body


def test_split_counts_utf16_units_and_never_loses_text() -> None:
    emoji = "😀" * 3000  # 2 UTF-16 units each: 6000 units
    pieces = split_message(emoji)
    assert [len(p.encode("utf-16-le")) // 2 for p in pieces] == [4096, 1904]
    assert "".join(pieces) == emoji
    words = ("слово " * 2000).strip()
    pieces = split_message(words, limit=100)
    assert "".join(pieces) == words and all(len(p) <= 100 for p in pieces)
    assert split_message("short") == ["short"]


async def test_telegram_429_within_limit_is_waited_out(
    telegram: FakeTelegram, http: httpx.AsyncClient
) -> None:
    telegram.fail_next(429, retry_after=1)
    started = time.monotonic()
    await telegram_sender(http, telegram).send("7", "s", "b")
    assert time.monotonic() - started >= 1.0
    assert [c.status for c in telegram.calls] == [429, 200]
    assert telegram.texts(7) == ["s\n\nb"]


async def test_telegram_429_beyond_limit_is_a_transient_error_with_retry_after(
    telegram: FakeTelegram, http: httpx.AsyncClient
) -> None:
    telegram.fail_next(429, retry_after=120)
    with pytest.raises(DeliveryError) as caught:
        await telegram_sender(http, telegram, max_inline_wait=5).send("7", "s", "b")
    assert caught.value.transient and caught.value.retry_after == 120
    assert telegram.sent == []


@pytest.mark.parametrize(("status", "transient"), [(400, False), (403, False), (500, True)])
async def test_telegram_errors_are_classified(
    telegram: FakeTelegram, http: httpx.AsyncClient, status: int, transient: bool
) -> None:
    telegram.fail_next(status)
    with pytest.raises(DeliveryError) as caught:
        await telegram_sender(http, telegram).send("7", "s", "b")
    assert caught.value.transient is transient
    assert str(status) in str(caught.value)


async def test_telegram_down_is_transient(telegram: FakeTelegram, http: httpx.AsyncClient) -> None:
    await telegram.down()
    with pytest.raises(DeliveryError) as caught:
        await telegram_sender(http, telegram).send("7", "s", "b")
    assert caught.value.transient


async def test_email_delivers_plain_and_html(smtp: FakeSMTP) -> None:
    await email_sender(smtp).send(
        "ivan@example.com", "Календарь: сверка", "Сверка с банком\n\nОтвет: <всё ок> & в срок"
    )
    assert len(smtp.messages) == 1
    mail = smtp.messages[0]
    assert mail.to == ["ivan@example.com"] and mail.from_ == "rugpt@example.com"
    assert mail.subject == "Календарь: сверка"
    assert mail.text is not None and "Ответ: <всё ок> & в срок" in mail.text
    assert mail.html is not None and "&lt;всё ок&gt; &amp; в срок" in mail.html


@pytest.mark.parametrize(
    ("code", "stage", "transient"),
    [(451, "rcpt", True), (550, "rcpt", False), (452, "data", True), (554, "data", False)],
)
async def test_email_errors_are_classified(
    smtp: FakeSMTP, code: int, stage: str, transient: bool
) -> None:
    smtp.fail_next(code, at=stage)  # type: ignore[arg-type]
    with pytest.raises(DeliveryError) as caught:
        await email_sender(smtp).send("ivan@example.com", "s", "b")
    assert caught.value.transient is transient
    assert str(code) in str(caught.value)
    assert smtp.messages == []


async def test_email_server_down_is_transient(smtp: FakeSMTP) -> None:
    await smtp.down()
    with pytest.raises(DeliveryError) as caught:
        await email_sender(smtp).send("ivan@example.com", "s", "b")
    assert caught.value.transient
