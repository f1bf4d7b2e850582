"""One door per concept: the README's "Adding a tool / an expert / a model" sections, followed literally.

The main test copies the repository to a temporary directory, writes the README's demo tool and its
cardiac expert there (touching nothing else), and runs the copy's own code with the installed venv
(PYTHONPATH points at the copy, which Python then prefers to the editable install): the tool is
listed and has a schema, the expert is routable and answers, and the copy's expert tests pass.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest

from agent.gate import Gate
from agent.gateway import load_models_config
from agent.settings import REPO_ROOT
from experts import load_experts

README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
COPY_IGNORES = shutil.ignore_patterns(
    ".venv", ".git", ".mypy_cache", ".ruff_cache", ".pytest_cache", "__pycache__", ".files", "test-artifacts"
)


def readme_block(section: str, language: str) -> str:
    """The first fenced `language` block under the README heading `section`."""
    body = README.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    match = re.search(rf"^```{language}\n(.*?)^```$", body, re.DOTALL | re.MULTILINE)
    assert match, f"no {language} block under '## {section}'"
    return match.group(1)


def demo_tool() -> tuple[str, str]:
    """(path in the repository, content) of the README's tool, as its first line names it."""
    code = readme_block("Adding a tool", "python")
    path = re.match(r"# (tools/\S+\.py)", code)
    assert path, "the README's tool block starts with its path"
    return path.group(1), code


def cardiac_expert() -> str:
    return readme_block("Adding an expert", "markdown")


def with_model_entry(models_yaml: str) -> str:
    """models.yaml with the README's model entry appended to model_list (just before router_settings)."""
    entry = readme_block("Adding a model", "yaml")
    before, after = models_yaml.split("\nrouter_settings:", 1)
    return f"{before.rstrip()}\n{entry}\nrouter_settings:{after}"


def test_the_readme_model_entry_binds_the_readme_expert(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Without the entry the expert answers with 'default' (one warning); with it, with its own alias."""
    experts = tmp_path / "experts"
    shutil.copytree(REPO_ROOT / "experts", experts)
    (experts / "cardiac.md").write_text(cardiac_expert(), encoding="utf-8")
    shipped = load_models_config(REPO_ROOT / "models.yaml")
    with caplog.at_level(logging.WARNING):
        assert load_experts(experts, models=shipped)["cardiac"].model == "default"
    assert [r.getMessage() for r in caplog.records if "expert-cardiac" in r.getMessage()] == [
        f"{experts / 'cardiac.md'}: model alias 'expert-cardiac' is not defined in {shipped.source}; "
        "the expert uses 'default' until it is added there"
    ]
    models = tmp_path / "models.yaml"
    models.write_text(
        with_model_entry((REPO_ROOT / "models.yaml").read_text(encoding="utf-8")), encoding="utf-8"
    )
    config = load_models_config(models)
    assert config.entry("expert-cardiac").litellm_params == config.entry("expert-chest").litellm_params
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert load_experts(experts, models=config)["cardiac"].model == "expert-cardiac"
    assert caplog.records == []


def _run(
    copy: Path, args: list[str], env: dict[str, str], timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.mark.postgres
@pytest.mark.gguf
async def test_a_tool_and_an_expert_are_added_by_one_file_each(
    tmp_path: Path, real_context: Any, real_runtime: Any
) -> None:
    copy = tmp_path / "radassist"
    shutil.copytree(REPO_ROOT, copy, ignore=COPY_IGNORES)
    tool_path, tool_code = demo_tool()
    assert not (copy / tool_path).exists() and not (copy / "experts" / "cardiac.md").exists()
    (copy / tool_path).write_text(tool_code, encoding="utf-8")
    (copy / "experts" / "cardiac.md").write_text(cardiac_expert(), encoding="utf-8")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("RADASSIST_MODELS_FILE", "RADASSIST_EXPERTS_DIR"))
    }
    env.update(PYTHONPATH=str(copy), DATABASE_URL=real_runtime.database_url, RADASSIST_PLUGINS="")

    # The copy's own code runs: its agent package, and the CLI lists and describes the new tool.
    script = (
        "import agent.cli, sys; print(agent.cli.__file__, flush=True); "
        "agent.cli.main(['tools', 'list']); sys.exit(agent.cli.main(['tools', 'schema', 'effusion_depth_demo']))"
    )
    tools = _run(copy, ["-c", script], env)
    assert tools.returncode == 0, tools.stderr
    first, listing = tools.stdout.split("\n", 1)
    assert Path(first) == copy / "agent" / "cli" / "__init__.py"
    assert re.search(r"^effusion_depth_demo\s+other\s+demo 1\s+Echo an effusion depth", listing, re.MULTILINE)
    schema = json.loads(listing[listing.index("\n{") :])
    assert (
        schema["properties"]["depth_mm"]["description"] == "Maximal depth of the effusion on ultrasound, mm."
    )

    # The new expert is routable: with the real embeddings its own examples choose it.
    team = load_experts(copy / "experts", tool_names=real_context.registry.names())
    gate = Gate(team, real_context.gate.embed, real_context.registry)
    tops = [(await gate.route(example)).scores[0].name for example in team["cardiac"].examples]
    assert tops == ["cardiac"] * len(team["cardiac"].examples)

    # ... and answers through the command, with 'default' until models.yaml gets its alias (a command-line
    # conversation belongs to an account).
    with psycopg.connect(real_runtime.database_url, autocommit=True) as conn:
        conn.execute("INSERT INTO users (identifier) VALUES ('dr.cardiac') ON CONFLICT DO NOTHING")
    asked = _run(
        copy,
        ["-m", "agent", "ask", "--user", "dr.cardiac", "--expert", "cardiac", "--json",
         "What are the ACR MRI safety zones?"],
        env,
    )  # fmt: skip
    assert asked.returncode == 0, asked.stderr
    answer = json.loads(asked.stdout)
    assert answer["answer"] and answer["citations"], answer
    assert answer["verdict"] == "grounded", "the cardiac expert's 'default' is a demo model: no commentary"
    assert any(c["source"] == "mri-safety" for c in answer["citations"]), answer["citations"]
    assert [line for line in asked.stderr.splitlines() if "expert-cardiac" in line] == [
        f"WARNING experts: {copy / 'experts' / 'cardiac.md'}: model alias 'expert-cardiac' is not defined in "
        f"{copy / 'models.yaml'}; the expert uses 'default' until it is added there"
    ]

    # The copy's expert tests hold with the new expert in the directory.
    tests = _run(copy, ["-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/experts"], env)
    assert tests.returncode == 0, tests.stdout[-3000:]
    assert re.search(r"\d+ passed", tests.stdout)
