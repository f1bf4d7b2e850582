"""Migration 0018: answers stored before the four verdicts are relabelled from their own verification trace."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from agent.db import MIGRATIONS_DIR, migrate
from tests.conftest import create_database, drop_database

pytestmark = pytest.mark.postgres


def trace(*statuses: str, fallback: bool = False) -> dict[str, Any]:
    claims = [{"text": f"claim {i}", "status": s} for i, s in enumerate(statuses)]
    experts = {"chest": {"claims": claims}} if statuses else {}
    return {"verification": {"experts": experts, "fallback_to_grounded": fallback}}


LEGACY = [  # (verdict written then, its trace, what it is called now)
    ("unverified", trace(), "cannot_answer"),
    ("partially_verified", trace("supported", "flagged"), "partial"),
    ("verified", trace("supported", "supported"), "verified"),
    ("verified", trace("supported", "unsupported", "supported"), "partial"),
    ("verified", trace("unsupported", fallback=True), "grounded"),
    ("verified", trace(), "grounded"),  # a demo model drafted nothing
]


def test_legacy_verdicts_are_relabelled_and_only_the_four_are_accepted(pg_url: str, tmp_path: Path) -> None:
    earlier = tmp_path / "migrations"
    earlier.mkdir()
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        if int(path.name[:4]) < 18:
            shutil.copy(path, earlier / path.name)
    url = create_database(pg_url, migrated=False)
    try:
        migrate(url, earlier)
        with psycopg.connect(url, autocommit=True) as conn:
            for i, (verdict, provenance, _) in enumerate(LEGACY):
                conn.execute(
                    "INSERT INTO answer_provenance (thread_id, question, answer, verdict, provenance)"
                    " VALUES (%s, 'q', 'a', %s, %s)",
                    (f"t{i}", verdict, Jsonb(provenance)),
                )
        assert migrate(url) == ["0018_answer_verdicts.sql"]
        with psycopg.connect(url, autocommit=True) as conn:
            rows = conn.execute("SELECT verdict FROM answer_provenance ORDER BY thread_id").fetchall()
            assert [r[0] for r in rows] == [now for _, _, now in LEGACY]
            with pytest.raises(psycopg.errors.CheckViolation):
                conn.execute(
                    "INSERT INTO answer_provenance (thread_id, question, answer, verdict, provenance)"
                    " VALUES ('new', 'q', 'a', 'partially_verified', '{}')"
                )
    finally:
        drop_database(pg_url, url)
