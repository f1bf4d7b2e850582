"""`radassist classify` and `radassist tools`: output shapes, readable reports and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agent.cli import main

REQUIRED_KEYS = [
    "system",
    "category",
    "management",
    "rationale",
    "citation",
    "missing",
    "not_applicable",
    "extracted",
]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def write_json(tmp_path: Path, data: Any, name: str = "inputs.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return str(path)


def test_input_file_json_output(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = write_json(tmp_path, {"assessment": "4B", "modality": "mammography", "exam_type": "diagnostic"})
    code, out, err = run(capsys, "classify", "bi_rads", "--input", path, "--json")
    assert code == 0 and err == ""
    payload = json.loads(out)
    assert list(payload)[: len(REQUIRED_KEYS)] == REQUIRED_KEYS
    assert payload["system"] == "bi_rads"
    assert payload["category"] == "4B"
    assert payload["management"] == "Tissue diagnosis"
    assert payload["risk"] == ">10% to ≤50% likelihood of malignancy"
    assert payload["missing"] == [] and payload["not_applicable"] is None
    assert payload["extracted"] == {}
    assert "2013" in payload["citation"]
    assert payload["rationale"]


def test_text_with_system_json_output(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "classify",
        "adrenal_incidentaloma",
        "--text",
        "1.8 cm left adrenal nodule measuring 8 HU on unenhanced CT.",
        "--json",
    )
    payload = json.loads(out)
    assert code == 0
    assert payload["category"] == "benign: lipid-rich adenoma (CT)"
    assert payload["extracted"] == {"size_mm": 18.0, "unenhanced_hu": 8.0}
    assert payload["evidence"]["unenhanced_hu"] == "8 HU"
    assert payload["caveats"]


def test_text_without_system_infers_it(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "classify",
        "--text",
        "Homogeneous 2 cm renal mass measuring 75 HU on unenhanced CT.",
        "--json",
    )
    payload = json.loads(out)
    assert code == 0
    assert payload["system"] == "renal_incidentaloma"
    assert payload["category"] == "benign: hyperdense cyst"


def test_missing_inputs_are_a_result_not_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "classify", "--text", "2.5 cm left adrenal nodule.", "--json")
    payload = json.loads(out)
    assert code == 0
    assert payload["category"] is None
    assert payload["missing"] == ["prior_imaging"]
    assert payload["undetermined"] == ["prior_imaging"]


def test_not_applicable_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = write_json(tmp_path, {"cystic": True})
    code, out, _ = run(capsys, "classify", "renal_incidentaloma", "--input", path, "--json")
    payload = json.loads(out)
    assert code == 0
    assert payload["category"] is None
    assert "bosniak" in payload["not_applicable"]


def test_readable_report(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "classify", "bi_rads", "--text", "Breast MRI: BI-RADS 4B.")
    assert code == 0
    assert "Category: 4\n" in out
    assert "Management: Tissue diagnosis" in out
    assert "Risk: >2% but <95%" in out
    assert "assessment = 4B" in out and '("BI-RADS 4B")' in out
    assert "Rules:" in out and "MRI: 4B -> 4" in out
    assert "Caveats:" in out and "not MRI" in out
    assert out.rstrip().splitlines()[-1].startswith("Citation: D'Orsi")


def test_readable_report_lists_missing_and_not_applicable(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "classify", "renal_incidentaloma", "--text", "Renal mass.")
    assert "Missing: unenhanced_hu, enhancement_hu" in out
    assert "Category:" not in out
    _, out, _ = run(capsys, "classify", "renal_incidentaloma", "--text", "Complex cystic renal mass.")
    assert "Not applicable: Cystic renal masses are classified with Bosniak 2019" in out


def test_input_from_standard_input(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO('{"assessment": "2"}'))
    code, out, _ = run(capsys, "classify", "bi_rads", "--input", "-", "--json")
    assert code == 0 and json.loads(out)["category"] == "2"


# --- errors: one line, exit 2 --------------------------------------------------------------------


def assert_one_line_error(code: int, out: str, err: str, *fragments: str) -> None:
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("radassist: error: ")
    for fragment in fragments:
        assert fragment in lines[0]


def test_unknown_system_lists_the_known_ones(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "classify", "birads", "--text", "BI-RADS 3")
    assert_one_line_error(
        code, out, err, "'birads'", "bi_rads", "adrenal_incidentaloma", "renal_incidentaloma"
    )


def test_unknown_system_with_input_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run(capsys, "classify", "nope", "--input", write_json(tmp_path, {}))
    assert_one_line_error(code, out, err, "unknown classification system 'nope'", "bi_rads")


def test_unreadable_file_names_the_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = str(tmp_path / "absent.json")
    code, out, err = run(capsys, "classify", "bi_rads", "--input", missing)
    assert_one_line_error(code, out, err, "cannot read input file", "absent.json", "No such file")


def test_invalid_json_names_the_file_and_position(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"assessment": "4A",\n  oops}')
    code, out, err = run(capsys, "classify", "bi_rads", "--input", str(path))
    assert_one_line_error(code, out, err, "broken.json", "not valid JSON", "line 2")


def test_json_that_is_not_an_object(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run(capsys, "classify", "bi_rads", "--input", write_json(tmp_path, ["4A"]))
    assert_one_line_error(code, out, err, "must hold a JSON object", "list")


def test_validation_error_names_field_and_allowed_values(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = write_json(tmp_path, {"assessment": "4D", "modality": "mammography"})
    code, out, err = run(capsys, "classify", "bi_rads", "--input", path)
    assert_one_line_error(code, out, err, "invalid input for bi_rads", "assessment", "'4A'", "'6'")


def test_unknown_key_lists_the_allowed_inputs(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = write_json(tmp_path, {"size": 20})
    code, out, err = run(capsys, "classify", "adrenal_incidentaloma", "--input", path)
    assert_one_line_error(code, out, err, "size: Extra inputs are not permitted", "allowed inputs: size_mm")


def test_contradictory_input_names_the_fields(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = write_json(tmp_path, {"assessment": "3", "malignancy_likelihood_pct": 30})
    code, out, err = run(capsys, "classify", "bi_rads", "--input", path)
    assert_one_line_error(code, out, err, "assessment", "malignancy_likelihood_pct")


def test_no_system_inferred_says_what_to_add(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "classify", "--text", "Unremarkable examination.")
    assert_one_line_error(
        code, out, err, "could not tell which classification system", "name the system", "bi_rads"
    )


def test_input_without_system_is_an_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run(capsys, "classify", "--input", write_json(tmp_path, {}))
    assert_one_line_error(code, out, err, "give the system with --input")


def test_input_and_text_together_are_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["classify", "bi_rads", "--input", write_json(tmp_path, {}), "--text", "BI-RADS 2"])
    assert exit_info.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


# --- tools list / schema ---------------------------------------------------------------------------


def test_tools_list(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "tools", "list")
    assert code == 0
    lines = {line.split()[0]: line for line in out.splitlines()}
    for name in ("bi_rads", "adrenal_incidentaloma", "renal_incidentaloma"):
        assert "classification" in lines[name]
    assert "ACR BI-RADS Atlas 5th edition (2013)" in lines["bi_rads"]
    assert "Mayo-Smith" in lines["adrenal_incidentaloma"]
    assert "Herts" in lines["renal_incidentaloma"]


def test_tools_schema(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "tools", "schema", "bi_rads")
    schema = json.loads(out)
    assert code == 0
    assert set(schema["properties"]) == {"assessment", "malignancy_likelihood_pct", "modality", "exam_type"}
    assert schema["additionalProperties"] is False


def test_tools_schema_unknown(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "tools", "schema", "nope")
    assert_one_line_error(code, out, err, "unknown tool 'nope'", "bi_rads")
