"""Unit tests of agent/verify.py: splitting a draft into claims, reading categories, intervals and sizes,
and checking each claim against tool results and passages (entailment combined, revision threshold)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import pytest
from pydantic import BaseModel

from agent.answer import claim_with_citation
from agent.verify import (
    MIN_SUPPORTED_RATIO,
    Evidence,
    categories,
    check_claim,
    finished_part,
    intervals,
    kept_text,
    sizes_mm,
    split_claims,
    supporting_sentences,
    verify,
)
from tools.classify.base import ClassificationResult
from tools.registry import CategorySpelling, ToolRegistry, load_tools, tool

# --- evidence in the shape the graph builds it (tool result dicts, passage texts) -------------------

FLEISCHNER = {
    "system": "fleischner",
    "guideline": "Fleischner Society 2017",
    "category": "solid, single, 6-8 mm, high risk",
    "management": "CT at 6-12 months, then CT at 18-24 months",
    "rationale": ["Size: single diameter 7 mm, rounded half up to the nearest mm = 7 mm (Bankier 2017)."],
    "inputs": {"nodule_type": "solid", "risk": "high", "size_mm": 7},
}
TI_RADS_TR3 = {
    "system": "ti_rads",
    "guideline": "ACR TI-RADS 2017",
    "category": "TR3",
    "management": "No FNA; follow-up ultrasound at 1, 3 and 5 years (2 cm is >= 1.5 cm and < 2.5 cm)",
    "risk": "4.8%",
    "rationale": [
        "Points: composition 2, echogenicity 1; total 3.",
        "Total 3 point(s) -> TR3 (Mildly suspicious).",
    ],
    "inputs": {"max_diameter_mm": 20.0},
}
LI_RADS_LR_M = {
    "system": "li_rads",
    "guideline": "LI-RADS v2018",
    "category": "LR-M",
    "management": "Multidisciplinary discussion for tailored work-up, often including biopsy.",
    "rationale": ["Rim APHE: targetoid mass -> LR-M."],
    "inputs": {"aphe": "rim", "size_mm": 30.0},
}
SINGLE_SOLID = (
    "Management of a single solid nodule by rounded mean diameter and risk (Fleischner 2017, Table 1): "
    "high risk, 6-8 mm: CT at 6-12 months, then CT at 18-24 months; >8 mm: consider CT at 3 months, "
    "PET/CT or tissue sampling."
)
MULTIPLE_SOLID = (
    "Management when several solid nodules are present (Fleischner 2017, Table 1): CT at 3-6 months, then CT "
    "at 18-24 months."
)
TI_RADS_LEVELS = (
    "TI-RADS levels (ACR TI-RADS 2017): TR3 mildly suspicious, FNA if 2.5 cm or more, follow-up if 1.5 cm or "
    "more; TR4 moderately suspicious, FNA if 1.5 cm or more; TR5 highly suspicious, FNA if 1 cm or more."
)
LI_RADS_TABLE = (
    "Diagnostic table (LI-RADS v2018): nonrim APHE, 10-19 mm, washout: LR-5; nonrim APHE, 20 mm or more, "
    "washout or capsule: LR-5; no APHE, under 20 mm: LR-3."
)
RENAL_HOMOGENEOUS = (
    "A homogeneous renal mass of -10 to 20 HU at unenhanced CT is a simple cyst; both simple and hyperdense cysts "
    "are benign and need no follow-up (ACR renal white paper 2018)."
)


SPELLINGS = load_tools().category_spellings()


def evidence(*tool_results: dict[str, Any], passages: tuple[str, ...] = ()) -> Evidence:
    return Evidence(tool_results=list(tool_results), passages=list(passages), spellings=SPELLINGS)


async def all_yes(claims: list[str], passages: list[str]) -> list[bool]:
    return [True] * len(claims)


# --- splitting a draft into claims ---------------------------------------------------------------


def test_sentences_split_on_terminal_punctuation_followed_by_a_capital_or_digit() -> None:
    draft = "The nodule is solid and single. CT at 6-12 months is advised. 18-24 months for the second CT."
    assert split_claims(draft) == [
        "The nodule is solid and single.",
        "CT at 6-12 months is advised.",
        "18-24 months for the second CT.",
    ]


def test_decimals_do_not_split() -> None:
    assert split_claims("The nodule measures 1.5 cm on the axial image. FNA is advised at this size.") == [
        "The nodule measures 1.5 cm on the axial image.",
        "FNA is advised at this size.",
    ]


def test_bullets_numbered_items_and_lines_are_claims_without_their_markers() -> None:
    draft = "- CT at 6-12 months [1]\n* then CT at 18-24 months [1]\n• PET/CT if it grows\n1. Solid nodule here\n2) High risk patient"
    assert split_claims(draft) == [
        "CT at 6-12 months [1]",
        "then CT at 18-24 months [1]",
        "PET/CT if it grows",
        "Solid nodule here",
        "High risk patient",
    ]


def test_fragments_without_content_or_numbers_are_not_claims() -> None:
    assert split_claims("Yes. Indeed! The solid nodule needs CT.") == ["The solid nodule needs CT."]
    assert split_claims("") == []


@pytest.mark.parametrize(
    ("draft", "expected"),
    [
        (
            "The nodule measures approx. 7 mm on the axial image. Follow-up CT is advised.",
            ["The nodule measures approx. 7 mm on the axial image.", "Follow-up CT is advised."],
        ),
        (
            "Use MRI vs. CT depending on renal function. Both are acceptable here.",
            ["Use MRI vs. CT depending on renal function.", "Both are acceptable here."],
        ),
        (
            "Classic benign lesions, e.g. a dermoid cyst, are O-RADS 2. Follow-up depends on size.",
            ["Classic benign lesions, e.g. a dermoid cyst, are O-RADS 2.", "Follow-up depends on size."],
        ),
    ],
    ids=["approx", "vs", "e.g."],
)
def test_abbreviations_do_not_end_a_claim(draft: str, expected: list[str]) -> None:
    assert split_claims(draft) == expected


def test_a_citation_after_the_full_stop_stays_with_its_sentence() -> None:
    """Models often write 'sentence. [1]': the citation must not start the next claim or be a claim alone."""
    claims = split_claims("Management is CT at 6-12 months. [1] The risk is high in smokers. [2]")
    assert claims == ["Management is CT at 6-12 months. [1]", "The risk is high in smokers. [2]"]


# --- reading categories, intervals and sizes ------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "system", "category"),
    [
        ("Lung-RADS 4A", "lung_rads", "4A"),
        ("Lung-RADS 4X", "lung_rads", "4X"),
        ("Lung-RADS category 4B", "lung_rads", "4B"),
        ("LungRADS 2", "lung_rads", "2"),
        ("Lung-RADS v2022 category 3", "lung_rads", "3"),
        ("TR3", "ti_rads", "TR3"),
        ("TR 5", "ti_rads", "TR5"),
        ("TI-RADS 4", "ti_rads", "TR4"),
        ("TI-RADS level 3", "ti_rads", "TR3"),
        ("TI-RADS category TR2", "ti_rads", "TR2"),
        ("LR-5", "li_rads", "LR-5"),
        ("LR5", "li_rads", "LR-5"),
        ("LR-M", "li_rads", "LR-M"),
        ("LR-TIV", "li_rads", "LR-TIV"),
        ("LR-NC", "li_rads", "LR-NC"),
        ("LI-RADS 5", "li_rads", "LR-5"),
        ("LI-RADS category 4", "li_rads", "LR-4"),
        ("Bosniak IIF", "bosniak", "IIF"),
        ("bosniak iif", "bosniak", "IIF"),
        ("Bosniak 2F", "bosniak", "IIF"),
        ("Bosniak II-F", "bosniak", "IIF"),
        ("Bosniak class III", "bosniak", "III"),
        ("Bosniak 4", "bosniak", "IV"),
        ("Bosniak category I", "bosniak", "I"),
        ("PI-RADS 4", "pi_rads", "4"),
        ("PIRADS 3", "pi_rads", "3"),
        ("PI-RADS v2.1 category 4", "pi_rads", "4"),
        ("PI-RADS score 5", "pi_rads", "5"),
        ("BI-RADS 4B", "bi_rads", "4B"),
        ("BI-RADS 4b", "bi_rads", "4B"),
        ("BI-RADS category 4", "bi_rads", "4"),
        ("BIRADS 0", "bi_rads", "0"),
        ("BI-RADS 6", "bi_rads", "6"),
        ("O-RADS 3", "o_rads", "3"),
        ("O-RADS 0", "o_rads", "0"),
        ("O-RADS US 4", "o_rads", "4"),
        ("O-RADS US category 5", "o_rads", "5"),
    ],
)
def test_category_spellings_are_normalised_to_the_tool_spelling(
    text: str, system: str, category: str
) -> None:
    assert categories(f"This finding is {text} on review.", SPELLINGS) == {system: {category}}


@pytest.mark.parametrize(
    "text",
    ["Lung-RADS v2022", "ACR TI-RADS 2017", "LI-RADS v2018", "Bosniak 2019", "PI-RADS v2.1", "BI-RADS 5th edition",
     "O-RADS US v2022", "a T2 lesion", "LR scan"],
)  # fmt: skip
def test_versions_and_years_are_not_read_as_categories(text: str) -> None:
    assert categories(text, SPELLINGS) == {}


def test_several_categories_in_one_claim_are_all_read() -> None:
    assert categories("Not TR3 but TR4; BI-RADS 4A, not BI-RADS 4B.", SPELLINGS) == {
        "ti_rads": {"TR3", "TR4"},
        "bi_rads": {"4A", "4B"},
    }


def test_systems_are_listed_in_the_order_the_claim_names_them() -> None:
    assert list(categories("BI-RADS 3, Lung-RADS 2 and TR4", SPELLINGS)) == [
        "bi_rads",
        "lung_rads",
        "ti_rads",
    ]


def test_a_computed_category_is_checked_before_the_others() -> None:
    claim = check_claim("BI-RADS 3, but really TR5.", evidence(TI_RADS_TR3))
    assert claim.status == "contradicted"
    assert claim.reasons == ["ti_rads category TR5 but the tool computed TR3"]


class WidgetInput(BaseModel):
    size_mm: float


def test_a_system_declared_through_the_registry_is_checked_without_editing_verify() -> None:
    """The door: a tool's own CategorySpelling is all verification needs to read its categories."""
    registry = ToolRegistry()

    @tool(name="widget_rads", description="demo", version="demo 1", kind="classification", registry=registry,
          categories=CategorySpelling(r"\bwidget-?rads\s*(W?[1-3])\b", lambda c: c if c.startswith("W") else f"W{c}"))  # fmt: skip
    def widget(inp: WidgetInput) -> ClassificationResult:
        return ClassificationResult(system="widget_rads", guideline="demo", category="W3", citation="demo")

    computed = {"system": "widget_rads", "guideline": "demo", "category": "W3", "management": "none"}
    spellings = registry.category_spellings()
    assert categories("Widget-RADS 2 here", spellings) == {"widget_rads": {"W2"}}
    wrong = check_claim("This is Widget-RADS W2.", Evidence([computed], [], spellings))
    assert (wrong.status, wrong.reasons) == (
        "contradicted",
        ["widget_rads category W2 but the tool computed W3"],
    )
    right = check_claim("This is Widget-RADS 3.", Evidence([computed], [], spellings))
    assert right.status == "supported" and right.evidence == ["widget_rads tool: W3"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("CT at 6-12 months", {"6-12 month"}),
        ("CT at 6–12 mo", {"6-12 month"}),
        ("CT at 6 to 12 months", {"6-12 month"}),
        ("then 18-24 months", {"18-24 month"}),
        ("every 2 years", {"2 year"}),
        ("in 1 year", {"1 year"}),
        ("after 5 yrs", {"5 year"}),
        ("within 3 weeks", {"3 week"}),
        ("CT at 3-6 months, then 18-24 months", {"3-6 month", "18-24 month"}),
        ("annually", {"1 year"}),
        ("annual CT", {"1 year"}),
        ("a 12-month adrenal CT", {"12 month"}),
        ("short-interval 6-month follow-up", {"6 month"}),
    ],
)
def test_intervals_are_normalised(text: str, expected: set[str]) -> None:
    assert intervals(text) == expected


def test_text_without_an_interval_has_none() -> None:
    assert intervals("No routine follow-up; 7 mm solid nodule, 35% risk") == set()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a 7 mm nodule", {7.0}),
        ("10mm", {10.0}),
        ("a 1.2 cm nodule", {12.0}),
        ("0.5 cm", {5.0}),
        ("2.0cm", {20.0}),
        ("FNA at >=1.5 cm, follow-up at ≥1 cm", {15.0, 10.0}),
        ("between 4 mm and 0.6 cm", {4.0, 6.0}),
    ],
)
def test_sizes_are_read_in_mm_and_cm_is_converted(text: str, expected: set[float]) -> None:
    assert sizes_mm(text) == expected


def test_numbers_without_a_unit_or_other_units_are_not_sizes() -> None:
    assert sizes_mm("TR5, 35% risk, 25 HU, 12 months, 3 points") == set()


# --- checking one claim ---------------------------------------------------------------------------


def test_the_tool_category_is_supported_without_a_passage() -> None:
    claim = check_claim("The nodule is TR3, mildly suspicious.", evidence(TI_RADS_TR3))
    assert claim.status == "supported"
    assert "category" in claim.kinds
    assert claim.evidence == ["ti_rads tool: TR3"]


def test_a_different_category_than_the_tool_is_contradicted() -> None:
    claim = check_claim("The nodule is TR4.", evidence(TI_RADS_TR3))
    assert claim.status == "contradicted"
    assert claim.reasons == ["ti_rads category TR4 but the tool computed TR3"]


def test_a_wrong_category_is_contradicted_even_when_a_passage_table_lists_it() -> None:
    """Table passages list every category; that must not make a wrong category for *this* finding pass."""
    ev = evidence(TI_RADS_TR3, passages=(TI_RADS_LEVELS,))
    claim = check_claim("This nodule is TR4, moderately suspicious [1].", ev)
    assert claim.status == "contradicted", (claim.reasons, claim.evidence)
    ev = evidence(LI_RADS_LR_M, passages=(LI_RADS_TABLE,))
    claim = check_claim("With nonrim APHE and washout at 30 mm this is LR-5 [1].", ev)
    assert claim.status == "contradicted", (claim.reasons, claim.evidence)


def test_a_category_without_a_tool_result_needs_a_passage_that_states_it() -> None:
    claim = check_claim("It is a Bosniak IIF cyst.", evidence())
    assert claim.status == "unsupported"
    assert claim.reasons == ["bosniak category stated but no bosniak tool result or passage supports it"]
    # A passage about renal cysts that never mentions class IIF does not support "Bosniak IIF".
    claim = check_claim(
        "This renal mass is a Bosniak IIF cyst and needs follow-up [1].",
        evidence(passages=(RENAL_HOMOGENEOUS,)),
    )
    assert claim.status == "unsupported", (claim.reasons, claim.evidence)


def test_the_tool_interval_is_supported() -> None:
    claim = check_claim("CT at 6–12 months, then CT at 18 to 24 months.", evidence(FLEISCHNER))
    assert claim.status == "supported"
    assert claim.kinds == ["interval", "interval"]
    assert sorted(claim.evidence) == [
        "interval 18-24 month in tool management",
        "interval 6-12 month in tool management",
    ]


def test_an_interval_that_differs_from_the_tool_is_contradicted() -> None:
    claim = check_claim("CT at 3-6 months is needed.", evidence(FLEISCHNER, passages=(SINGLE_SOLID,)))
    assert claim.status == "contradicted"
    assert claim.reasons == ["interval '3-6 month' is not in the tool result or a supporting passage"]


def test_an_interval_without_tool_intervals_or_passage_is_unsupported() -> None:
    claim = check_claim("Repeat the ultrasound in 6 months.", evidence(TI_RADS_TR3 | {"management": "FNA"}))
    assert claim.status == "unsupported"
    assert "interval '6 month'" in claim.reasons[0]


def test_an_interval_stated_by_a_supporting_passage_is_accepted() -> None:
    ev = evidence(passages=(MULTIPLE_SOLID,))
    claim = check_claim("When several solid nodules are present, CT at 3-6 months [1].", ev)
    assert claim.status == "supported"
    assert "interval 3-6 month in passage" in claim.evidence


def test_a_schedule_that_differs_from_the_tool_schedule_is_contradicted() -> None:
    """The TR4 schedule (1, 2, 3 and 5 years) given for a TR3 nodule (1, 3 and 5 years): a peer's mistake."""
    claim = check_claim("Follow-up ultrasound at 1, 2, 3 and 5 years.", evidence(TI_RADS_TR3))
    assert claim.status == "contradicted", (claim.reasons, claim.evidence)


def test_a_size_in_the_evidence_is_accepted_and_an_invented_one_is_not() -> None:
    ev = evidence(TI_RADS_TR3, passages=(TI_RADS_LEVELS,))
    assert check_claim("TR3 nodules of 2.5 cm or more get FNA [1].", ev).status == "supported"
    claim = check_claim("TR3 nodules of 2.2 cm or more get FNA [1].", ev)
    assert claim.status == "unsupported"
    assert claim.reasons == ["size 22 mm appears in no tool result or passage"]


def test_a_number_absent_from_the_evidence_is_unsupported() -> None:
    claim = check_claim("The malignancy risk of TR3 is about 12%.", evidence(TI_RADS_TR3))
    assert claim.status == "unsupported"
    assert claim.reasons == ["number(s) 12 not in the evidence"]


def test_citation_numbers_are_not_checked_as_numbers() -> None:
    ev = evidence(passages=(SINGLE_SOLID, MULTIPLE_SOLID))
    assert check_claim("With several solid nodules present, CT at 3-6 months [2].", ev).status == "supported"


@pytest.mark.parametrize("citation", ["[3]", "[0]", "[12]"])
def test_a_citation_to_a_passage_that_does_not_exist_is_unsupported(citation: str) -> None:
    ev = evidence(FLEISCHNER, passages=(SINGLE_SOLID, MULTIPLE_SOLID))
    claim = check_claim(f"Management is CT at 6-12 months, then CT at 18-24 months {citation}.", ev)
    assert claim.status == "unsupported"
    assert claim.reasons == ["cites a passage number that does not exist"]


def test_a_statement_needs_lexical_support_from_a_passage() -> None:
    ev = evidence(passages=(SINGLE_SOLID,))
    supported = check_claim(
        "Management of a single solid nodule depends on rounded mean diameter and risk.", ev
    )
    assert (supported.status, supported.kinds) == ("supported", ["statement"])
    assert supported.evidence and supported.evidence[0].startswith("passage 1")
    unsupported = check_claim("Calcified granulomas can be dismissed without imaging.", ev)
    assert unsupported.status == "unsupported"
    assert unsupported.reasons[0].startswith("best passage covers only")


def test_a_statement_without_passages_is_unsupported() -> None:
    assert check_claim("Calcified granulomas can be dismissed.", evidence(FLEISCHNER)).status == "unsupported"


# --- combining with the entailment verdict ------------------------------------------------------


async def test_lexical_support_and_model_yes_is_supported() -> None:
    ev = evidence(passages=(SINGLE_SOLID,))
    result = await verify(
        "Management of a single solid nodule depends on rounded mean diameter and risk.", ev, all_yes
    )
    assert [c.status for c in result.claims] == ["supported"]


async def test_lexical_support_but_model_no_is_flagged() -> None:
    seen: list[tuple[list[str], list[str]]] = []

    async def says_no(claims: list[str], passages: list[str]) -> list[bool]:
        seen.append((claims, passages))
        return [False] * len(claims)

    ev = evidence(FLEISCHNER, passages=(SINGLE_SOLID,))
    draft = (
        "Management of a single solid nodule depends on rounded mean diameter and risk. CT at 6-12 months."
    )
    result = await verify(draft, ev, says_no)
    statement, interval = result.claims
    assert statement.status == "flagged"
    assert "did not judge it entailed" in statement.reasons[0]
    assert interval.status == "supported", "a tool-backed interval is not sent to the model"
    assert seen == [([statement.text], [SINGLE_SOLID])], "only lexically supported statements are sent"


async def test_the_model_is_shown_the_supporting_sentences_of_a_long_passage() -> None:
    """The sentence that supports a claim may sit past a passage's opening; it is shown whole."""
    filler = " ".join(f"Zone {n} of the suite is described in the manual, section {n}." for n in range(1, 9))
    answer = "Gadolinium retention is greatest with linear agents, and macrocyclic agents retain the least."
    passage = f"{filler} {answer} Unrelated closing remark about parking."
    assert passage.index(answer) > 450
    seen: list[list[str]] = []

    async def records(claims: list[str], passages: list[str]) -> list[bool]:
        seen.append(passages)
        return [True] * len(claims)

    draft = "Macrocyclic agents retain the least gadolinium, linear agents the most."
    result = await verify(draft, evidence(passages=(passage,)), records)
    assert [c.status for c in result.claims] == ["supported"]
    assert seen == [[answer]]


PREMEDICATION = (
    "Shellfish allergy alone is not a reason to premedicate. Do not give steroids to a patient with only "
    "a shellfish allergy before iodinated contrast."
)


async def never_asked(claims: list[str], passages: list[str]) -> list[bool]:
    raise AssertionError(f"the model was asked about {claims}")


async def test_a_whole_passage_sentence_repeated_word_for_word_needs_no_model() -> None:
    draft = "**Shellfish allergy alone is not a reason to premedicate** [1]"
    result = await verify(draft, evidence(passages=(PREMEDICATION,)), never_asked)
    assert [c.status for c in result.claims] == ["supported"]
    assert result.claims[0].evidence[-1] == "passage 1, word for word"


async def test_part_of_a_sentence_still_goes_to_the_model() -> None:
    """'give steroids ...' is in the passage, inside 'Do not give steroids ...': it says the opposite."""
    seen: list[str] = []

    async def says_no(claims: list[str], passages: list[str]) -> list[bool]:
        seen.extend(claims)
        return [False] * len(claims)

    draft = "Give steroids to a patient with only a shellfish allergy before iodinated contrast."
    result = await verify(draft, evidence(passages=(PREMEDICATION,)), says_no)
    assert seen == [draft] and [c.status for c in result.claims] == ["flagged"]


async def test_a_tool_results_line_repeated_word_for_word_needs_no_model() -> None:
    adrenal = {"system": "adrenal", "guideline": "ACR adrenal white paper (2017)",
               "category": "benign: lipid-rich adenoma (CT)", "management": "Benign; no further work-up."}  # fmt: skip
    passage = "A benign adrenal mass needs no further work-up."
    draft = "Management: Benign; no further work-up."
    result = await verify(draft, evidence(adrenal, passages=(passage,)), never_asked)
    assert [c.status for c in result.claims] == ["supported"]
    assert result.claims[0].evidence[-1] == "the tool result, word for word"


async def test_every_line_a_result_is_shown_as_counts_as_the_tool_result() -> None:
    # The risk line, as agent.answer.result_lines shows it to the model (the category line carries its modifier).
    lung_rads = {"system": "lung_rads", "guideline": "Lung-RADS v2022", "category": "4A", "modifiers": ["S"],
                 "management": "LDCT in 3 months", "risk": "5-15% chance of malignancy"}  # fmt: skip
    passage = "Category 4A carries a 5-15% chance of malignancy."
    result = await verify(
        "Risk: 5-15% chance of malignancy.", evidence(lung_rads, passages=(passage,)), never_asked
    )
    assert [c.status for c in result.claims] == ["supported"]
    assert result.claims[0].evidence[-1] == "the tool result, word for word"


def test_supporting_sentences_keep_a_lead_in_with_what_it_introduces() -> None:
    passage = "Two regimens are listed:\n- Prednisone 50 mg at 13, 7 and 1 hours before.\n- Another regimen."
    shown = supporting_sentences(passage, ["Two regimens are listed in the manual."], per_claim=1)
    assert shown == "Two regimens are listed:\n- Prednisone 50 mg at 13, 7 and 1 hours before."


async def test_without_an_entailer_supported_statements_are_flagged() -> None:
    ev = evidence(FLEISCHNER, passages=(SINGLE_SOLID,))
    result = await verify(
        "Management of a single solid nodule depends on rounded mean diameter and risk.", ev, None
    )
    assert [c.status for c in result.claims] == ["flagged"]
    assert result.claims[0].reasons == ["no entailment check available"]


async def test_the_model_is_not_asked_about_claims_that_already_failed() -> None:
    asked: list[str] = []

    async def record(claims: list[str], passages: list[str]) -> list[bool]:
        asked.extend(claims)
        return [True] * len(claims)

    ev = evidence(FLEISCHNER, passages=(SINGLE_SOLID,))
    await verify("CT at 3-6 months is needed. The nodule is benign and needs nothing at all.", ev, record)
    assert asked == []


# --- the revision threshold -----------------------------------------------------------------------

GOOD = "Management is CT at 6-12 months."
BAD = "Management is CT at 3 weeks."


@pytest.mark.parametrize(
    ("good", "bad", "needs_revision"),
    [(1, 1, True), (3, 2, False), (2, 1, False), (0, 1, True)],
    ids=["0.5-below", "0.6-at", "0.67-above", "none-supported"],
)
async def test_revision_is_needed_below_the_supported_ratio(
    good: int, bad: int, needs_revision: bool
) -> None:
    assert MIN_SUPPORTED_RATIO == 0.6
    draft = "\n".join([GOOD] * good + [BAD] * bad)
    result = await verify(draft, evidence(FLEISCHNER), all_yes)
    assert result.supported_ratio == pytest.approx(good / (good + bad))
    assert result.needs_revision is needs_revision


async def test_an_empty_draft_needs_revision() -> None:
    result = await verify("", evidence(FLEISCHNER), all_yes)
    assert (result.claims, result.supported_ratio, result.needs_revision) == ([], 0.0, True)


async def test_kept_text_drops_failed_claims_and_marks_flagged_ones() -> None:
    async def no(claims: list[str], passages: list[str]) -> list[bool]:
        return [False] * len(claims)

    ev = evidence(FLEISCHNER, passages=(SINGLE_SOLID,))
    draft = f"{GOOD} {BAD} Management of a single solid nodule depends on rounded mean diameter and risk."
    result = await verify(draft, ev, no)
    assert kept_text(result) == (
        f"{GOOD} Management of a single solid nodule depends on rounded mean diameter and risk. ⚠ (not verified)"
    )
    assert result.as_dict()["claims"][1]["status"] == "contradicted"


def test_tool_text_carries_category_management_risk_rationale_and_inputs() -> None:
    text = evidence(TI_RADS_TR3).tool_text
    for part in ("TR3", "1, 3 and 5 years", "4.8%", "total 3", "max_diameter_mm 20.0"):
        assert part in text


@pytest.mark.parametrize(
    ("draft", "finished"),
    [
        ("CT at 6-12 months [1]. Then CT at 18-24 months is not", "CT at 6-12 months [1]."),
        ("CT at 6-12 months. [1] Then CT", "CT at 6-12 months. [1]"),
        ("No follow-up is needed [1].", "No follow-up is needed [1]."),
        ("A list:\n- CT at 6-12 months\n- CT at 18", "A list:\n- CT at 6-12 months"),
        ('The paper says "10 HU or less." Then', 'The paper says "10 HU or less."'),
        ("The threshold is 1.", ""),  # "1." may be the start of "1.5 cm"
        ("Nothing finished here", ""),
    ],
)
def test_finished_part_ends_at_the_last_finished_sentence_or_line(draft: str, finished: str) -> None:
    assert finished_part(draft) == finished


async def test_a_copied_heading_is_dropped_without_asking_the_model() -> None:
    """Small models copy the prompt's "[1] Benign diagnostic features" lines; a heading asserts nothing."""
    asked: list[list[str]] = []

    async def entail(claims: list[str], passages: list[str]) -> list[bool]:
        asked.append(claims)
        return [True] * len(claims)

    passage = "No follow-up is needed when the mass has diagnostic benign features, such as macroscopic fat."
    ev = Evidence([], [passage], SPELLINGS, headings=["Benign diagnostic features"])
    result = await verify("Benign diagnostic features [1]", ev, entail)
    assert [(c.status, c.reasons) for c in result.claims] == [
        ("unsupported", ["a passage's heading, copied: it states nothing"])
    ]
    assert asked == []
    without = await verify("Benign diagnostic features [1]", evidence(passages=(passage,)), entail)
    assert without.claims[0].status == "supported" and asked, "the heading's words are in the passage"


TABLE_ROWS = (
    "Additional major features are counted from 0 to 3 (LI-RADS v2018 CT/MRI diagnostic table): APHE: No APHE; "
    "Size: <20 mm; 0 additional features: LR-3; 1 additional feature: LR-3; >=2 additional features: LR-4."
)
PITFALL = "Ancillary features favouring benignity can downgrade LR-3 to LR-2 (LI-RADS v2018 CT/MRI core)."


def test_a_claim_is_checked_against_the_passages_it_cites() -> None:
    """Seen in `radassist eval`: a table row copied from passage 2 but citing passage 1 was shown citing [1],
    where the reader found neither its size nor its categories. It rests on passage 2, and is shown citing it."""
    row = "No APHE, size <20 mm, 0 additional features: LR-3"
    ev = evidence(passages=(PITFALL, TABLE_ROWS))
    right = check_claim(f"{row} [2].", ev)
    assert (right.status, right.passage, right.recited) == ("supported", 1, False), right
    wrong = check_claim(f"{row} [1].", ev)
    assert (wrong.status, wrong.passage, wrong.recited) == ("supported", 1, True), wrong
    assert claim_with_citation(asdict(wrong)) == f"{row} [2]."
    assert claim_with_citation(asdict(right)) == f"{row} [2]."
    assert not check_claim(f"{row}.", ev).recited, "an uncited claim is cited by the answer, not re-cited"


def test_a_tool_result_citing_a_passage_that_does_not_say_it_loses_the_citation() -> None:
    """True by the tool, but its [1] sends the reader to a passage about something else."""
    cited = check_claim(
        "The nodule is TR3, mildly suspicious [1].", evidence(TI_RADS_TR3, passages=(PITFALL,))
    )
    assert (cited.status, cited.passage, cited.recited) == ("supported", None, True), cited
    assert claim_with_citation(asdict(cited)) == "The nodule is TR3, mildly suspicious."
