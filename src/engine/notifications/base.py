"""What every sender offers, and how it reports a failure."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar


class DeliveryError(Exception):
    """A send that did not go through.

    `transient` failures (network, 5xx, SMTP 4xx, Telegram 429) are worth retrying;
    permanent ones (SMTP 5xx, Telegram 400/403) are not. `retry_after` is the wait, in
    seconds, that the other side asked for.
    """

    def __init__(self, message: str, *, transient: bool, retry_after: float | None = None):
        super().__init__(message)
        self.transient = transient
        self.retry_after = retry_after


class BaseSender(ABC):
    channel_type: ClassVar[str]

    @abstractmethod
    async def send(self, address: str, subject: str, body: str) -> None:
        """Deliver one message to `address` or raise DeliveryError."""

    async def close(self) -> None:  # noqa: B027 - most senders hold nothing
        """Release what the sender holds."""
