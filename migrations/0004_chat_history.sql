-- Accounts and persisted chat history for the Chainlit UI (agent/ui/data_layer.py).
-- Every thread has an owner; steps, elements and feedback hang off their thread with ON DELETE CASCADE,
-- so deleting a thread removes everything it held (no soft delete, no rows left with NULL fields:
-- chainlit#1684). Ids are Chainlit's own strings (UUIDs from the browser or the server).

-- One account. Passwords are scrypt hashes with their parameters (agent/ui/auth.py); a NULL hash means
-- the account cannot log in with a password. Accounts are disabled, never deleted, so history stays
-- attributable. `role` is authoritative; Chainlit's user metadata only mirrors it.
CREATE TABLE users (
    id text PRIMARY KEY DEFAULT gen_random_uuid()::text,
    identifier text NOT NULL UNIQUE CHECK (identifier ~ '^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$'),
    password_hash text,
    role text NOT NULL DEFAULT 'clinician' CHECK (role IN ('clinician', 'admin')),
    disabled boolean NOT NULL DEFAULT false,
    metadata jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now()
);
-- "Alice" and "alice" must not be two accounts.
CREATE UNIQUE INDEX users_identifier_lower ON users (lower(identifier));

-- One conversation. updated_at orders the history sidebar (most recent activity first).
CREATE TABLE threads (
    id text PRIMARY KEY,
    user_id text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name text,
    tags text[] NOT NULL DEFAULT '{}',
    metadata jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
-- list_threads: one user's threads, newest first, keyset-paginated on (updated_at, id).
CREATE INDEX threads_user_recent ON threads (user_id, updated_at DESC, id DESC);

-- One message or step, with every field of Chainlit 2.12's StepDict. parent_id has no foreign key:
-- Chainlit may persist a child before its parent. `seq` breaks ties between equal timestamps.
CREATE TABLE steps (
    id text PRIMARY KEY,
    thread_id text NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    parent_id text,
    seq bigint GENERATED ALWAYS AS IDENTITY,
    name text NOT NULL DEFAULT '',
    type text NOT NULL,
    input text NOT NULL DEFAULT '',
    output text NOT NULL DEFAULT '',
    metadata jsonb NOT NULL DEFAULT '{}',
    tags text[],
    command text,
    modes jsonb,
    streaming boolean NOT NULL DEFAULT false,
    wait_for_answer boolean,
    is_error boolean NOT NULL DEFAULT false,
    show_input text,                 -- Chainlit sends a boolean or a language name ("json")
    default_open boolean,
    auto_collapse boolean,
    language text,
    icon text,
    generation jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    start_time timestamptz,
    end_time timestamptz,
    UNIQUE (id, thread_id)           -- lets elements and feedback prove their step is in their thread
);
CREATE INDEX steps_thread_order ON steps (thread_id, created_at, seq);
CREATE INDEX steps_parent ON steps (parent_id) WHERE parent_id IS NOT NULL;

-- An element attached to a step. Only inline content and props are kept: the data layer never reads a
-- client-supplied path or fetches a URL (CVE-2026-22218, CVE-2026-22219).
CREATE TABLE elements (
    id text PRIMARY KEY,
    thread_id text NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    step_id text NOT NULL,
    type text NOT NULL,
    name text NOT NULL DEFAULT '',
    display text NOT NULL DEFAULT 'inline',
    mime text,
    size text,
    language text,
    page integer,
    auto_play boolean,
    player_config jsonb,
    props jsonb NOT NULL DEFAULT '{}',
    content bytea,
    created_at timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (step_id, thread_id) REFERENCES steps (id, thread_id) ON DELETE CASCADE
);
CREATE INDEX elements_thread ON elements (thread_id);
CREATE INDEX elements_step ON elements (step_id);

-- Thumbs up (1) or down (0) on a step, at most one per user and step. thread_id is copied from the step
-- (the composite key proves it matches) so that the history filter needs no join.
CREATE TABLE feedback (
    id text PRIMARY KEY DEFAULT gen_random_uuid()::text,
    step_id text NOT NULL,
    thread_id text NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    user_id text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    value smallint NOT NULL CHECK (value IN (0, 1)),
    comment text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (step_id, user_id),
    FOREIGN KEY (step_id, thread_id) REFERENCES steps (id, thread_id) ON DELETE CASCADE
);
CREATE INDEX feedback_thread_value ON feedback (thread_id, value);
CREATE INDEX feedback_user ON feedback (user_id, created_at);
