"""`radassist ingest | search | reindex | sources` through agent.cli.main on a fresh database."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from agent import runtime
from agent.cli import main
from agent.gateway import Gateway
from agent.settings import get_settings
from tests.knowledge.kbhelpers import CorpusDatabase, write
from tools.knowledge.search import DEFAULT_PARAMS

pytestmark = [pytest.mark.postgres, pytest.mark.minilm]  # the real database and MiniLM

GUIDE = """---
title: "CLI test guide"
society: "Test Society"
year: 2022
url: "https://example.org/cli"
system: ti_rads
body_region: neck
modality: US
---
# CLI test guide

## Echogenic foci

Punctate echogenic foci score three points in this test guide.

## Shape

A taller-than-wide shape scores three points in this test guide.
"""


@pytest.fixture
def cli_db(fresh_db_url: str, gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Point the CLI at a fresh database and reuse the session's gateway (its model is already loaded)."""
    monkeypatch.setenv("DATABASE_URL", fresh_db_url)
    monkeypatch.setattr(Gateway, "from_file", classmethod(lambda cls, *args, **kwargs: gateway))
    get_settings.cache_clear()
    yield fresh_db_url
    get_settings.cache_clear()


@pytest.fixture
def cli_env(cli_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """As cli_db without the first-start corpus load (the corpus_db fixture runs it), so hits are ours."""

    async def corpus_already_loaded(pool: Any, gateway: Any, announce: Any = None) -> int:
        return 0

    monkeypatch.setattr(runtime, "ensure_corpus_loaded", corpus_already_loaded)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_ingest_search_json_and_delete(cli_env: None, tmp_path: Path, capsys: Any) -> None:
    guide = write(tmp_path / "cli-guide.md", GUIDE)
    code, out, _ = run(capsys, "ingest", str(tmp_path))
    assert code == 0
    assert "added: cli-guide" in out and out.strip().endswith("s") and "1 added, 0 failed" in out

    code, out, _ = run(capsys, "ingest", str(guide))
    assert code == 0 and "1 unchanged" in out

    code, out, _ = run(capsys, "search", "taller than wide nodule shape", "--k", "1", "--json")
    assert code == 0
    result = json.loads(out)
    assert result["query"] == "taller than wide nodule shape"
    [hit] = result["hits"]
    assert {"source", "section", "page", "text", "score"} <= set(hit)
    assert hit["source"] == "cli-guide"
    assert hit["section"] == "CLI test guide > Shape"
    assert hit["page"] is None
    assert hit["text"].startswith("A taller-than-wide shape")
    assert isinstance(hit["score"], float) and hit["score"] > 0
    assert hit["citation"] == "Test Society (2022), CLI test guide, section 'Shape', https://example.org/cli"

    code, out, _ = run(capsys, "search", "echogenic foci", "--system", "TI_RADS", "--modality", "us")
    assert code == 0 and out.startswith("[1] Test Society (2022), CLI test guide, section 'Echogenic foci'")

    code, out, _ = run(capsys, "ingest", "--delete", str(guide))
    assert code == 0 and "deleted: cli-guide" in out
    code, out, _ = run(capsys, "search", "echogenic foci", "--json")
    assert code == 0
    assert json.loads(out) == {
        "query": "echogenic foci",
        "hits": [],
        "below_floor": False,
        "best_score": None,
        "floor": DEFAULT_PARAMS.floor,
        "note": "no passage found: the knowledge base is empty or no passage matches the filters",
    }


def test_sources_list_and_remove(cli_env: None, tmp_path: Path, capsys: Any) -> None:
    code, out, _ = run(capsys, "sources", "list")
    assert code == 0 and out == "the knowledge base has no documents (see `radassist ingest`)\n"
    write(tmp_path / "cli-guide.md", GUIDE)
    write(
        tmp_path / "other.md",
        GUIDE.replace("CLI test guide", "Other guide").replace("year: 2022", "version: v3"),
    )
    assert run(capsys, "ingest", str(tmp_path))[0] == 0

    code, out, _ = run(capsys, "sources", "list", "--json")
    assert code == 0
    listed = json.loads(out)
    assert [s["source"] for s in listed] == ["cli-guide", "other"]
    first = listed[0]
    assert (first["title"], first["year"], first["version"], first["society"]) == (
        "CLI test guide",
        2022,
        None,
        "Test Society",
    )
    assert first["chunks"] == 2 and first["path"] == str((tmp_path / "cli-guide.md").resolve())
    assert (first["embedding_model"], first["embedding_dimension"]) == (
        "sentence_transformers/bundled/all-MiniLM-L6-v2",
        384,
    )
    assert datetime.fromisoformat(first["ingested_at"]).tzinfo is not None

    code, out, _ = run(capsys, "sources", "list")
    assert code == 0
    assert out.splitlines()[:2] == [
        "cli-guide: CLI test guide",
        f"    2022; 2 passages; sentence_transformers/bundled/all-MiniLM-L6-v2 (384 dimensions); "
        f"ingested {datetime.fromisoformat(first['ingested_at']):%Y-%m-%d %H:%M %Z}",
    ]
    assert out.splitlines()[3].startswith("    v3; 2 passages;")

    code, out, err = run(capsys, "sources", "remove", "cli-guid")
    assert code == 2 and out == ""
    assert err == (
        "radassist: error: no source 'cli-guid' in the knowledge base; did you mean cli-guide?; "
        "`radassist sources list` shows them\n"
    )
    code, out, _ = run(capsys, "sources", "remove", str(tmp_path / "cli-guide.md"))
    assert code == 0 and out == "removed cli-guide: CLI test guide (2 passages)\n"
    code, out, _ = run(capsys, "sources", "list", "--json")
    assert [s["source"] for s in json.loads(out)] == ["other"]
    code, out, _ = run(capsys, "search", "echogenic foci", "--json")
    assert {h["source"] for h in json.loads(out)["hits"]} == {"other"}, "the removed source is not searched"


def test_failures_are_listed_and_set_the_exit_code(cli_env: None, tmp_path: Path, capsys: Any) -> None:
    write(tmp_path / "good.md", GUIDE)
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.7 truncated")
    code, out, err = run(capsys, "ingest", str(tmp_path), str(tmp_path / "nope.md"))
    assert code == 1
    assert "added: good" in out and "1 added, 2 failed" in out
    assert f"failed: {tmp_path / 'broken.pdf'}: not a readable PDF" in err
    assert f"failed: {tmp_path / 'nope.md'}: no such file or directory" in err

    code, _, err = run(capsys, "ingest", "--delete", "never-ingested")
    assert code == 1 and "not in the knowledge base: never-ingested" in err


def test_bad_search_arguments_are_one_line_errors(cli_env: None, capsys: Any) -> None:
    code, out, err = run(capsys, "search", "renal cyst", "--k", "0")
    assert code == 2 and out == ""
    assert err == "radassist: error: guideline_search: k: Input should be greater than or equal to 1\n"


def test_reindex_reports_the_model(cli_env: None, tmp_path: Path, capsys: Any) -> None:
    write(tmp_path / "g.md", GUIDE)
    assert run(capsys, "ingest", str(tmp_path))[0] == 0
    code, out, _ = run(capsys, "reindex")
    assert code == 0
    assert (
        out == "re-embedded 2 chunks with sentence_transformers/bundled/all-MiniLM-L6-v2 (384 dimensions)\n"
    )


def test_search_over_the_shipped_corpus(
    corpus_db: CorpusDatabase, gateway: Gateway, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    monkeypatch.setenv("DATABASE_URL", corpus_db.url)
    monkeypatch.setattr(Gateway, "from_file", classmethod(lambda cls, *args, **kwargs: gateway))
    get_settings.cache_clear()
    code, out, _ = run(capsys, "search", "solid pulmonary nodule follow-up in a smoker", "--k", "3", "--json")
    get_settings.cache_clear()
    assert code == 0
    hits = json.loads(out)["hits"]
    assert len(hits) == 3 and hits[0]["source"] == "fleischner-2017"
