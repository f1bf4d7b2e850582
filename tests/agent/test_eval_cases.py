"""`radassist eval` case files: the JSONL format, its errors, the shipped suites, the README examples."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from agent.eval.cases import SUITES, Vocabulary, check_references, load_file, parse_lines, shipped
from agent.settings import REPO_ROOT

GOOD = {
    "classification": {"id": "c1", "kind": "classification", "text": "7 mm solid nodule, smoker",
                       "expected": {"system": "fleischner", "category": "solid, single, 6-8 mm, high risk"}},
    "answer": {"id": "a1", "kind": "answer", "question": "What is the normal spleen size?",
               "expected": {"cannot_answer": True}},
}  # fmt: skip


def lines(*items: object) -> list[str]:
    return [item if isinstance(item, str) else json.dumps(item) for item in items]


def test_each_bad_line_is_named_by_line_and_field_and_the_rest_still_loads() -> None:
    bad_category = {**GOOD["classification"], "id": "c2", "expected": {"system": "fleischner"}}
    unknown_kind = {"id": "x", "kind": "triage", "question": "?"}
    typo_field = {**GOOD["answer"], "id": "a2", "expectd": {}}
    empty_answer_key = {**GOOD["answer"], "id": "a3", "expected": {}}
    contradicting = {**GOOD["answer"], "id": "a4", "expected": {"cannot_answer": True, "category": "4A"}}
    cases, errors = parse_lines(
        lines(GOOD["classification"], "{not json", bad_category, "", unknown_kind, typo_field, "[1, 2]",
              empty_answer_key, GOOD["answer"], contradicting, GOOD["classification"]),
        "mine.jsonl",
    )  # fmt: skip
    assert [c.case.id for c in cases] == ["c1", "a1"]
    assert [(e.line, e.field) for e in errors] == [
        (2, "(line)"),
        (3, "expected.category"),
        (5, "kind"),
        (6, "expectd"),
        (7, "(line)"),
        (8, "expected"),
        (10, "expected"),
        (11, "id"),
    ]
    rendered = [str(e) for e in errors]
    assert rendered[0].startswith("mine.jsonl, line 2: (line): not valid JSON")
    assert rendered[1] == "mine.jsonl, line 3: expected.category: required"
    assert "unknown kind 'triage'" in rendered[2]
    assert "not a field" in rendered[3]
    assert "at least one of category, source_any, cannot_answer" in rendered[5]
    assert "already used on line 1" in rendered[7]


def test_references_to_what_the_deployment_lacks_are_errors_with_the_field() -> None:
    cases, _ = parse_lines(
        lines(
            GOOD["classification"],
            {"id": "r1", "kind": "routing", "question": "q?", "expected": {"expert": "cardiac"}},
            {"id": "q1", "kind": "retrieval", "question": "qq", "expected": {"source_any": ["mri-safety", "nope"]}},
            {"id": "f1", "kind": "findings", "text": "t", "expected": {"findings": [{"system": "cad_rads", "category": None}]}},
        ),
        "mine.jsonl",
    )  # fmt: skip
    vocab = Vocabulary(frozenset({"fleischner"}), frozenset({"chest"}), frozenset({"mri-safety"}))
    good, errors = check_references(cases, vocab)
    assert [c.case.id for c in good] == ["c1"]
    assert [(e.line, e.field) for e in errors] == [
        (2, "expected.expert"),
        (3, "expected.source_any.1"),
        (4, "expected.findings.0.system"),
    ]
    assert "unknown expert 'cardiac'; known: chest" in errors[0].message


def test_an_unreadable_file_stops_the_command(tmp_path: Path) -> None:
    from common.errors import RadassistError

    with pytest.raises(RadassistError, match="cannot read case file"):
        load_file(tmp_path / "missing.jsonl")
    latin1 = tmp_path / "latin1.jsonl"
    latin1.write_bytes(b'{"id": "\xe9"}\n')
    with pytest.raises(RadassistError, match="not UTF-8"):
        load_file(latin1)


@pytest.mark.parametrize("suite", SUITES)
def test_shipped_suites_are_valid_and_have_dozens_of_cases(suite: str) -> None:
    cases = shipped(suite)
    assert len(cases) >= 24, f"{suite}: {len(cases)} cases"
    assert all(c.suite == suite for c in cases)
    assert all(c.case.note for c in cases), "every shipped case says where its expectation comes from"


def test_shipped_cases_are_not_the_data_the_project_tunes_on() -> None:
    """The tools and the gate are tuned on tests/data; the evaluation must not score those texts."""
    tuned: set[str] = set()
    for path in (REPO_ROOT / "tests" / "data").glob("*.yaml"):
        for item in yaml.safe_load(path.read_text(encoding="utf-8")) or []:
            tuned |= {
                normalise(item[k]) for k in ("text", "question") if isinstance(item, dict) and k in item
            }
    from experts import load_experts

    for expert in load_experts(REPO_ROOT / "experts").values():
        tuned |= {normalise(e) for e in expert.examples}
    for suite in SUITES:
        for item in shipped(suite):
            words = getattr(item.case, "text", None) or getattr(item.case, "question", "")
            assert normalise(words) not in tuned, f"{suite}/{item.case.id} is tuning data"


def normalise(text: str) -> str:
    return re.sub(r"\W+", " ", text).strip().lower()


def test_the_readme_examples_are_valid_case_lines() -> None:
    """The README shows one example of each kind; they must parse exactly as written."""
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```jsonl\n(.*?)```", readme, re.S)
    assert block, "README has a ```jsonl block with case examples"
    cases, errors = parse_lines(block.group(1).splitlines(), "README.md")
    assert errors == []
    assert sorted(c.case.kind for c in cases) == [
        "answer",
        "classification",
        "findings",
        "retrieval",
        "routing",
    ]
