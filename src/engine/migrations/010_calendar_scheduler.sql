-- Calendar scheduling: missed-run policy, the computed end of a series, one row per firing.

ALTER TABLE calendar_events
    ADD COLUMN missed_policy text NOT NULL DEFAULT 'latest'
        CHECK (missed_policy IN ('latest', 'skip')),
    -- last instant an occurrence may start (until_at, or the max_occurrences-th one); NULL = open
    ADD COLUMN series_end_at timestamptz,
    -- the occurrence that next_run_at (its start minus remind_before_minutes) fires for
    ADD COLUMN next_occurrence_at timestamptz,
    ADD CONSTRAINT calendar_events_cron_check CHECK (kind = 'one_time' OR cron IS NOT NULL),
    ADD CONSTRAINT calendar_events_max_occurrences_check
        CHECK (max_occurrences IS NULL OR max_occurrences > 0),
    ADD CONSTRAINT calendar_events_remind_check CHECK (remind_before_minutes >= 0);

CREATE INDEX calendar_events_owner_idx ON calendar_events (org_id, owner_id) WHERE NOT is_deleted;
CREATE INDEX calendar_events_participants_idx ON calendar_events USING gin (participants)
    WHERE NOT is_deleted;

-- One row per fired (or deliberately skipped) occurrence. The unique key makes a second
-- firing of the same occurrence impossible, whichever engine process tries it.
CREATE TABLE calendar_event_runs (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id         uuid NOT NULL REFERENCES organizations (id),
    event_id       uuid NOT NULL REFERENCES calendar_events (id),
    occurrence_at  timestamptz NOT NULL,
    status         text NOT NULL CHECK (status IN ('running', 'done', 'skipped', 'failed')),
    attempt        integer NOT NULL DEFAULT 1,
    claimed_by     text,
    lease_until    timestamptz,
    agent_status   text CHECK (agent_status IN ('ok', 'failed')),
    agent_result   text,
    agent_error    text,
    error          text,
    notified       integer NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL DEFAULT now(),
    finished_at    timestamptz,
    UNIQUE (event_id, occurrence_at)
);
CREATE INDEX calendar_event_runs_stale_idx ON calendar_event_runs (lease_until)
    WHERE status = 'running';
CREATE INDEX calendar_event_runs_event_idx ON calendar_event_runs (org_id, event_id, occurrence_at DESC);
