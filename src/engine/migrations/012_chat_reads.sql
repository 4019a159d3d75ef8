-- Chats: each member's read marker (the last message they have read), for unread counts.

ALTER TABLE chat_members ADD COLUMN last_read_message_id bigint;
