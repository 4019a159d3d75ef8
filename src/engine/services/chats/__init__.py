"""Chats and messages: membership, posting, mentions, live events and their cross-process relay."""
