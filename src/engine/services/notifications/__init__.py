"""Notifications: the outbox, delivery over channels, the Telegram bot."""
