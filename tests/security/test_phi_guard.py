"""No patient identifiers reach a model whose calls leave the machine (issue 13, "PHI to remote models").

The recognisers are tested kind by kind, on clean clinical text (nothing may be flagged), on the
decisions for each kind of alias, and then end to end: 200 synthetic prompts with identifiers go
through the real gateway (litellm, the `openai/` provider) to a stub "remote" model on loopback, declared
`remote: true`, whose alias falls back to a local stub. Not one canary may reach the remote stub or any
log; the local stub must receive them all (which proves the canaries were really in the calls).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.gateway import Gateway, PhiWithheld, load_models_config, record_egress
from agent.gateway.phi import PATTERNS, redact, scan
from agent.settings import REPO_ROOT
from common.errors import RadassistError
from tests.security.phi_prompts import clinical_questions, phi_prompts
from tests.security.stub_model import StubModel, models_yaml

# -- the recognisers ------------------------------------------------------------------------------------

SAMPLES = {
    "name": ["Mr. Okonkwo", "Mrs O'Neil", "Ms. Jane Doe", "Dr Patel", "Patient name: Maria Lopez",
             "Dictated by: Dr. Huang", "Miss Smith", "Prof. J. Andersen"],
    "mrn": ["MRN 1234567", "MRN: 00123456", "MR# 7654321", "medical record number 123-456-78", "Patient ID: 99887766"],
    "accession": ["Accession # RAD20231234", "ACC 55512345", "accession number: A1234567", "Acc. No. CT-2024-00123"],
    "dob": ["DOB 03/14/1962", "D.O.B.: 14.03.1962", "date of birth 1962-03-14", "born on March 14, 1962", "DOB: 1962"],
    "date": ["CT on 03/14/2024", "seen 2023-11-02", "exam of 14 March 2024", "March 14, 2024"],
    "phone": ["(555) 123-4567", "555-123-4567", "+1 555 123 4567", "tel 555.123.4567", "+44 20 7946 0958"],
    "address": ["lives at 1234 Maple Street", "42 Elm Rd", "PO Box 1234", "Springfield, IL 62704", "address: 5 Oak Lane"],
    "email": ["jane.doe@example.org"],
    "ssn": ["SSN 123-45-6789"],
    "uid": ["1.2.840.113619.2.55.3.604688119"],
    "id_number": ["ID 12345678", "E1234567"],
}  # fmt: skip


@pytest.mark.parametrize(("kind", "text"), [(k, t) for k, texts in SAMPLES.items() for t in texts])
def test_each_identifier_kind_is_recognised_and_redacted(kind: str, text: str) -> None:
    found = scan([f"Follow-up question. {text}. 6 mm solid nodule."])
    assert kind in found.kinds, f"{text!r} not recognised as {kind}: {found.kinds}"
    assert redact(text) != text


def _clean_texts() -> list[str]:
    data = REPO_ROOT / "tests" / "data"
    routing = yaml.safe_load((data / "routing_questions.yaml").read_text())
    retrieval = yaml.safe_load((data / "retrieval_questions.yaml").read_text())
    corpus = [p.read_text() for p in sorted((REPO_ROOT / "tools" / "knowledge" / "corpus").glob("*.md"))]
    from experts import load_experts

    prompts = [e.prompt for e in load_experts(REPO_ROOT / "experts").values()]
    questions = [q["question"] for q in routing + retrieval]
    return clinical_questions() + questions + corpus + prompts


def test_clinical_questions_guidelines_and_prompts_pass_the_scan() -> None:
    """No false alarm on what the agent really sends: questions, guideline passages, expert prompts."""
    texts = _clean_texts()
    assert len(texts) > 200
    flagged = [(kind, m.group(0)) for t in texts for kind, p in PATTERNS.items() for m in p.finditer(t)]
    assert flagged == []


@pytest.mark.parametrize(
    "text",
    ["MR imaging of the liver, 2 cm LR-4 observation", "MS plaques, 3 new lesions", "follow-up at 6-12-24 months",
     "PI-RADS v2.1, lesion 12 x 10 x 8 mm", "Bosniak IIF since 2019", "ADC 850 x 10-6 mm2/s", "Lung-RADS 4A: 3-month LDCT"],
)  # fmt: skip
def test_radiology_shorthand_is_not_taken_for_an_identifier(text: str) -> None:
    assert not scan([text]).found, scan([text]).kinds


# -- decisions per alias -----------------------------------------------------------------------------------

BASE = """model_list:
  - model_name: default
    litellm_params: {model: openai/local, api_base: 'http://127.0.0.1:9/v1', api_key: x}
  - model_name: embedder
    litellm_params: {model: sentence_transformers/bundled/all-MiniLM-L6-v2}
    model_info: {mode: embedding}
"""
REMOTE = "    litellm_params: {model: openai/gpt-x, api_base: 'https://api.example.com/v1', api_key: x}\n"


@pytest.fixture
def config(tmp_path: Path) -> Callable[[str], Any]:
    def load(extra: str) -> Any:
        path = tmp_path / "models.yaml"
        path.write_text(BASE + extra)
        return load_models_config(path)

    return load


def test_each_kind_of_alias_gets_the_right_decision(config: Callable[[str], Any]) -> None:
    from agent.gateway.phi import decide

    cfg = config(
        f"  - model_name: cloud\n{REMOTE}"
        f"  - model_name: covered\n{REMOTE}    model_info: {{allow_phi: true}}\n"
        f"  - model_name: proxy\n    litellm_params: {{model: openai/p, api_base: 'http://127.0.0.1:4000'}}\n"
        "    model_info: {remote: true, phi_fallback: default}\n"
        "  - model_name: lan\n    litellm_params: {model: openai/l, api_base: 'http://10.1.2.3:8080/v1'}\n"
    )
    phi, clean = ["Mr. Okonkwo, 6 mm nodule"], ["6 mm nodule, smoker"]
    with record_egress() as decisions:
        assert decide(cfg, "lan", phi).action == "local"  # the hospital's own network
        assert decide(cfg, "covered", phi).action == "allowed"
        assert decide(cfg, "cloud", clean).action == "clean"
        fallback = decide(cfg, "cloud", phi)
        assert (fallback.action, fallback.sent_to, fallback.kinds) == ("fallback", "default", {"name": 1})
        assert decide(cfg, "proxy", phi).sent_to == "default"  # loopback, but declared remote
        assert decide(cfg, "cloud", phi, may_fall_back=False).action == "blocked"
    assert [d.action for d in decisions] == ["allowed", "clean", "fallback", "fallback", "blocked"]
    assert "Okonkwo" not in repr(decisions)


def test_a_remote_fallback_makes_a_local_alias_remote(config: Callable[[str], Any]) -> None:
    cfg = config(f"  - model_name: cloud\n{REMOTE}router_settings:\n  fallbacks: [{{default: [cloud]}}]\n")
    assert cfg.leaves_machine("default") and not cfg.allows_phi("default")
    assert cfg.phi_fallback("cloud") is None, (
        "default is no local fallback: it may itself fall back to the cloud"
    )


@pytest.mark.parametrize(
    ("info", "message"),
    [
        ("{phi_fallback: nowhere}", "phi_fallback 'nowhere' is not an alias"),
        ("{phi_fallback: other}", "phi_fallback 'other' must be a local alias"),
        ("{allow_phi: 'yes'}", "allow_phi must be true or false"),
        ("{remote: 1}", "remote must be true or false"),
    ],
)
def test_phi_settings_mistakes_are_named(config: Callable[[str], Any], info: str, message: str) -> None:
    with pytest.raises(RadassistError, match=message):
        config(f"  - model_name: cloud\n{REMOTE}    model_info: {info}\n  - model_name: other\n{REMOTE}")


# -- 200 prompts through the real gateway -------------------------------------------------------------------


@pytest.fixture
def stubs(tmp_path: Path) -> Iterator[tuple[StubModel, StubModel, Path]]:
    with StubModel() as remote, StubModel() as local:
        path = tmp_path / "models.yaml"
        path.write_text(models_yaml(remote, local))
        yield remote, local, path


def _leaks(canaries: list[str], text: str) -> list[str]:
    return [c for c in canaries if c in text]


@pytest.mark.model_server
async def test_200_prompts_with_identifiers_never_reach_the_remote_model_or_a_log(
    stubs: tuple[StubModel, StubModel, Path],
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    remote, local, path = stubs
    caplog.set_level(logging.DEBUG)
    gateway = Gateway.from_file(path)
    prompts = phi_prompts(200)
    canaries = [c for p in prompts for c in p.canaries]
    schema = {"type": "object", "properties": {"size_mm": {"type": "number"}}}
    with record_egress() as decisions:
        for p in prompts:
            messages = [
                {"role": "system", "content": "You are the chest expert."},
                {"role": "user", "content": p.text},
            ]
            assert "".join([t async for t in gateway.astream("expert-chest", messages)]).strip()
            await gateway.acomplete_json("expert-neuro", messages, schema)
    assert [d.action for d in decisions] == ["fallback"] * 400
    assert remote.bodies == [], "a message with identifiers reached the remote model"
    assert len(local.bodies) == 400 and _leaks(canaries, local.received()) == canaries, "positive control"
    logs = caplog.text + "".join(capfd.readouterr())
    assert _leaks(canaries, logs) == []


@pytest.mark.model_server
async def test_text_without_identifiers_still_reaches_the_remote_model(
    stubs: tuple[StubModel, StubModel, Path],
) -> None:
    remote, local, path = stubs
    gateway = Gateway.from_file(path)
    questions = clinical_questions()
    for q in questions:
        await gateway.acomplete("expert-chest", [{"role": "user", "content": q}])
    assert len(remote.bodies) == len(questions) and local.bodies == [], (
        "a clean question was kept from the model"
    )


async def test_without_a_local_fallback_the_call_is_withheld(tmp_path: Path) -> None:
    with StubModel() as remote:
        path = tmp_path / "models.yaml"
        embedder = (
            "  - model_name: cloud-embedder\n"
            f"    litellm_params: {{model: openai/embed, api_base: '{remote.url}', api_key: stub}}\n"
            "    model_info: {mode: embedding, remote: true}\n"
        )
        path.write_text(models_yaml(remote, remote, default_is_remote=True, extra=embedder))
        gateway = Gateway.from_file(path)
        with pytest.raises(PhiWithheld, match=r"contains patient identifiers \(id_number, mrn\)") as refused:
            await gateway.acomplete(
                "expert-chest", [{"role": "user", "content": "MRN 48213907: 6 mm nodule"}]
            )
        assert "48213907" not in str(refused.value)
        with pytest.raises(
            PhiWithheld, match=r"\(date, dob\)"
        ):  # embeddings never fall back to another model
            await gateway.aembed("cloud-embedder", ["DOB 03/14/1962, 6 mm nodule"])
    assert remote.bodies == []
