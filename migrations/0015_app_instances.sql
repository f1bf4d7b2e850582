-- The running app processes on this database and the models configuration each one serves
-- (agent/live.py). Each process writes its row at start, refreshes `seen_at` every 15 s and removes it on
-- shutdown; `radassist models reload` waits for the rows seen in the last minute to report the new hash
-- (or the error that kept the old configuration), and admins see them in the chat UI.
CREATE TABLE app_instances (
    id text PRIMARY KEY,
    host text NOT NULL,
    pid integer NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now(),
    seen_at timestamptz NOT NULL DEFAULT now(),
    models_file text NOT NULL,
    models_sha256 text NOT NULL,
    models_loaded_at timestamptz NOT NULL DEFAULT now(),
    reload_error text,
    reload_error_sha256 text,
    reload_error_at timestamptz
);
