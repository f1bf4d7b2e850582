"""Expert files: every expert in the directory loads, names only real tools, routes its own examples;
the shipped ones offer what the brief requires; the loader rejects bad files; the README's examples work.

Checks are invariants over whatever experts the directory holds (a new expert file needs no edit here).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.gateway.config import ModelsConfig, load_models_config
from agent.settings import REPO_ROOT
from common.errors import RadassistError
from experts import Expert, load_experts

EXPERTS_DIR = REPO_ROOT / "experts"
ROUTING_FILE = REPO_ROOT / "tests" / "data" / "routing_questions.yaml"

# What each shipped expert must offer at least, from the project brief (not read back from the files).
REQUIRED_TOOLS = {
    "chest": {"fleischner", "lung_rads", "guideline_search"},
    "neuro": {"ti_rads", "thyroid_incidental", "guideline_search"},
    "abdominal": {
        "li_rads",
        "adrenal_incidentaloma",
        "renal_incidentaloma",
        "bosniak",
        "pancreatic_cyst",
        "gallbladder_polyp",
        "guideline_search",
    },
    "breast": {"bi_rads", "guideline_search"},
    "msk": {"guideline_search"},
    "gu": {"pi_rads", "bosniak", "renal_incidentaloma", "o_rads", "guideline_search"},
    "general": {"guideline_search"},
}
MIN_EXAMPLES = MIN_KEYWORDS = 8
MIN_ROUTING_QUESTIONS = 72


@pytest.fixture(scope="module")
def shipped() -> dict[str, Expert]:
    return load_experts(EXPERTS_DIR)


@pytest.fixture(scope="module")
def shipped_models() -> ModelsConfig:
    return load_models_config(REPO_ROOT / "models.yaml")


@pytest.fixture(scope="module")
def routing() -> list[dict[str, Any]]:
    return yaml.safe_load(ROUTING_FILE.read_text(encoding="utf-8"))


def _normalized(text: str) -> str:
    return re.sub(r"\s+", " ", text).casefold().strip(" ?.!")


# --- the shipped experts ---------------------------------------------------------------------------


def test_every_required_expert_ships_ordered_by_name(shipped: dict[str, Expert]) -> None:
    assert set(REQUIRED_TOOLS) <= set(shipped)
    assert list(shipped) == sorted(shipped)
    for name, expert in shipped.items():
        assert expert.name == name
        assert expert.path == EXPERTS_DIR / f"{name}.md"
        assert expert.sha256 == hashlib.sha256(expert.path.read_bytes()).hexdigest()


@pytest.mark.parametrize("name", sorted(REQUIRED_TOOLS))
def test_expert_offers_its_tools_and_alias(shipped: dict[str, Expert], name: str) -> None:
    expert = shipped[name]
    assert REQUIRED_TOOLS[name] <= set(expert.tools)
    assert expert.model == f"expert-{name}"


@pytest.mark.parametrize("name", sorted(REQUIRED_TOOLS))
def test_every_tool_an_expert_names_is_registered(shipped: dict[str, Expert], name: str) -> None:
    from tools.registry import REGISTRY, load_tools

    load_tools()
    missing = [t for t in shipped[name].tools if t not in REGISTRY.names()]
    assert not missing, f"{name}: tools not registered: {missing} (registered: {REGISTRY.names()})"


def test_every_model_alias_resolves_in_the_shipped_models_file(shipped_models: ModelsConfig) -> None:
    experts = load_experts(EXPERTS_DIR, models=shipped_models)
    assert {e.model for e in experts.values()} <= set(shipped_models.aliases())


async def test_every_expert_routes_its_own_examples(shipped: dict[str, Expert]) -> None:
    """An expert's examples are its routing test data (here with the fast hashing embedder; the real
    MiniLM gate is checked in tests/agent/test_gate.py)."""
    from agent.gate import Gate
    from tests.agent.fakes import hashing_embed
    from tools.registry import load_tools

    gate = Gate(shipped, hashing_embed, load_tools())
    misrouted = []
    for name, expert in shipped.items():
        for example in expert.examples:
            top = (await gate.route(example)).scores[0].name
            if top != name:
                misrouted.append((name, top, example))
    assert misrouted == []


def test_each_expert_has_enough_routing_evidence(shipped: dict[str, Expert]) -> None:
    for expert in shipped.values():
        assert len(expert.examples) >= MIN_EXAMPLES, expert.name
        assert len(expert.keywords) >= MIN_KEYWORDS, expert.name
        assert expert.description and expert.title
    examples = Counter(_normalized(x) for e in shipped.values() for x in e.examples)
    assert [x for x, n in examples.items() if n > 1] == []


def test_the_abbreviations_clinicians_type_are_keywords(shipped: dict[str, Expert]) -> None:
    keywords = {k for e in shipped.values() for k in e.keywords}
    for abbreviation in ("ggn", "ti-rads", "lirads", "pirads", "orads", "birads", "lung-rads", "aphe"):
        assert abbreviation in keywords


def test_prompts_name_their_tools_and_demand_citations(shipped: dict[str, Expert]) -> None:
    for expert in shipped.values():
        for tool_name in expert.tools:
            assert f"`{tool_name}`" in expert.prompt, (expert.name, tool_name)
        assert "[n]" in expert.prompt, expert.name
        assert "missing" in expert.prompt, expert.name
        # a draft's prompt repeats no answer rules (agent/prompts.py): the expert's own prompt carries them
        assert "Never invent" in expert.prompt and "short sentences" in expert.prompt, expert.name
        assert not expert.prompt.startswith("---"), expert.name


def test_prompts_carry_no_clinical_numbers(shipped: dict[str, Expert]) -> None:
    """Thresholds and intervals must come from tools and passages, never from the prompt itself."""
    quantity = re.compile(r"\d\s*(mm|cm|hu|%|ml|mg|months?|years?|weeks?|days?)\b", re.IGNORECASE)
    for expert in shipped.values():
        assert quantity.search(expert.prompt) is None, expert.name


def test_msk_prompt_says_no_classification_tool_exists(shipped: dict[str, Expert]) -> None:
    assert "No musculoskeletal classification tool exists yet" in shipped["msk"].prompt
    assert "cannot answer" in shipped["msk"].prompt


# --- the loader's error cases ----------------------------------------------------------------------

VALID: dict[str, Any] = {
    "name": "cardiac",
    "title": "Cardiac imaging",
    "description": "Heart and great vessels.",
    "examples": ["Calcium score 400 in a 55-year-old, next step?"],
    "keywords": ["cardiac", "calcium score"],
    "tools": ["guideline_search"],
    "model": "expert-cardiac",
    "version": "1.0",
}
MODELS = ModelsConfig.model_validate(
    {"model_list": [{"model_name": "expert-cardiac", "litellm_params": {"model": "ollama_chat/x"}}]}
)
MODELS_WITH_DEFAULT = ModelsConfig.model_validate(
    {"model_list": [{"model_name": "default", "litellm_params": {"model": "ollama_chat/x"}}]}
)
MODELS_WITH_DEFAULT.source = Path("/srv/radassist/models.yaml")


def _write(directory: Path, filename: str, body: str = "Answer from passages only.", **changes: Any) -> Path:
    front = {k: v for k, v in {**VALID, **changes}.items() if v is not None}
    path = directory / filename
    path.write_text(f"---\n{yaml.safe_dump(front, sort_keys=False)}---\n{body}\n", encoding="utf-8")
    return path


def _fails(directory: Path, path: Path, problem: str, **kwargs: Any) -> None:
    with pytest.raises(RadassistError, match=re.escape(str(path)) + ".*" + problem):
        load_experts(directory, **kwargs)


def test_a_valid_file_loads(tmp_path: Path) -> None:
    path = _write(tmp_path, "cardiac.md", body="\n  Answer from passages only.\n\n---\nA rule below.\n")
    (tmp_path / "README.md").write_text("How to write an expert file.\n", encoding="utf-8")
    (tmp_path / "_draft.md").write_text("not yet\n", encoding="utf-8")
    expert = load_experts(tmp_path, tool_names=["guideline_search"], models=MODELS)["cardiac"]
    assert expert.prompt == "Answer from passages only.\n\n---\nA rule below."
    assert expert.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert expert.path == path
    assert expert.examples == VALID["examples"]


def test_windows_line_endings_load(tmp_path: Path) -> None:
    path = _write(tmp_path, "cardiac.md")
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    assert load_experts(tmp_path)["cardiac"].prompt == "Answer from passages only."


def test_experts_are_ordered_by_name_not_file(tmp_path: Path) -> None:
    _write(tmp_path, "a.md", name="zeta")
    _write(tmp_path, "b.md", name="alpha")
    assert list(load_experts(tmp_path)) == ["alpha", "zeta"]


def test_missing_front_matter(tmp_path: Path) -> None:
    path = tmp_path / "cardiac.md"
    path.write_text("You are a cardiac radiologist.\n", encoding="utf-8")
    _fails(tmp_path, path, "missing front matter")


def test_unclosed_front_matter(tmp_path: Path) -> None:
    path = tmp_path / "cardiac.md"
    path.write_text("---\nname: cardiac\nYou are a cardiac radiologist.\n", encoding="utf-8")
    _fails(tmp_path, path, "missing front matter")


def test_front_matter_not_yaml(tmp_path: Path) -> None:
    path = tmp_path / "cardiac.md"
    path.write_text("---\nname: [cardiac\n---\nbody\n", encoding="utf-8")
    _fails(tmp_path, path, "not valid YAML")


def test_front_matter_not_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "cardiac.md"
    path.write_text("---\n- cardiac\n---\nbody\n", encoding="utf-8")
    _fails(tmp_path, path, "must be a YAML mapping")


def test_unknown_key(tmp_path: Path) -> None:
    path = _write(tmp_path, "cardiac.md", temperature=0.2)
    _fails(tmp_path, path, "unknown key 'temperature'")


@pytest.mark.parametrize("key", ["prompt", "sha256", "path"])
def test_computed_fields_cannot_be_set_in_front_matter(tmp_path: Path, key: str) -> None:
    path = _write(tmp_path, "cardiac.md", **{key: "x"})
    _fails(tmp_path, path, f"unknown key '{key}'")


def test_missing_key(tmp_path: Path) -> None:
    path = _write(tmp_path, "cardiac.md", title=None)
    _fails(tmp_path, path, "title: Field required")


def test_duplicate_name(tmp_path: Path) -> None:
    first = _write(tmp_path, "a.md")
    second = _write(tmp_path, "b.md")
    _fails(tmp_path, second, f"name 'cardiac' is already used by {re.escape(str(first))}")


def test_unknown_tool(tmp_path: Path) -> None:
    path = _write(tmp_path, "cardiac.md", tools=["guideline_search", "cad_rads"])
    _fails(tmp_path, path, "unknown tool 'cad_rads'", tool_names=["guideline_search", "fleischner"])


def test_tools_are_not_checked_without_a_registry(tmp_path: Path) -> None:
    _write(tmp_path, "cardiac.md", tools=["cad_rads"])
    assert load_experts(tmp_path)["cardiac"].tools == ["cad_rads"]


def test_an_alias_missing_from_models_yaml_falls_back_to_default_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = _write(tmp_path, "cardiac.md", model="expert-heart")
    with caplog.at_level(logging.WARNING):
        expert = load_experts(tmp_path, models=MODELS_WITH_DEFAULT)["cardiac"]
    assert expert.model == "default"
    assert [r.getMessage() for r in caplog.records] == [
        f"{path}: model alias 'expert-heart' is not defined in {MODELS_WITH_DEFAULT.source}; "
        "the expert uses 'default' until it is added there"
    ]


def test_unknown_alias_without_a_default(tmp_path: Path) -> None:
    path = _write(tmp_path, "cardiac.md", model="expert-heart")
    _fails(
        tmp_path,
        path,
        "alias 'expert-heart' is not defined in .*, nor is the fallback 'default'",
        models=MODELS,
    )


@pytest.mark.parametrize("body", ["", "   \n\n  "])
def test_empty_prompt(tmp_path: Path, body: str) -> None:
    path = _write(tmp_path, "cardiac.md", body=body)
    _fails(tmp_path, path, "prompt")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("description", ""),
        ("description", "   "),
        ("examples", []),
        ("examples", ["ok?", " "]),
        ("title", ""),
    ],
)
def test_empty_routing_fields(tmp_path: Path, field: str, value: Any) -> None:
    path = _write(tmp_path, "cardiac.md", **{field: value})
    _fails(tmp_path, path, field)


@pytest.mark.parametrize("keyword", ["Cardiac", "ca(score)?", " ", "cad-rads*"])
def test_keywords_must_be_plain_lowercase(tmp_path: Path, keyword: str) -> None:
    path = _write(tmp_path, "cardiac.md", keywords=["cardiac", keyword])
    _fails(tmp_path, path, "keywords")


def test_duplicate_keyword(tmp_path: Path) -> None:
    path = _write(tmp_path, "cardiac.md", keywords=["cardiac", "cardiac"])
    _fails(tmp_path, path, "listed more than once: cardiac")


@pytest.mark.parametrize("name", ["Cardiac", "cardiac-imaging", "1cardiac", ""])
def test_name_must_be_snake_case(tmp_path: Path, name: str) -> None:
    path = _write(tmp_path, "cardiac.md", name=name)
    _fails(tmp_path, path, "name")


def test_unquoted_version(tmp_path: Path) -> None:
    path = tmp_path / "cardiac.md"
    path.write_text(_write(tmp_path, "cardiac.md").read_text().replace("version: '1.0'", "version: 1.10"))
    _fails(tmp_path, path, 'quote it, e.g. version: "1.0"')


def test_no_experts(tmp_path: Path) -> None:
    with pytest.raises(RadassistError, match="no expert files"):
        load_experts(tmp_path)
    with pytest.raises(RadassistError, match="experts directory not found"):
        load_experts(tmp_path / "absent")


# --- the routing evaluation set --------------------------------------------------------------------


def test_routing_questions_are_well_formed(routing: list[dict[str, Any]], shipped: dict[str, Expert]) -> None:
    assert isinstance(routing, list) and len(routing) >= MIN_ROUTING_QUESTIONS
    for entry in routing:
        assert set(entry) <= {"question", "expected", "also_ok"} and "expected" in entry, entry
        assert isinstance(entry["question"], str) and entry["question"].strip(), entry
        assert entry["expected"] in shipped, entry
        also_ok = entry.get("also_ok", [])
        assert set(also_ok) <= set(shipped) and entry["expected"] not in also_ok, entry
        assert len(set(also_ok)) == len(also_ok), entry


def test_routing_questions_are_not_the_experts_examples(
    routing: list[dict[str, Any]], shipped: dict[str, Expert]
) -> None:
    examples = {_normalized(x) for e in shipped.values() for x in e.examples}
    questions = [_normalized(entry["question"]) for entry in routing]
    assert [q for q in questions if q in examples] == []
    assert [q for q, n in Counter(questions).items() if n > 1] == []
