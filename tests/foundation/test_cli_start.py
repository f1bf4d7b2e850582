"""What a user sees when a command starts: first-run progress, no native log noise, no import it does not need,
no hang when the output pipe closes, each chat answer once."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import create_database

RADASSIST = str(Path(sys.prefix) / "bin" / "radassist")
QUESTION = "6 mm solid nodule, smoker, what follow-up?"


def with_account(pg_url: str, name: str = "dr.cli") -> str:
    """A migrated database with one account (command-line conversations belong to an account)."""
    import psycopg

    url = create_database(pg_url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO users (identifier) VALUES (%s)", (name,))
    return url


def run(args: list[str], env: dict[str, str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([RADASSIST, *args], env=env, capture_output=True, text=True, timeout=600, **kwargs)  # type: ignore[call-overload,no-any-return]


@pytest.fixture
def fresh_env(tmp_path: Path, pg_url: str) -> dict[str, str]:
    """A new data directory and an empty database: what a first run sees (initdb aside, which the
    embedded server under test has already done)."""
    return {
        **os.environ,
        "RADASSIST_HOME": str(tmp_path / "home"),
        "DATABASE_URL": create_database(pg_url, migrated=False),
    }


@pytest.mark.postgres
def test_a_first_search_says_what_it_is_doing_and_a_second_is_quiet(fresh_env: dict[str, str]) -> None:
    first = run(["search", "contrast premedication", "--k", "1"], fresh_env)
    assert first.returncode == 0, first.stderr
    for line in ("applying", "loading the shipped guideline library"):
        assert f"radassist: {line}" in first.stderr, first.stderr
    assert "done in" in first.stderr
    second = run(["search", "contrast premedication", "--k", "1"], fresh_env)
    assert second.returncode == 0 and second.stderr == "", second.stderr
    assert second.stdout == first.stdout


@pytest.mark.gguf
@pytest.mark.postgres
def test_the_bundled_model_is_assembled_with_a_progress_line_and_llama_cpp_stays_quiet(
    fresh_env: dict[str, str],
) -> None:
    first = run(["models", "test", "default", "--prompt", "Say yes."], fresh_env)
    assert first.returncode == 0, first.stderr
    assert "radassist: assembling the bundled model gemma3-270m" in first.stderr
    assert "llama" not in first.stderr.replace("assembling the bundled model gemma3-270m", ""), first.stderr
    assert "demo model" in first.stdout, "models test says the bundled model is a demo"
    again = run(["models", "test", "default", "--prompt", "Say yes."], fresh_env)
    assert again.returncode == 0 and again.stderr == "", again.stderr
    verbose = run(["-v", "models", "test", "default", "--prompt", "Say yes."], fresh_env)
    assert "INFO llama.cpp:" in verbose.stderr, "with -v llama.cpp's own lines are logged"


@pytest.mark.postgres
@pytest.mark.minilm
def test_commands_that_need_no_chat_model_do_not_import_litellm_or_torch(tmp_path: Path, pg_url: str) -> None:
    probe = (
        "import sys\n"
        "from agent.cli import main\n"
        "status = main(sys.argv[1:])\n"
        "heavy = sorted(m for m in ('litellm', 'torch', 'sentence_transformers', 'llama_cpp') if m in sys.modules)\n"
        "print('HEAVY', heavy)\n"
        "sys.exit(status)\n"
    )
    env = {**os.environ, "RADASSIST_HOME": str(tmp_path / "home"), "DATABASE_URL": create_database(pg_url)}
    for args in (
        ["search", "premedication", "--k", "1"],
        ["classify", "fleischner", "--text", "7 mm solid nodule"],
    ):
        done = subprocess.run(
            [sys.executable, "-c", probe, *args], env=env, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, done.stderr
        assert "HEAVY []" in done.stdout, f"{args[0]} imported {done.stdout.splitlines()[-1]}"


@pytest.mark.gguf
@pytest.mark.postgres
def test_verbose_ask_into_head_ends_instead_of_hanging(tmp_path: Path, pg_url: str) -> None:
    env = {**os.environ, "RADASSIST_HOME": str(tmp_path / "home"), "DATABASE_URL": with_account(pg_url)}
    start = time.monotonic()
    done = subprocess.run(
        [
            "bash",
            "-c",
            f'"{RADASSIST}" -v ask --user dr.cli "{QUESTION}" 2>&1 | head -3 >/dev/null; echo "status=${{PIPESTATUS[0]}}"',
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.stdout.strip() in ("status=141", "status=0"), done.stdout + done.stderr
    assert time.monotonic() - start < 600


@pytest.mark.gguf
@pytest.mark.postgres
def test_terminal_chat_prints_each_answer_once(tmp_path: Path, pg_url: str) -> None:
    env = {**os.environ, "RADASSIST_HOME": str(tmp_path / "home"), "DATABASE_URL": with_account(pg_url)}
    done = run(["chat", "--user", "dr.cli"], env, input=f"{QUESTION}\nand if it grew to 9 mm?\n\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("Rule that fired") == 2, done.stdout
    assert done.stdout.count("Fleischner Society 2017: solid, single, 6-8 mm, high risk") == 1
    assert done.stdout.count("Fleischner Society 2017: solid, single, >8 mm, high risk") == 1
    assert "**" not in done.stdout, "Markdown is rendered, not printed raw"
    assert "demo model" in done.stderr and "models.yaml" in done.stderr
