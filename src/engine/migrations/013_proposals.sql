-- Proposals: writes an AI tool wanted to make, waiting for a person's approval.
-- A proposal made in a chat answer carries chat_id + message_id; one made by a proactive run
-- (a calendar firing, a Telegram question) has no chat: it carries requested_by (the person
-- the run acted for, who alone may approve it) and, for a calendar firing, calendar_run_id.

CREATE TABLE proposals (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id           uuid NOT NULL REFERENCES organizations (id),
    chat_id          uuid REFERENCES chats (id),
    message_id       bigint REFERENCES messages (id),
    calendar_run_id  uuid REFERENCES calendar_event_runs (id),
    requested_by     uuid REFERENCES users (id),
    role_code        text NOT NULL,
    tool             text NOT NULL,
    action           text NOT NULL,
    target_type      text NOT NULL,
    target_id        text,
    -- the target's updated_at when proposed: approval is refused when it differs
    target_version   text,
    payload          jsonb NOT NULL,
    summary          text NOT NULL,
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'applied', 'rejected', 'failed', 'conflict')),
    status_reason    text,
    result           jsonb,
    decided_by       uuid REFERENCES users (id),
    decided_at       timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CHECK ((chat_id IS NULL) = (message_id IS NULL))
);
CREATE INDEX proposals_message_idx ON proposals (org_id, message_id) WHERE message_id IS NOT NULL;
CREATE INDEX proposals_requester_idx ON proposals (org_id, requested_by, created_at DESC)
    WHERE chat_id IS NULL;
