-- Notifications: the outbox, per-attempt log links, Telegram linking and update de-duplication.

CREATE UNIQUE INDEX notification_channels_address_key
    ON notification_channels (org_id, user_id, type, lower(address)) WHERE NOT is_deleted;
CREATE INDEX notification_channels_telegram_chat_idx ON notification_channels (address)
    WHERE type = 'telegram' AND NOT is_deleted;

-- Outbox: a notification is stored before any send, so a crash loses nothing.
CREATE TABLE notifications (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id           uuid NOT NULL REFERENCES organizations (id),
    user_id          uuid NOT NULL REFERENCES users (id),
    subject          text NOT NULL,
    body             text NOT NULL,
    all_channels     boolean NOT NULL DEFAULT false,
    source           text NOT NULL DEFAULT 'system',
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    lease_until      timestamptz,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz
);
CREATE INDEX notifications_due_idx ON notifications (next_attempt_at) WHERE status = 'pending';
CREATE INDEX notifications_stale_idx ON notifications (lease_until) WHERE status = 'sending';
CREATE INDEX notifications_user_idx ON notifications (org_id, user_id, created_at DESC);

ALTER TABLE notification_log
    ADD COLUMN notification_id uuid REFERENCES notifications (id),
    ADD COLUMN address text,
    ADD COLUMN source text;
CREATE INDEX notification_log_user_idx ON notification_log (org_id, user_id, created_at DESC);
CREATE INDEX notification_log_notification_idx ON notification_log (notification_id);

-- One-time tokens behind t.me/<bot>?start=<token>; only the hash is stored.
CREATE TABLE telegram_link_tokens (
    token_hash  text PRIMARY KEY,
    org_id      uuid NOT NULL REFERENCES organizations (id),
    user_id     uuid NOT NULL REFERENCES users (id),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    chat_id     text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX telegram_link_tokens_user_idx ON telegram_link_tokens (org_id, user_id);

-- Updates already taken by some engine process: Telegram may deliver one more than once.
CREATE TABLE telegram_updates (
    update_id    bigint PRIMARY KEY,
    received_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX telegram_updates_received_idx ON telegram_updates (received_at);
