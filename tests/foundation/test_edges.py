"""Clean edges: `tools` and `experts` stand without `agent`, and importing a package changes no environment.

The offline environment is the entry points' job (the CLI, the Chainlit app, the tests' conftest, the
bench scripts); a library that quietly rewrites os.environ on import surprises whoever embeds it.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys

import pytest

from agent.settings import REPO_ROOT
from common.offline import OFFLINE_DEFAULTS

NEUTRAL_PACKAGES = ("tools", "experts", "common")


def _imported_modules(path: str) -> set[str]:
    tree = ast.parse((REPO_ROOT / path).read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", NEUTRAL_PACKAGES)
def test_no_module_of_the_package_imports_agent(package: str) -> None:
    offenders = {
        str(path.relative_to(REPO_ROOT)): sorted(m for m in _imported_modules(str(path.relative_to(REPO_ROOT)))
                                                  if m == "agent" or m.startswith("agent."))
        for path in sorted((REPO_ROOT / package).rglob("*.py"))
    }  # fmt: skip
    assert {k: v for k, v in offenders.items() if v} == {}


def test_importing_tools_and_experts_loads_no_agent_module_and_sets_no_variable() -> None:
    script = """
import json, os, sys
before = dict(os.environ)
import experts, tools
from tools.registry import load_tools
load_tools()
experts.load_experts(experts.Path(experts.__file__).parent)
print(json.dumps({"agent": sorted(m for m in sys.modules if m == "agent" or m.startswith("agent.")),
                  "changed": sorted(k for k in set(os.environ) | set(before) if os.environ.get(k) != before.get(k))}))
"""
    env = {k: v for k, v in os.environ.items() if k not in OFFLINE_DEFAULTS}
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True, cwd=REPO_ROOT
    )
    assert json.loads(out.stdout.splitlines()[-1]) == {"agent": [], "changed": []}


def test_importing_agent_sets_no_variable_and_the_command_sets_them_all() -> None:
    script = """
import json, os, sys
before = dict(os.environ)
import agent, agent.cli, agent.settings
imported = sorted(k for k in os.environ if os.environ.get(k) != before.get(k))
from agent.cli import main
main(["tools", "list"])
print(json.dumps({"on_import": imported, "after_command": {k: os.environ.get(k) for k in sys.argv[1:]}}))
"""
    env = {k: v for k, v in os.environ.items() if k not in OFFLINE_DEFAULTS}
    out = subprocess.run(
        [sys.executable, "-c", script, *OFFLINE_DEFAULTS], env=env, capture_output=True, text=True, check=True,
        cwd=REPO_ROOT,
    )  # fmt: skip
    result = json.loads(out.stdout.splitlines()[-1])
    assert result["on_import"] == []
    assert result["after_command"] == OFFLINE_DEFAULTS
