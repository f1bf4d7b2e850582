"""PostgreSQL advisory lock keys: one per purpose, so processes sharing a database never wait on each other.

The corpus lock is held for minutes while a first start loads the library; had it the audit chain's key,
every audit record (a login on another app process) would wait for the whole load.
"""

from __future__ import annotations

from agent import db
from agent.security import audit
from tools.knowledge import corpus


def test_every_advisory_lock_has_its_own_key() -> None:
    keys = [db._MIGRATION_LOCK, audit._LOCK, corpus._CORPUS_LOCK]
    assert len(set(keys)) == len(keys), keys
