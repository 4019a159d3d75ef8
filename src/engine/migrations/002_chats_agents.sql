-- Chats: mentions, AI work leases; knowledge base for the `rag` tool.

ALTER TABLE messages
    ADD COLUMN ai_attempts     integer NOT NULL DEFAULT 0,
    ADD COLUMN ai_lease_until  timestamptz,
    ADD COLUMN ai_started_at   timestamptz,
    ADD COLUMN ai_finished_at  timestamptz,
    ADD COLUMN ai_requested_by uuid REFERENCES users (id);

CREATE INDEX messages_chat_created_idx ON messages (org_id, chat_id, id)
    WHERE NOT is_deleted;

CREATE TABLE mentions (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id       uuid NOT NULL REFERENCES organizations (id),
    chat_id      uuid NOT NULL REFERENCES chats (id),
    message_id   bigint NOT NULL REFERENCES messages (id),
    user_id      uuid NOT NULL REFERENCES users (id),
    notification_id uuid,
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (message_id, user_id)
);
CREATE INDEX mentions_user_idx ON mentions (org_id, user_id, id DESC);

CREATE TABLE documents (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id      uuid NOT NULL REFERENCES organizations (id),
    title       text NOT NULL,
    content     text NOT NULL,
    created_by  uuid NOT NULL REFERENCES users (id),
    is_deleted  boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX documents_org_idx ON documents (org_id, created_at DESC) WHERE NOT is_deleted;

CREATE TABLE document_chunks (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id       uuid NOT NULL REFERENCES organizations (id),
    document_id  uuid NOT NULL REFERENCES documents (id),
    ordinal      integer NOT NULL,
    content      text NOT NULL,
    tsv          tsvector GENERATED ALWAYS AS (
                     to_tsvector('russian', content) || to_tsvector('simple', content)
                 ) STORED,
    UNIQUE (document_id, ordinal)
);
CREATE INDEX document_chunks_tsv_idx ON document_chunks USING gin (tsv);
CREATE INDEX document_chunks_org_idx ON document_chunks (org_id, document_id);
