"""Channels that carry a notification to a person: Telegram and email."""

from engine.notifications.base import BaseSender, DeliveryError
from engine.notifications.email import EmailSender
from engine.notifications.telegram import TelegramSender, split_message

__all__ = ["BaseSender", "DeliveryError", "EmailSender", "TelegramSender", "split_message"]
