-- The OpenAI-compatible API (agent/api/): per-user keys, and the conversations it derived threads for.

-- One API key. Only a keyed hash of the key is stored (HMAC-SHA256 with the secret in
-- RADASSIST_HOME/api-key-secret, agent/api/keys.py): the key itself is shown once, at creation. `prefix`
-- (the key's first characters) lets `radassist keys list` and the audit trail name a key without it.
-- Keys are revoked, never deleted, so the audit trail stays attributable.
CREATE TABLE api_keys (
    id text PRIMARY KEY DEFAULT gen_random_uuid()::text,
    user_id text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    prefix text NOT NULL,
    hash text NOT NULL UNIQUE CHECK (hash ~ '^[0-9a-f]{64}$'),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz,
    last_used_at timestamptz,
    revoked_at timestamptz
);
CREATE INDEX api_keys_user ON api_keys (user_id, created_at);

-- A conversation an API client sends back whole on every request (Open WebUI, LibreChat) continues the
-- thread whose state matches the messages before its last one. One row per answered turn: the keyed
-- hash of the conversation up to and including that answer, the thread and the checkpoint it ended on.
-- A client that edits or regenerates an earlier message matches an older row: that thread is forked from
-- the row's checkpoint, so the agent's memory is the one of the conversation as the client shows it.
CREATE TABLE api_turns (
    user_id text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    conversation_hash text NOT NULL CHECK (conversation_hash ~ '^[0-9a-f]{64}$'),
    thread_id text NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    checkpoint_id text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, conversation_hash, thread_id)
);
CREATE INDEX api_turns_thread ON api_turns (thread_id);
