-- The AI work queue shared by every engine process, and the fleet of model servers.
--
-- A claim takes one queued job and one free slot of one healthy backend in a single
-- transaction under a transaction-scoped advisory lock: the slots in use of a backend are
-- its running jobs with an unexpired lease, so all processes together never exceed its
-- capacity. A chat answer is queued by a trigger in the transaction that inserts its
-- placeholder message; a proactive run (calendar firing, Telegram) holds a ticket row
-- owned by the process that waits for it.

CREATE TABLE llm_backends (
    name                 text PRIMARY KEY,
    provider             text NOT NULL,
    base_url             text NOT NULL,
    model                text NOT NULL,
    capacity             integer NOT NULL CHECK (capacity >= 1),
    weight               double precision NOT NULL DEFAULT 1 CHECK (weight > 0),
    ejected_until        timestamptz,
    consecutive_failures integer NOT NULL DEFAULT 0,
    ejections            integer NOT NULL DEFAULT 0,
    last_error           text,
    updated_at           timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE ai_jobs (
    id           bigserial PRIMARY KEY,
    org_id       uuid NOT NULL REFERENCES organizations (id),
    user_id      uuid,
    kind         text NOT NULL CHECK (kind IN ('chat', 'ticket')),
    message_id   bigint UNIQUE,
    priority     smallint NOT NULL DEFAULT 0,
    status       text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running')),
    owner        text,
    backend      text,
    attempts     integer NOT NULL DEFAULT 0,
    lease_until  timestamptz,
    enqueued_at  timestamptz NOT NULL DEFAULT now(),
    started_at   timestamptz,
    CHECK ((kind = 'chat') = (message_id IS NOT NULL))
);
CREATE INDEX ai_jobs_running_idx ON ai_jobs (backend, lease_until) WHERE status = 'running';
CREATE INDEX ai_jobs_waiting_idx ON ai_jobs (priority, id) WHERE status = 'pending';

CREATE FUNCTION queue_ai_answer() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO ai_jobs (org_id, user_id, kind, message_id)
    VALUES (NEW.org_id, NEW.ai_requested_by, 'chat', NEW.id);
    RETURN NULL;
END $$;

CREATE TRIGGER messages_queue_ai_answer AFTER INSERT ON messages
    FOR EACH ROW WHEN (NEW.kind = 'ai' AND NEW.ai_status = 'pending')
    EXECUTE FUNCTION queue_ai_answer();

-- answers waiting or interrupted when this version is installed join the queue
INSERT INTO ai_jobs (org_id, user_id, kind, message_id, attempts)
SELECT org_id, ai_requested_by, 'chat', id, ai_attempts FROM messages
WHERE kind = 'ai' AND ai_status IN ('pending', 'running') AND NOT is_deleted;
