-- Foundation: organizations, accounts, auth state, AI roles.

CREATE TABLE organizations (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    slug        text NOT NULL,
    name        text NOT NULL,
    is_system   boolean NOT NULL DEFAULT false,
    is_active   boolean NOT NULL DEFAULT true,
    is_deleted  boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX organizations_slug_key ON organizations (lower(slug)) WHERE NOT is_deleted;

CREATE TABLE users (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id         uuid NOT NULL REFERENCES organizations (id),
    username       text NOT NULL,
    email          text,
    full_name      text NOT NULL DEFAULT '',
    password_hash  text NOT NULL,
    role           text NOT NULL DEFAULT 'user'
                   CHECK (role IN ('system_admin', 'admin', 'user')),
    is_active      boolean NOT NULL DEFAULT true,
    is_deleted     boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_org_username_key ON users (org_id, lower(username)) WHERE NOT is_deleted;
CREATE UNIQUE INDEX users_org_email_key ON users (org_id, lower(email))
    WHERE NOT is_deleted AND email IS NOT NULL;
CREATE INDEX users_login_username_idx ON users (lower(username)) WHERE NOT is_deleted;
CREATE INDEX users_login_email_idx ON users (lower(email)) WHERE NOT is_deleted;

CREATE TABLE refresh_tokens (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id       uuid NOT NULL REFERENCES organizations (id),
    user_id      uuid NOT NULL REFERENCES users (id),
    family_id    uuid NOT NULL,
    token_hash   text NOT NULL UNIQUE,
    expires_at   timestamptz NOT NULL,
    used_at      timestamptz,
    revoked_at   timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (org_id, user_id);

-- Failed logins, shared by every engine process (throttling per account and per IP).
CREATE TABLE login_failures (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    scope       text NOT NULL CHECK (scope IN ('account', 'ip')),
    key         text NOT NULL,
    failed_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_failures_key_idx ON login_failures (scope, key, failed_at);

-- The catalog of predefined AI roles; every organization gets its own copy in `roles`.
CREATE TABLE role_templates (
    code         text PRIMARY KEY,
    name         text NOT NULL,
    description  text NOT NULL,
    agent_type   text NOT NULL CHECK (agent_type IN ('simple', 'chain', 'multi_agent')),
    tools        text[] NOT NULL DEFAULT '{}',
    prompt_file  text NOT NULL,
    config       jsonb NOT NULL DEFAULT '{}'::jsonb
);

CREATE TABLE roles (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id       uuid NOT NULL REFERENCES organizations (id),
    code         text NOT NULL,
    name         text NOT NULL,
    description  text NOT NULL,
    agent_type   text NOT NULL CHECK (agent_type IN ('simple', 'chain', 'multi_agent')),
    tools        text[] NOT NULL DEFAULT '{}',
    prompt_file  text NOT NULL,
    config       jsonb NOT NULL DEFAULT '{}'::jsonb,
    is_active    boolean NOT NULL DEFAULT true,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, code)
);

INSERT INTO role_templates (code, name, description, agent_type, tools, prompt_file, config) VALUES
('lawyer', 'Юрист', 'Корпоративный юрист: договоры, трудовое и гражданское право, риски.',
 'chain', '{rag}', 'lawyer.md',
 '{"steps": [
    {"name": "analyse", "instruction": "Разбери вопрос: какие факты известны, какие нормы права применимы, чего не хватает. Кратко, по пунктам."},
    {"name": "draft", "instruction": "На основе анализа подготовь ответ пользователю: вывод, обоснование, рекомендации."},
    {"name": "review", "instruction": "Проверь черновик как старший юрист: исправь ошибки, убери неуверенные утверждения, отметь риски. Выдай только итоговый ответ."}
  ]}'),
('accountant', 'Бухгалтер', 'Бухгалтер: налоги, отчётность, первичные документы, сроки платежей.',
 'simple', '{calendar,rag}', 'accountant.md', '{}'),
('hr', 'HR-специалист', 'Кадровик: приём, отпуска, больничные, графики, корпоративные правила.',
 'simple', '{calendar,rag,role_call}', 'hr.md', '{}'),
('chu', 'Руководитель аппарата', 'Руководитель аппарата: общий помощник, распределяет вопросы между специалистами.',
 'multi_agent', '{calendar,role_call,rag,web}', 'chu.md',
 '{"delegates": ["lawyer", "accountant", "hr"]}');

-- Chats and messages.
CREATE TABLE chats (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id           uuid NOT NULL REFERENCES organizations (id),
    kind             text NOT NULL CHECK (kind IN ('direct', 'group')),
    title            text NOT NULL DEFAULT '',
    created_by       uuid NOT NULL REFERENCES users (id),
    is_archived      boolean NOT NULL DEFAULT false,
    is_deleted       boolean NOT NULL DEFAULT false,
    last_message_at  timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX chats_org_idx ON chats (org_id, created_at DESC);

CREATE TABLE chat_members (
    org_id      uuid NOT NULL REFERENCES organizations (id),
    chat_id     uuid NOT NULL REFERENCES chats (id),
    user_id     uuid NOT NULL REFERENCES users (id),
    is_owner    boolean NOT NULL DEFAULT false,
    is_active   boolean NOT NULL DEFAULT true,
    joined_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (chat_id, user_id)
);
CREATE INDEX chat_members_user_idx ON chat_members (org_id, user_id) WHERE is_active;

CREATE TABLE messages (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id          uuid NOT NULL REFERENCES organizations (id),
    chat_id         uuid NOT NULL REFERENCES chats (id),
    author_id       uuid REFERENCES users (id),
    role_code       text,
    kind            text NOT NULL DEFAULT 'user' CHECK (kind IN ('user', 'ai', 'system')),
    content         text NOT NULL DEFAULT '',
    reply_to_id     bigint REFERENCES messages (id),
    ai_status       text CHECK (ai_status IN ('pending', 'running', 'done', 'failed')),
    ai_error        text,
    ai_validated    boolean NOT NULL DEFAULT false,
    validation      text CHECK (validation IN ('validated', 'rejected')),
    validated_by    uuid REFERENCES users (id),
    validated_at    timestamptz,
    meta            jsonb NOT NULL DEFAULT '{}'::jsonb,
    is_edited       boolean NOT NULL DEFAULT false,
    is_deleted      boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX messages_chat_idx ON messages (org_id, chat_id, id DESC);
CREATE INDEX messages_ai_open_idx ON messages (ai_status) WHERE ai_status IN ('pending', 'running');

-- Calendar.
CREATE TABLE calendar_events (
    id                     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id                 uuid NOT NULL REFERENCES organizations (id),
    owner_id               uuid NOT NULL REFERENCES users (id),
    title                  text NOT NULL,
    description            text NOT NULL DEFAULT '',
    starts_at              timestamptz NOT NULL,
    ends_at                timestamptz,
    kind                   text NOT NULL DEFAULT 'one_time' CHECK (kind IN ('one_time', 'recurring')),
    cron                   text,
    timezone               text NOT NULL DEFAULT 'UTC',
    until_at               timestamptz,
    max_occurrences        integer,
    remind_before_minutes  integer NOT NULL DEFAULT 0,
    role_code              text,
    prompt                 text,
    participants           uuid[] NOT NULL DEFAULT '{}',
    next_run_at            timestamptz,
    is_active              boolean NOT NULL DEFAULT true,
    is_deleted             boolean NOT NULL DEFAULT false,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX calendar_events_org_idx ON calendar_events (org_id, starts_at);
CREATE INDEX calendar_events_due_idx ON calendar_events (next_run_at)
    WHERE is_active AND NOT is_deleted AND next_run_at IS NOT NULL;

-- Notifications.
CREATE TABLE notification_channels (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id      uuid NOT NULL REFERENCES organizations (id),
    user_id     uuid NOT NULL REFERENCES users (id),
    type        text NOT NULL CHECK (type IN ('telegram', 'email')),
    address     text NOT NULL,
    priority    integer NOT NULL DEFAULT 0,
    enabled     boolean NOT NULL DEFAULT true,
    verified    boolean NOT NULL DEFAULT false,
    is_deleted  boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notification_channels_user_idx ON notification_channels (org_id, user_id)
    WHERE NOT is_deleted;

CREATE TABLE notification_log (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id           uuid NOT NULL REFERENCES organizations (id),
    user_id          uuid REFERENCES users (id),
    channel_id       uuid REFERENCES notification_channels (id),
    channel_type     text,
    status           text NOT NULL,
    error            text,
    attempt          integer NOT NULL DEFAULT 1,
    created_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz
);
CREATE INDEX notification_log_org_idx ON notification_log (org_id, created_at DESC);
