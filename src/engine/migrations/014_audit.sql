-- Append-only audit trail per organization. Rows are written in the same transaction as the
-- change they record; the engine never updates or deletes them (the runtime role's grants
-- allow SELECT and INSERT only; retention is applied by `rugpt audit-purge` as the owner).

CREATE TABLE audit_log (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id       uuid NOT NULL REFERENCES organizations (id),
    at           timestamptz NOT NULL DEFAULT now(),
    actor_id     uuid,
    action       text NOT NULL,
    target_type  text,
    target_id    text,
    details      jsonb NOT NULL DEFAULT '{}'::jsonb,
    request_id   text,
    client_ip    text
);
CREATE INDEX audit_log_org_idx ON audit_log (org_id, id DESC);
CREATE INDEX audit_log_org_action_idx ON audit_log (org_id, action, id DESC);
CREATE INDEX audit_log_at_idx ON audit_log (at);
