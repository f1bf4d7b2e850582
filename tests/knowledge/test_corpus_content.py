"""Content checks for the curated guideline corpus and its retrieval question set (no database).

Citation convention enforced here: the body of every corpus file is split into units separated by blank
lines; a list item is its own unit, and a table together with its caption (the paragraph right above it,
ending with a colon) is one unit. Every unit except the blockquoted header note must carry a parenthesised source
with a year, e.g. "(Fleischner 2017, Table 1, part A)", so every fact, and in particular every number, has its
source beside it. Key thresholds are cross-checked against the published tables as explicit assertions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CORPUS_DIR = ROOT / "tools" / "knowledge" / "corpus"
DATA = ROOT / "tests" / "data"
QUESTION_FILES = ("retrieval_questions.yaml", "guideline_questions.yaml")

EXPECTED_SYSTEMS: dict[str, str | None] = {
    "fleischner-2017": "fleischner",
    "lung-rads-v2022": "lung_rads",
    "ti-rads-2017": "ti_rads",
    "li-rads-v2018": "li_rads",
    "bi-rads-5th-edition": "bi_rads",
    "bosniak-2019": "bosniak",
    "pi-rads-v2-1": "pi_rads",
    "o-rads-us-v2022": "o_rads",
    "acr-adrenal-incidentaloma-2017": "adrenal_incidentaloma",
    "acr-renal-incidentaloma-2018": "renal_incidentaloma",
    "acr-thyroid-incidental-2015": "thyroid_incidental",
    "sru-gallbladder-polyps-2022": "gallbladder_polyp",
    "acr-pancreatic-cyst-2017": "pancreatic_cyst",
    "contrast-reactions": None,
    "contrast-renal-impairment": None,
    "mri-safety": None,
    "mri-implants": None,
    "contrast-extravasation": None,
    "pregnancy-lactation-imaging": None,
    "ct-dose-reference-levels": None,
    "gadolinium-retention": None,
}
REQUIRED_KEYS = {"title", "society", "year", "version", "url", "licence"}
OPTIONAL_VALUES: dict[str, set[str]] = {
    "system": {s for s in EXPECTED_SYSTEMS.values() if s},
    "body_region": {"chest", "neuro", "head_neck", "abdomen", "breast", "msk", "pelvis", "general"},
    "modality": {"CT", "MRI", "US", "MG", "XR", "multi"},
}
CITATION = re.compile(r"\([^()]*(?<!\d)(?:19|20)\d{2}(?!\d)[^()]*\)")
HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*$")
LIST_ITEM = re.compile(r"^(?:[-*+]|\d+\.)\s+")


@dataclass(frozen=True)
class Section:
    level: int
    heading: str
    text: str


@dataclass(frozen=True)
class Document:
    slug: str
    meta: dict[str, object]
    title: str
    preamble: str
    sections: tuple[Section, ...]

    def section(self, heading: str) -> str:
        matches = [s.text for s in self.sections if s.heading == heading]
        assert len(matches) == 1, f"{self.slug}: expected one section {heading!r}, found {len(matches)}"
        return matches[0]


def _parse(path: Path) -> Document:
    raw = path.read_text(encoding="utf-8")
    assert raw.startswith("---\n"), f"{path.name}: missing YAML front matter"
    front, sep, body = raw[4:].partition("\n---\n")
    assert sep, f"{path.name}: front matter is not closed"
    meta = yaml.safe_load(front)
    assert isinstance(meta, dict), f"{path.name}: front matter is not a mapping"

    titles: list[str] = []
    preamble: list[str] = []
    sections: list[tuple[int, str, list[str]]] = []
    for line in body.splitlines():
        match = HEADING.match(line)
        if match and len(match.group(1)) == 1:
            titles.append(match.group(2))
        elif match:
            sections.append((len(match.group(1)), match.group(2), []))
        elif sections:
            sections[-1][2].append(line)
        else:
            preamble.append(line)
    assert len(titles) == 1, f"{path.name}: expected exactly one '# ' title, found {len(titles)}"
    return Document(
        slug=path.stem,
        meta=meta,
        title=titles[0],
        preamble="\n".join(preamble).strip(),
        sections=tuple(
            Section(level, heading, "\n".join(lines).strip()) for level, heading, lines in sections
        ),
    )


@cache
def corpus() -> dict[str, Document]:
    return {path.stem: _parse(path) for path in sorted(CORPUS_DIR.glob("*.md"))}


def load_yaml_list(name: str) -> list[dict[str, str]]:
    data = yaml.safe_load((DATA / name).read_text(encoding="utf-8"))
    assert isinstance(data, list), f"{name}: the question set must be a YAML list"
    return data


@cache
def questions() -> list[dict[str, str]]:
    """Every answerable question, from both files."""
    return [entry for name in QUESTION_FILES for entry in load_yaml_list(name)]


def units(text: str) -> list[str]:
    """Split section text into citation units: paragraphs, single list items, captioned tables.

    A table's caption is the paragraph right before it when that paragraph ends with a colon.
    """
    result: list[str] = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = [line for line in block.splitlines() if line.strip()]
        if not lines:
            continue
        if any(line.lstrip().startswith("|") for line in lines):
            if result and result[-1].rstrip().endswith(":") and not LIST_ITEM.match(result[-1]):
                result[-1] = result[-1] + "\n" + "\n".join(lines)
            else:
                result.append("\n".join(lines))
            continue
        current: list[str] = []
        for line in lines:
            if LIST_ITEM.match(line) and current:
                result.append("\n".join(current))
                current = []
            current.append(line)
        result.append("\n".join(current))
    return result


def table_rows(text: str) -> list[list[str]]:
    """Cells of every Markdown table row in the text, separator rows excluded."""
    rows = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("|") and not re.fullmatch(r"\|[\s:|-]+\|", stripped):
            rows.append([cell.strip() for cell in stripped.strip("|").split("|")])
    return rows


def row(text: str, *first_cells: str) -> list[str]:
    """The single table row whose leading cells equal first_cells."""
    n = len(first_cells)
    matches = [r for r in table_rows(text) if tuple(r[:n]) == first_cells]
    assert len(matches) == 1, f"expected one row starting {first_cells}, found {len(matches)}"
    return matches[0]


def flat(text: str) -> str:
    return " ".join(text.split())


DOC_IDS = sorted(EXPECTED_SYSTEMS)


# --- structure -------------------------------------------------------------------------------------------


def test_corpus_has_exactly_the_expected_files() -> None:
    assert sorted(corpus()) == DOC_IDS


@pytest.mark.parametrize("slug", DOC_IDS)
def test_front_matter_keys_and_values(slug: str) -> None:
    doc = corpus()[slug]
    meta = doc.meta
    missing = REQUIRED_KEYS - meta.keys()
    assert not missing, f"{slug}: missing front matter keys {sorted(missing)}"
    unknown = meta.keys() - REQUIRED_KEYS - OPTIONAL_VALUES.keys()
    assert not unknown, f"{slug}: unknown front matter keys {sorted(unknown)}"
    for key in ("title", "society", "version", "licence"):
        assert isinstance(meta[key], str) and meta[key].strip(), f"{slug}: {key} must be a non-empty string"
    assert isinstance(meta["year"], int) and 1990 <= meta["year"] <= 2030, f"{slug}: year {meta['year']!r}"
    assert isinstance(meta["url"], str) and re.fullmatch(r"https://\S+", meta["url"]), f"{slug}: url"
    for key, allowed in OPTIONAL_VALUES.items():
        if key in meta:
            assert meta[key] in allowed, f"{slug}: {key}={meta[key]!r} not in {sorted(allowed)}"
    assert meta.get("system") == EXPECTED_SYSTEMS[slug]
    assert doc.title == meta["title"], f"{slug}: '# ' title differs from front matter title"


@pytest.mark.parametrize("slug", DOC_IDS)
def test_header_note_says_summary_does_not_replace_guideline(slug: str) -> None:
    note = flat(corpus()[slug].preamble).lower()
    assert note.startswith(">"), f"{slug}: header note must be a blockquote right under the title"
    assert "project-written summary" in note
    assert "does not replace" in note


@pytest.mark.parametrize("slug", DOC_IDS)
def test_sections_are_non_empty_unique_and_at_least_three(slug: str) -> None:
    sections = corpus()[slug].sections
    assert len(sections) >= 3, f"{slug}: only {len(sections)} sections"
    empty = [s.heading for s in sections if not s.text]
    assert not empty, f"{slug}: empty sections {empty} (the retriever chunks by heading)"
    headings = [s.heading for s in sections]
    assert len(headings) == len(set(headings)), f"{slug}: duplicate headings"


@pytest.mark.parametrize("slug", DOC_IDS)
def test_every_paragraph_list_item_and_table_cites_its_source(slug: str) -> None:
    uncited = [
        f"[{section.heading}] {flat(unit)[:90]}"
        for section in corpus()[slug].sections
        for unit in units(section.text)
        if not CITATION.search(flat(unit))
    ]
    assert not uncited, f"{slug}: units without a '(... 20NN ...)' citation:\n" + "\n".join(uncited)


def test_units_splits_list_items_and_keeps_captions_with_tables() -> None:
    text = "Intro (X 2017).\n\n- one (X 2017)\n- two\n  continued\n\nCaption (X 2017):\n\n| a | b |\n|---|---|\n| 1 | 2 |"
    assert units(text) == [
        "Intro (X 2017).",
        "- one (X 2017)",
        "- two\n  continued",
        "Caption (X 2017):\n| a | b |\n|---|---|\n| 1 | 2 |",
    ]
    assert units("Not a caption (X 2017).\n\n| a |\n|---|\n| 1 |") == [
        "Not a caption (X 2017).",
        "| a |\n|---|\n| 1 |",
    ]
    assert not CITATION.search("Size 6 mm (6-8 mm band)")
    assert CITATION.search("(Lung-RADS v2022, table)")


# --- question set ----------------------------------------------------------------------------------------


def test_question_set_size_and_shape() -> None:
    general, guideline = (load_yaml_list(name) for name in QUESTION_FILES)
    assert len(general) >= 48
    assert len(guideline) >= 100, "at least 100 questions that no classification tool answers"
    for entries, keys in (
        (general, {"question", "source", "section"}),
        (guideline, {"question", "source", "section", "key"}),
    ):
        for entry in entries:
            assert isinstance(entry, dict) and set(entry) == keys, entry
            assert all(isinstance(v, str) and v.strip() for v in entry.values()), entry
            assert entry["question"].rstrip().endswith("?"), entry


def test_every_key_phrase_is_in_the_section_that_answers() -> None:
    docs = corpus()
    for entry in load_yaml_list("guideline_questions.yaml"):
        text = flat(docs[entry["source"]].section(entry["section"])).casefold()
        assert flat(entry["key"]).casefold() in text, (
            f"{entry['source']} / {entry['section']}: {entry['key']!r}"
        )


def test_unanswerable_questions_cover_the_kinds_asked_for() -> None:
    entries = load_yaml_list("unanswerable_questions.yaml")
    assert len(entries) >= 30
    assert all(set(e) == {"question", "kind"} and e["question"].strip() for e in entries), entries
    kinds = [e["kind"] for e in entries]
    assert set(kinds) <= {"nonsense", "specialty", "billing", "radiology", "general"}
    assert min(kinds.count(k) for k in ("nonsense", "specialty", "billing")) >= 5
    answerable = {flat(e["question"]).casefold() for e in questions()}
    assert not answerable & {flat(e["question"]).casefold() for e in entries}


def test_every_question_points_at_an_existing_section() -> None:
    docs = corpus()
    for entry in questions():
        assert entry["source"] in docs, f"unknown source {entry['source']!r}"
        headings = {s.heading for s in docs[entry["source"]].sections}
        assert entry["section"] in headings, f"{entry['source']}: no section {entry['section']!r}"


def test_at_least_three_questions_per_file() -> None:
    counts = {slug: 0 for slug in DOC_IDS}
    for entry in questions():
        counts[entry["source"]] += 1
    assert all(n >= 3 for n in counts.values()), counts


def test_no_duplicate_questions() -> None:
    normalised = [flat(entry["question"]).casefold() for entry in questions()]
    duplicates = {q for q in normalised if normalised.count(q) > 1}
    assert not duplicates, duplicates


def test_questions_paraphrase_rather_than_copy_multiword_headings() -> None:
    copied = [
        entry["question"]
        for entry in questions()
        if len(entry["section"].split()) > 1 and entry["section"].casefold() in entry["question"].casefold()
    ]
    assert not copied, copied


# --- key thresholds cross-checked against the published tables ------------------------------------------


def test_fleischner_measurement_and_scope() -> None:
    doc = corpus()["fleischner-2017"]
    measuring = flat(doc.section("Measuring nodule size"))
    assert "average of the long-axis and short-axis diameters" in measuring
    assert "rounded to the nearest millimetre" in measuring
    assert "5.5 mm becomes 6 mm" in measuring and "8.6 mm becomes 9 mm" in measuring
    assert "8.5 mm becomes 9 mm" in measuring  # project convention: half up
    assert "35 years or older" in flat(doc.section("Applicability and scope"))


def test_fleischner_solid_tables() -> None:
    doc = corpus()["fleischner-2017"]
    single = doc.section("Single solid nodule")
    assert row(single, "Low") == [
        "Low",
        "No routine follow-up",
        "CT at 6–12 months, then consider CT at 18–24 months",
        "Consider CT at 3 months, PET/CT or tissue sampling",
    ]
    assert row(single, "High")[1:3] == [
        "Optional CT at 12 months",
        "CT at 6–12 months, then CT at 18–24 months",
    ]
    multiple = doc.section("Multiple solid nodules")
    assert row(multiple, "Low")[2] == "CT at 3–6 months, then consider CT at 18–24 months"
    assert row(multiple, "High")[2:] == ["CT at 3–6 months, then CT at 18–24 months"] * 2


def test_fleischner_subsolid_rules() -> None:
    doc = corpus()["fleischner-2017"]
    ggn = flat(doc.section("Pure ground-glass nodule"))
    assert "CT at 6–12 months to confirm persistence, then CT every 2 years until 5 years" in ggn
    part_solid = flat(doc.section("Part-solid nodule"))
    assert "CT at 3–6 months to confirm persistence" in part_solid
    assert "annual CT for 5 years" in part_solid
    assert "solid component larger than 8 mm" in part_solid
    multiple = flat(doc.section("Multiple subsolid nodules"))
    assert "under 6 mm: CT at 3–6 months; if stable, consider CT at 2 and 4 years" in multiple


def test_lung_rads_growth_and_size_bands() -> None:
    doc = corpus()["lung-rads-v2022"]
    growth = flat(doc.section("Growth definition"))
    assert "more than 1.5 mm within a 12-month interval" in growth
    assert "exactly 1.5 mm is not growth" in growth
    assert "one decimal place" in flat(doc.section("Measuring nodules"))
    solid = doc.section("Solid nodule categories")
    assert row(solid, "2") == ["2", "<6 mm", "<4 mm", "—"]
    assert row(solid, "3") == ["3", "6 to <8 mm", "4 to <6 mm", "—"]
    assert row(solid, "4A") == ["4A", "8 to <15 mm", "6 to <8 mm", "<8 mm"]
    assert row(solid, "4B")[:3] == ["4B", "≥15 mm", "≥8 mm"]
    assert "<10 mm" in flat(doc.section("Juxtapleural and perifissural nodules"))


def test_lung_rads_management_and_risk() -> None:
    table = corpus()["lung-rads-v2022"].section("Management and risk by category")
    assert row(table, "3")[1:] == ["Low-dose CT in 6 months", "1–2%"]
    assert row(table, "4A")[1].startswith("Low-dose CT in 3 months") and row(table, "4A")[2] == "5–15%"
    assert row(table, "4B")[2] == ">15%" and row(table, "4X")[2] == ">15%"
    assert row(table, "2")[2] == "<1%"


def test_ti_rads_levels_and_thresholds() -> None:
    doc = corpus()["ti-rads-2017"]
    levels = doc.section("Levels, FNA and follow-up thresholds")
    assert row(levels, "TR3")[1:] == ["3", "Mildly suspicious", "≥2.5 cm", "≥1.5 cm"]
    assert row(levels, "TR4")[1:] == ["4–6", "Moderately suspicious", "≥1.5 cm", "≥1.0 cm"]
    assert row(levels, "TR5")[1:] == ["≥7", "Highly suspicious", "≥1.0 cm", "≥0.5 cm"]
    schedule = doc.section("Follow-up schedule")
    assert row(schedule, "TR3") == ["TR3", "At 1, 3 and 5 years"]
    assert row(schedule, "TR4") == ["TR4", "At 1, 2, 3 and 5 years"]
    points = doc.section("Points for each feature")
    assert "punctate echogenic foci 3" in row(points, "Echogenic foci (additive)")[1]
    assert "taller-than-wide 3" in row(points, "Shape (transverse image)")[1]


def test_li_rads_threshold_growth_and_table() -> None:
    doc = corpus()["li-rads-v2018"]
    assert "50% or more within 6 months or less" in flat(doc.section("Threshold growth"))
    table = doc.section("Diagnostic table")
    assert row(table, "Nonrim APHE", "10–19 mm")[2:] == [
        "LR-3",
        "LR-4 if capsule only; LR-5 if washout or threshold growth",
        "LR-5",
    ]
    assert row(table, "Nonrim APHE", "≥20 mm")[2:] == ["LR-4", "LR-5", "LR-5"]
    assert row(table, "No APHE", "<20 mm")[2:] == ["LR-3", "LR-3", "LR-4"]
    assert "up to LR-4 but never to LR-5" in flat(doc.section("Ancillary features"))


def test_bi_rads_likelihood_boundaries() -> None:
    doc = corpus()["bi-rads-5th-edition"]
    categories = doc.section("Assessment categories")
    assert row(categories, "3")[3] == ">0% but ≤2%"
    assert row(categories, "4")[3] == ">2% but <95%"
    assert row(categories, "5")[3] == "≥95%"
    subcategories = doc.section("Category 4 subcategories")
    assert row(subcategories, "4A")[2] == ">2% to ≤10%"
    assert row(subcategories, "4B")[2] == ">10% to ≤50%"
    assert row(subcategories, "4C")[2] == ">50% to <95%"


def test_bosniak_definitions_and_class_ii() -> None:
    doc = corpus()["bosniak-2019"]
    definitions = doc.section("Wall, septum and nodule definitions")
    assert row(definitions, "Thin")[1] == "≤2 mm"
    assert row(definitions, "Minimally thickened")[1] == "3 mm"
    assert row(definitions, "Thick")[1] == "≥4 mm"
    class_ii = flat(doc.section("Class II at CT"))
    for phrase in (
        "70 HU or more at unenhanced CT",
        "−9 to 20 HU at unenhanced CT",
        "21–30 HU at portal venous",
    ):
        assert phrase in class_ii
    assert "less than 25% enhancing tissue" in flat(doc.section("Applicability and scope"))
    assert "20 HU or more" in flat(doc.section("Detecting enhancement"))


def test_pi_rads_transition_zone_rules() -> None:
    table = corpus()["pi-rads-v2-1"].section("Overall category in the transition zone")
    assert row(table, "1", "Any")[2] == "1"
    assert row(table, "2", "≤3")[2] == "2"
    assert row(table, "2", "≥4")[2] == "3"
    assert row(table, "3", "≤4")[2] == "3"
    assert row(table, "3", "5")[2] == "4"
    dwi = corpus()["pi-rads-v2-1"].section("Diffusion-weighted imaging score")
    assert "<1.5 cm" in row(dwi, "4")[1] and "≥1.5 cm" in row(dwi, "5")[1]


def test_o_rads_ten_centimetre_boundary_and_lexicon() -> None:
    doc = corpus()["o-rads-us-v2022"]
    assert "smaller than 10 cm" in flat(doc.section("O-RADS 2: almost certainly benign"))
    assert "measuring 10 cm or more" in flat(doc.section("O-RADS 3: low risk"))
    assert "exactly 10 cm is O-RADS 3" in flat(doc.section("Common pitfalls"))
    lexicon = doc.section("Lexicon definitions")
    assert "3 mm or more" in row(lexicon, "Solid component")[1]
    assert "80% or more" in row(lexicon, "Solid lesion")[1]
    assert "4 or more papillary projections" in flat(doc.section("O-RADS 5: high risk"))


def test_adrenal_thresholds() -> None:
    doc = corpus()["acr-adrenal-incidentaloma-2017"]
    washout = flat(doc.section("Washout calculation"))
    assert "(E − D) / (E − U) × 100; a value of 60% or more" in washout
    assert "(E − D) / E × 100" in washout and "40% or more" in washout
    assert "10 HU or less" in flat(doc.section("Benign diagnostic features"))
    assert "smaller than 1 cm needs no further" in flat(doc.section("Masses smaller than 1 cm"))


def test_renal_enhancement_and_attenuation() -> None:
    doc = corpus()["acr-renal-incidentaloma-2018"]
    table = doc.section("Enhancement on CT")
    assert row(table, "≥20 HU")[1] == "Enhancement"
    assert row(table, ">10 HU to <20 HU")[1] == "Equivocal"
    assert row(table, "≤10 HU")[1] == "No enhancement"
    attenuation = flat(doc.section("Homogeneous masses at unenhanced CT"))
    assert "−10 to 20 HU" in attenuation and "70 HU or more" in attenuation and "21–69 HU" in attenuation


def test_contrast_kidney_thresholds() -> None:
    doc = corpus()["contrast-renal-impairment"]
    prophylaxis = flat(doc.section("Intravenous saline prophylaxis"))
    assert "AKI or eGFR below 30 mL/min/1.73 m² who are not on maintenance dialysis" in prophylaxis
    assert "eGFR 30–44 mL/min/1.73 m², prophylaxis may be considered" in prophylaxis
    assert "stable eGFR of 45 mL/min/1.73 m² or more" in prophylaxis
    groups = doc.section("Gadolinium agents: ACR groups")
    assert "Gadodiamide" in row(groups, "Group I")[2]
    assert "Gadobutrol" not in row(groups, "Group I")[2]
    assert "gadobutrol" in row(groups, "Group II")[2]
