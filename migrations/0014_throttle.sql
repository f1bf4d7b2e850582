-- Throttling state shared by every app process on this database (agent/security/throttle.py): login
-- back-off per account and per client address, login attempts per client address, API requests per key.
-- A process-local counter would give an attacker N times the attempts behind N app processes.

-- Failures of one key within a scope (`login-account`, `login-client`); `last_at` drives the back-off.
CREATE TABLE throttle_failures (
    scope text NOT NULL,
    key text NOT NULL,
    failures integer NOT NULL CHECK (failures > 0),
    last_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key)
);
-- A token bucket per key within a scope (`login-rate`, `api`): tokens left when last taken, and whether
-- that last attempt was allowed (set in the same statement that takes the token).
CREATE TABLE throttle_buckets (
    scope text NOT NULL,
    key text NOT NULL,
    tokens double precision NOT NULL,
    allowed boolean NOT NULL,
    at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key)
);
CREATE INDEX throttle_failures_last ON throttle_failures (last_at);
CREATE INDEX throttle_buckets_at ON throttle_buckets (at);
