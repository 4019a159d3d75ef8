"""Loopback test doubles speaking real protocols: LLM (Ollama + OpenAI), Telegram, SMTP."""

from .llm_server import RecordedRequest, Reply, ScriptedLLM
from .smtp_server import FakeSMTP, ReceivedMail
from .telegram_server import BotCall, FakeTelegram, SentMessage
from .waiting import wait_for, wait_for_len

__all__ = [
    "BotCall",
    "FakeSMTP",
    "FakeTelegram",
    "ReceivedMail",
    "RecordedRequest",
    "Reply",
    "ScriptedLLM",
    "SentMessage",
    "wait_for",
    "wait_for_len",
]
