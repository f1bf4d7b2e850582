-- Server-side login sessions (agent/security/sessions.py). A login token carries a session id, and every
-- HTTP request and socket event checks its row: logout, a password change, disabling the account and
-- `radassist sessions revoke` end a session at once. The idle timeout and the absolute lifetime are
-- applied when a session is checked, from the settings, so changing them also applies to open sessions.
CREATE TABLE sessions (
    id text PRIMARY KEY,                               -- 256 random bits, URL-safe
    user_id text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client text NOT NULL DEFAULT '',                   -- the client address at login
    created_at timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz,
    revoked_reason text
);
CREATE INDEX sessions_user_open ON sessions (user_id) WHERE revoked_at IS NULL;
