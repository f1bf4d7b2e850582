"""`radassist eval` end to end on the real database, knowledge base, tools and gate.

* Its classification and findings figures are those of `radassist classify` / `radassist findings`.
* A model that always answers "Lung-RADS 1" (a stub OpenAI-compatible server on loopback, configured in a
  models.yaml as an admin would) has a high-risk error rate above zero, and `--fail-on-regression` against
  a good model's run exits 1; a bad case line is reported by line and field while the rest runs.
* Ctrl-C leaves a partial results.json.
* One real run of the bundled GGUF, RAG on and off.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agent.cli import main
from agent.eval import metrics
from agent.eval.cases import shipped
from tests.agent.stub_models import models_yaml, stub_models

pytestmark = [pytest.mark.postgres]

ANSWER_CASES = [
    {"id": "lr-9mm", "kind": "answer", "question": "Baseline screening LDCT: 9 mm solid nodule in the left upper lobe. Lung-RADS?",
     "expected": {"category": "4A", "source_any": ["lung-rads-v2022"]}},
    {"id": "fl-7mm", "kind": "answer", "question": "Incidental 7 mm solid lung nodule in a 61-year-old smoker: follow-up?",
     "expected": {"category": "solid, single, 6-8 mm, high risk"}},
    {"id": "cad-rads", "kind": "answer", "question": "What CAD-RADS category is a 60% stenosis of the proximal LAD?",
     "expected": {"cannot_answer": True}},
]  # fmt: skip


@pytest.fixture
def deployment(real_runtime: Any, set_env: Callable[..., None], tmp_path: Path) -> Path:
    """The environment `radassist eval` reads: the test database (corpus loaded) and a home of its own."""
    home = tmp_path / "home"
    set_env(DATABASE_URL=real_runtime.database_url, RADASSIST_HOME=str(home), RADASSIST_MODELS_FILE=None)
    return home


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any], str]:
    """`radassist eval ... --json` in this process: exit status, the summary (last line), stderr."""
    capsys.readouterr()
    status = main(["eval", *args, "--json"])
    out, err = capsys.readouterr()
    return status, json.loads(out.strip().splitlines()[-1]), err


def cli_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    capsys.readouterr()
    assert main([*args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def test_classification_and_findings_figures_are_those_of_the_commands(
    deployment: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, summary, _ = run_cli(
        capsys, "--suite", "classification", "--suite", "findings", "--out", str(tmp_path / "run")
    )
    assert status == 0 and summary["complete"]
    results = json.loads((tmp_path / "run" / "results.json").read_text(encoding="utf-8"))
    by_id = {(c["suite"], c["id"]): c for c in results["cases"]}

    passed = 0
    cases = shipped("classification")
    for item in cases:
        case = item.case
        recorded = by_id[("classification", case.id)]["output"]
        capsys.readouterr()
        if main(["classify", "--text", case.text, "--json"]) != 0:  # the command found no system
            assert recorded["system"] is None
            continue
        cli = json.loads(capsys.readouterr().out)
        assert (recorded["system"], recorded["category"], recorded["management"]) == (
            cli["system"], cli["category"], cli["management"],
        ), case.id  # fmt: skip
        exp = case.expected
        passed += (
            cli["system"] == exp.system
            and metrics.same_category(cli["category"], exp.category)
            and (not exp.management_any or metrics.contains_any(cli["management"], exp.management_any))
        )
    assert summary["summary"]["suites"]["classification"]["accuracy"] == round(passed / len(cases), 4)

    matched = expected = 0
    for item in shipped("findings"):
        cli = cli_json(capsys, "findings", "--text", item.case.text)
        found = [(f["system"], f["category"]) for f in cli["findings"]]
        recorded = by_id[("findings", item.case.id)]["output"]["findings"]
        assert [(f["system"], f["category"]) for f in recorded] == found, item.case.id
        for want in item.case.expected.findings:
            expected += 1
            hit = next(
                (f for f in found if f[0] == want.system and metrics.same_category(f[1], want.category)), None
            )
            if hit is not None:
                found.remove(hit)
                matched += 1
    assert summary["summary"]["suites"]["findings"]["finding_recall"] == round(matched / expected, 4)


@pytest.mark.model_server
def test_a_broken_model_is_caught_against_a_good_baseline(
    deployment: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], set_env: Callable[..., None]
) -> None:
    cases = tmp_path / "mine.jsonl"
    lines = [
        json.dumps(ANSWER_CASES[0]),
        '{"id": "bad", "kind": "answer", "question": "?", "expected": {"cateogry": "4A"}}',
    ]
    cases.write_text("\n".join([*lines, *map(json.dumps, ANSWER_CASES[1:])]) + "\n", encoding="utf-8")
    with stub_models() as stub:
        set_env(RADASSIST_MODELS_FILE=str(models_yaml(tmp_path, stub.server_address[1])))
        status, good, err = run_cli(
            capsys, "--cases", str(cases), "--alias", "good", "--out", str(tmp_path / "good")
        )
        assert status == 0
        assert f"{cases}, line 2: expected.cateogry: not a field" in err  # reported, skipped ...
        assert good["case_errors"] == 1 and good["summary"]["cases"] == 3  # ... and the rest ran
        assert "answers" in err and "3/3" in err  # the suite's progress bar, on stderr
        (run,) = good["summary"]["suites"]["answers"]["runs"]
        assert run["model"] == "good" and run["high_risk_error_rate"] == 0.0 and run["passed"] >= 2
        assert run["drafted"] >= 2 and run["model_errors"] == 0  # the stub model really drafted

        baseline = str(tmp_path / "good" / "results.json")
        status, bad, _ = run_cli(
            capsys, "--cases", str(cases), "--alias", "broken", "--compare", baseline,
            "--fail-on-regression", "--out", str(tmp_path / "broken"),
        )  # fmt: skip
    assert status == 1
    (run,) = bad["summary"]["suites"]["answers"]["runs"]
    assert run["model"] == "broken" and run["high_risk_error_rate"] > 0
    assert run["delivered_high_risk_error_rate"] == 0.0  # verification kept "Lung-RADS 1" from the answers
    assert any("high_risk_error_rate 0.0 ->" in r for r in bad["regressions"])
    results = json.loads((tmp_path / "broken" / "results.json").read_text(encoding="utf-8"))
    assert results["models"]["broken"]["model"] == "openai/broken"
    assert {e["name"]: e["version"] for e in results["experts"]}["chest"]
    assert results["project"]["version"]
    lung = next(c for c in results["cases"] if c["id"] == "lr-9mm")
    assert lung["trace"]["drafts"] == {"chest": "Lung-RADS 1."}
    assert "model draft: states lung_rads 1, but it is 4A" in lung["reasons"]
    page = (tmp_path / "broken" / "report.html").read_text(encoding="utf-8")
    assert "Regressions:" in page and 'href="#trace-answers_2flr-9mm_2fbroken_2frag-on"' in page
    assert 'id="trace-answers_2flr-9mm_2fbroken_2frag-on"' in page
    latest = json.loads((deployment / "eval" / "latest.json").read_text(encoding="utf-8"))
    assert latest["report"] == str((tmp_path / "broken" / "report.html").resolve())


def test_limit_runs_the_first_cases_of_each_suite(
    deployment: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, summary, err = run_cli(
        capsys, "--suite", "routing", "--suite", "retrieval", "--limit", "2", "--out", str(tmp_path / "quick")
    )
    assert status == 0 and {k: v["cases"] for k, v in summary["summary"]["suites"].items()} == {
        "routing": 2, "retrieval": 2,
    }  # fmt: skip
    assert "routing" in err and "retrieval" in err and "2/2" in err  # a progress bar per suite, on stderr
    assert main(["eval", "--limit", "0", "--out", str(tmp_path / "none")]) == 2


def test_command_input_problems_are_one_line_and_exit_2(
    deployment: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["eval", "--fail-on-regression"]) == 2
    assert "--fail-on-regression needs --compare" in capsys.readouterr().err
    assert main(["eval", "--suite", "vibes", "--out", str(tmp_path / "x")]) == 2
    assert "unknown suite 'vibes'" in capsys.readouterr().err
    assert main(["eval", "--compare", str(tmp_path / "none.json"), "--out", str(tmp_path / "y")]) == 2
    assert "cannot read baseline" in capsys.readouterr().err
    assert main(["eval", "--suite", "answers", "--alias", "embedder", "--out", str(tmp_path / "z")]) == 2
    assert "--alias 'embedder' is not a chat alias" in capsys.readouterr().err


INTERRUPTIBLE = (  # `python -m agent`, with Ctrl-C's default handler whatever the parent ignores
    "import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "runpy.run_module('agent', run_name='__main__', alter_sys=True)"
)


@pytest.mark.model_server
def test_ctrl_c_leaves_a_partial_results_file(deployment: Path, tmp_path: Path, real_runtime: Any) -> None:
    cases = tmp_path / "many.jsonl"
    many = [{**ANSWER_CASES[0], "id": f"lr-{i}"} for i in range(20)]
    cases.write_text("\n".join(map(json.dumps, many)) + "\n", encoding="utf-8")
    out = tmp_path / "run"
    with stub_models() as stub:
        env = {**os.environ, "DATABASE_URL": real_runtime.database_url, "RADASSIST_HOME": str(deployment),
               "RADASSIST_MODELS_FILE": str(models_yaml(tmp_path, stub.server_address[1]))}  # fmt: skip
        # Ctrl-C's handler set in the child: a suite started as a background job of a shell without job
        # control runs with SIGINT ignored, and a child (and the Python in it) would inherit that.
        process = subprocess.Popen(
            [sys.executable, "-c", INTERRUPTIBLE, "eval", "--cases", str(cases), "--alias", "slow", "--out", str(out)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        deadline = time.monotonic() + 120
        while sum(kind == "stream" for _, kind in stub.requests) < 3:  # a few turns have drafted
            assert process.poll() is None and time.monotonic() < deadline, process.communicate()
            time.sleep(0.1)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err.decode()
    assert f"the finished cases are in {out / 'results.json'}" in err.decode()
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert results["complete"] is False and 1 <= len(results["cases"]) < 20
    assert results["summary"]["cases"] == len(results["cases"])
    assert not (out / "report.html").exists()
    assert not (deployment / "eval" / "latest.json").exists()  # only a complete run becomes the latest report


@pytest.mark.gguf
def test_the_bundled_model_is_evaluated_with_and_without_retrieval(
    deployment: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = tmp_path / "one.jsonl"
    cases.write_text(json.dumps(ANSWER_CASES[0]) + "\n", encoding="utf-8")
    status, summary, _ = run_cli(
        capsys, "--cases", str(cases), "--rag", "both", "--out", str(tmp_path / "run")
    )
    assert status == 0
    runs = {r["rag"]: r for r in summary["summary"]["suites"]["answers"]["runs"]}
    assert set(runs) == {"on", "off"}
    for run in runs.values():  # the demo model really drafted (drafting is forced on for an evaluation)
        assert run["model_errors"] == 0, run  # a failed draft (e.g. the models.yaml timeout) has no claims
        assert run["drafted"] == 1 and run["claims"] > 0
        assert run["ttft_ms"]["p50"] > 0 and run["tokens_per_s"] > 0 and run["turn_ms"]["p50"] > 0
    results = json.loads((tmp_path / "run" / "results.json").read_text(encoding="utf-8"))
    assert len(results["models"]["expert-chest"]["sha256"]) == 64
    assert "drafting forced on" in results["drafting"]
    off = next(c for c in results["cases"] if c["rag"] == "off")
    assert not any(call["tool"] == "guideline_search" for call in off["trace"]["tool_calls"])
    assert off["output"]["sources"] == [] and off["output"]["categories"] == [
        {"system": "lung_rads", "category": "4A"}
    ]
    page = (tmp_path / "run" / "report.html").read_text(encoding="utf-8")
    assert 'alt="RAG on vs off"' in page and 'alt="latency distribution"' in page
