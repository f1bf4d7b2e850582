"""Reading a whole report (tools.classify.report): splitting, evidence spans, ignored findings, follow-ups, CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tools import load_tools
from tools.classify.report import (
    ReportReading,
    apply_followup,
    find_target,
    read_report,
    render_table,
)

REGISTRY = load_tools()

REPORT = (
    "CT chest/abdomen: 64-year-old former smoker, no history of cancer. Incidental 7 x 5 mm solid nodule RUL. "
    "4 mm solid nodule LLL. Left adrenal nodule measuring 2.2 cm, 35 HU on unenhanced images, no prior imaging. "
    "No hydronephrosis. Previously seen right renal cyst has resolved. No adrenal nodule on the right."
)


def read(text: str) -> ReportReading:
    return read_report(text, registry=REGISTRY)


def test_every_finding_has_its_own_system_and_evidence_span() -> None:
    reading = read(REPORT)
    assert [f.system for f in reading.findings] == ["fleischner", "fleischner", "adrenal_incidentaloma"]
    for f in reading.findings:
        assert REPORT[f.evidence.start : f.evidence.end] == f.evidence.text
    assert reading.findings[0].evidence.text == "Incidental 7 x 5 mm solid nodule RUL"
    assert reading.findings[0].location == "RUL" and reading.findings[0].laterality == "right"
    assert reading.findings[2].measurements == ["2.2 cm"]


def test_two_lung_nodules_follow_the_fleischner_multiple_nodule_rule() -> None:
    first, second, _ = read(REPORT).findings
    assert first.category == "solid, multiple, 6-8 mm, high risk"
    assert second.category == "solid, multiple, <6 mm, high risk"
    assert first.dominant is True and second.dominant is False and second.managed_with == 1
    assert "most suspicious" in (first.group_rule or "")


def test_lung_rads_exam_is_led_by_the_most_suspicious_nodule() -> None:
    reading = read("Screening LDCT, baseline. 3 mm solid nodule RML. 9 mm solid nodule in the LLL.")
    small, large = reading.findings
    assert (small.category, large.category) == ("2", "4A")
    assert large.dominant and small.managed_with == large.number


def test_negated_resolved_and_normal_are_ignored_with_why() -> None:
    ignored = {i.text: i.why for i in read(REPORT).ignored}
    assert ignored["Previously seen right renal cyst has resolved"].startswith("resolved")
    assert ignored["No adrenal nodule on the right"] == "negated ('No')"
    normal = read("The pancreas, spleen and liver are unremarkable. Lungs are clear.").ignored
    assert {i.text for i in normal} >= {"Lungs are clear"}
    assert all("normal" in i.why for i in normal)


def test_a_negated_feature_does_not_negate_the_lesion() -> None:
    reading = read("No septations in the 2 cm simple-appearing right renal cyst, 10 HU on noncontrast CT.")
    assert [f.system for f in reading.findings] == ["bosniak"]


def test_pseudo_negation_keeps_the_finding() -> None:
    reading = read("No change in the 2.5 cm left adrenal nodule, 5 HU on unenhanced CT.")
    assert [f.category for f in reading.findings] == ["benign: lipid-rich adenoma (CT)"]


def test_known_miss_rul_dictation_is_a_lung_nodule() -> None:
    (f,) = read("CT chest: incidental 7 x 5 mm solid nodule RUL, former smoker").findings
    assert (f.system, f.category) == ("fleischner", "solid, single, 6-8 mm, high risk")


@pytest.mark.parametrize(
    "text",
    [
        "Cystic renal mass with septa in the left kidney, 3 cm.",
        "3 cm cystic mass in the left kidney with thin septa.",
        "Left renal lesion with a thick enhancing septation.",
    ],
)
def test_known_miss_cystic_renal_mass_with_septa_goes_to_bosniak(text: str) -> None:
    (f,) = read(text).findings
    assert f.system == "bosniak"


def test_a_renal_mass_without_cystic_words_goes_to_the_renal_white_paper() -> None:
    (f,) = read("Homogeneous 2 cm left renal lesion measuring 12 HU on noncontrast CT.").findings
    assert (f.system, f.category) == ("renal_incidentaloma", "benign: simple cyst")


@pytest.mark.parametrize(
    ("text", "system"),
    [
        # Found by `radassist eval`: read as an ultrasound finding, the answer asked for sonographic features.
        (
            "CT neck in a 45-year-old: incidental 2 cm thyroid nodule, no local invasion or abnormal lymph nodes. "
            "Is an ultrasound needed?",
            "thyroid_incidental",
        ),
        ("Incidental 1.6 cm thyroid nodule on chest MRI. Does it need an ultrasound?", "thyroid_incidental"),
        ("Thyroid ultrasound. 1.4 cm nodule in the right lobe of the thyroid.", "ti_rads"),
        ("CT neck: 1.4 cm solid hypoechoic thyroid nodule on the follow-up ultrasound.", "ti_rads"),
    ],
)
def test_a_thyroid_nodule_on_ct_or_mri_asks_whether_it_needs_an_ultrasound(text: str, system: str) -> None:
    (f,) = read(text).findings
    assert f.system == system


def test_liver_lesion_outside_the_lirads_population_is_ignored_with_why() -> None:
    (ignored,) = read("Subcentimeter hypodensity in the liver, too small to characterize.").ignored
    assert "LI-RADS population" in ignored.why


def test_table_leads_with_finding_system_category_management_rule() -> None:
    table = read(REPORT).table()
    header, _separator, *rows = table.splitlines()
    assert header == "| # | Finding | System | Category | Management | Rule |"
    assert len(rows) == 3
    assert "(dominant)" in rows[0] and "Managed with #1" in rows[1]
    assert render_table([]).count("\n") == 1


def test_branches_show_in_the_table_when_one_input_is_missing() -> None:
    reading = read("MRI prostate: 1.1 cm lesion in the left peripheral zone, DWI score 3.")
    (f,) = reading.findings
    assert f.category is None and f.missing == ["dce"]
    assert [(b.if_, b.category) for b in f.branches] == [
        ("dce = negative or not performed", "3"),
        ("dce = positive", "4"),
    ]
    assert "3 (if dce = negative or not performed); 4 if dce = positive" in reading.table()
    assert f.questions and f.questions[0].startswith("dce:")


def test_json_shape() -> None:
    data = read(REPORT).as_json()
    assert set(data) == {"findings", "ignored"}
    first = data["findings"][0]
    assert list(first)[:8] == [
        "system",
        "category",
        "management",
        "rule",
        "citation",
        "missing",
        "branches",
        "evidence",
    ]
    assert set(first["evidence"]) == {"text", "start", "end"}
    assert all(set(i) >= {"text", "why"} for i in data["ignored"])
    json.dumps(data)  # serialisable as is


# --- follow-ups -----------------------------------------------------------------------------------------


def test_followup_by_organ_recomputes_that_finding() -> None:
    reading = read(REPORT)
    redone = apply_followup(reading, "and if the adrenal one were 4 cm?", registry=REGISTRY)
    assert redone is not None and redone.number == 3
    assert redone.category == "≥4 cm" and redone.management == "Consider resection."
    assert redone.inputs["size_mm"] == 40.0 and redone.inputs["unenhanced_hu"] == 35.0
    assert redone.read_from["size_mm"].startswith("follow-up")


def test_followup_by_number() -> None:
    reading = read(REPORT)
    assert find_target(reading.findings, "what about #2?") is reading.findings[1]
    assert find_target(reading.findings, "and the second one?") is reading.findings[1]
    redone = apply_followup(reading, "and if number 2 were 9 mm?", registry=REGISTRY)
    assert redone is not None and redone.category == "solid, multiple, >8 mm, high risk"


def test_followup_that_fits_several_findings_names_none() -> None:
    reading = read(REPORT)
    assert find_target(reading.findings, "and if the nodule were 9 mm?") is None
    assert apply_followup(reading, "and if the nodule were 9 mm?", registry=REGISTRY) is None


def test_followup_names_one_of_several_nodules_by_its_location() -> None:
    reading = read("Screening LDCT, baseline. 9 mm solid nodule in the LLL. 3 mm solid nodule RML.")
    target = find_target(reading.findings, "and if the LLL nodule were 4 mm?")
    assert target is not None and target.number == 1
    assert find_target(reading.findings, "and if the nodule were 4 mm?") is None


def test_followup_fills_a_branch() -> None:
    reading = read("MRI prostate: 1.1 cm lesion in the left peripheral zone, DWI score 3.")
    redone = apply_followup(reading, "DCE is positive", registry=REGISTRY)
    assert redone is not None and redone.category == "4" and redone.branches == []


# --- the command ------------------------------------------------------------------------------------------


def _cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent", *args], capture_output=True, text=True, input=stdin, timeout=120
    )


def test_cli_findings_json_and_table(tmp_path) -> None:  # type: ignore[no-untyped-def]
    done = _cli("findings", "--text", REPORT, "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert [f["system"] for f in data["findings"]] == ["fleischner", "fleischner", "adrenal_incidentaloma"]
    report = tmp_path / "report.txt"
    report.write_text(REPORT, encoding="utf-8")
    done = _cli("findings", "--file", str(report))
    assert done.returncode == 0 and done.stdout.startswith("| # | Finding |")
    assert "Not classified:" in done.stdout


def test_cli_findings_bad_input_is_one_line() -> None:
    done = _cli("findings", "--file", "/nonexistent/report.txt")
    assert done.returncode == 2 and done.stderr.strip().count("\n") == 0
    assert "cannot read report file" in done.stderr
    done = _cli("findings", "--text", "   ")
    assert done.returncode == 2 and "empty" in done.stderr


def test_an_impression_that_restates_a_finding_is_not_counted_twice() -> None:
    text = (
        "FINDINGS: Left adrenal nodule measuring 2.2 cm, 35 HU on unenhanced images, no prior imaging, no history "
        "of cancer. IMPRESSION: 1. Indeterminate 2.2 cm left adrenal nodule. 2. New 6 mm solid nodule RUL, low risk."
    )
    reading = read(text)
    assert [f.system for f in reading.findings] == ["adrenal_incidentaloma", "fleischner"]
    assert any(i.why == "restates finding #1" for i in reading.ignored)


def test_a_second_lesion_of_the_same_organ_with_another_size_is_its_own_finding() -> None:
    reading = read(
        "Left renal cyst 1.2 cm, 8 HU on noncontrast CT. Right renal cyst 2.4 cm, 10 HU on noncontrast CT."
    )
    assert len(reading.findings) == 2


@pytest.mark.parametrize(
    "text",
    [
        "Cystic renal mass with an enhancing 6 mm mural nodule with obtuse margins. Bosniak class?",
        "Peripheral zone lesion 1.8 cm, DWI score 5. PI-RADS?",
    ],
)
def test_a_question_naming_only_the_system_is_no_second_finding(text: str) -> None:
    reading = read(text)
    assert len(reading.findings) == 1
    assert [i.why for i in reading.ignored] == ["restates finding #1"]


def test_a_renal_lesion_said_not_to_be_cystic_goes_to_the_renal_white_paper() -> None:
    (finding,) = read("Renal lesion, not cystic, 2.5 cm.").findings
    assert finding.system == "renal_incidentaloma"
