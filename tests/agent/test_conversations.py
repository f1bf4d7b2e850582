"""Scripted conversations on the real agent: embedded PostgreSQL with the shipped corpus, MiniLM, real tools.

Only the chat model is scripted. Each conversation is one entry of CONVERSATIONS: per turn the message,
the expected classification (written from the published tables in classification-criteria.md, not from
running the tools), the inputs that must be carried over from earlier turns, and the draft a decent model
would write: correct sentences worded like the tool result or the retrieved passages, plus (in at least one
turn per conversation) one planted wrong sentence that verification must remove. The entailment model says
"yes" to everything, so the planted claims must be caught by the deterministic checks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from agent.assistant import Assistant, TurnResult
from tests.agent.fakes import Messages, ScriptedLLM

CLASSIFICATION_TOOLS = frozenset(
    {"fleischner", "lung_rads", "ti_rads", "li_rads", "bi_rads", "bosniak", "pi_rads", "o_rads",
     "adrenal_incidentaloma", "renal_incidentaloma"}
)  # fmt: skip

# The verifier's reasons, by kind of planted error (fragments of agent/verify.py's messages).
CATEGORY = "but the tool computed"
INTERVAL = "is not in the tool result or a supporting passage"
SIZE = "appears in no tool result or passage"
NUMBER = "not in the evidence"
CITATION = "cites a passage number that does not exist"
STATEMENT = "best passage covers only"


@dataclass(frozen=True)
class Planted:
    """A wrong sentence inside a draft, the status verification must give it and a fragment of the reason."""

    text: str
    status: str
    reason: str


@dataclass(frozen=True)
class Turn:
    message: str
    correct: tuple[str, ...]
    """Sentences of the draft that the evidence supports: each must be kept in the answer."""
    planted: Planted | None = None
    system: str | None = None
    """The classification tool that must run (None: a guideline-only question, no classification)."""
    category: str | None = None
    management: tuple[str, ...] = ()
    """Fragments of the published management that the tool's recommendation must contain."""
    inputs: dict[str, Any] = field(default_factory=dict)
    carried: dict[str, Any] = field(default_factory=dict)
    """Inputs that must come from earlier turns of the thread (follow-ups)."""
    sources: tuple[str, ...] = ()
    """Corpus documents the answer must cite."""

    @property
    def draft(self) -> str:
        sentences = list(self.correct)
        if self.planted is not None:
            sentences.insert(1, self.planted.text)  # mid-draft, between correct sentences
        return " ".join(sentences)


@dataclass(frozen=True)
class Conversation:
    name: str
    experts: tuple[str, ...]
    """Acceptable top-1 experts: the routing set's expected expert and its cross-domain alternatives."""
    turns: tuple[Turn, ...]


CONVERSATIONS: tuple[Conversation, ...] = (
    # --- Fleischner 2017 (Table 1) -------------------------------------------------------------------
    Conversation(
        "fleischner-solid-high-risk-then-larger",
        ("chest",),
        (
            Turn(
                "Incidental 7 mm solid nodule in the right upper lobe on a CT angiogram, 58-year-old ex-smoker "
                "with 30 pack-years. Fleischner follow-up?",
                (
                    "This is a single solid nodule of 6-8 mm in a high-risk patient, so management is CT at "
                    "6-12 months, then CT at 18-24 months [2].",
                    "Management of a single solid nodule depends on the rounded mean diameter and risk [2].",
                ),
                # The multiple-nodule interval given to a single nodule (a peer calculator's mistake).
                Planted(
                    "Because of the smoking history, CT at 3-6 months is needed [2].",
                    "contradicted",
                    INTERVAL,
                ),
                system="fleischner",
                category="solid, single, 6-8 mm, high risk",
                management=("6-12 months", "18-24 months"),
                inputs={"nodule_type": "solid", "risk": "high", "diameter_mm": 7.0},
            ),
            Turn(
                "What if it measured 10 mm?",
                (
                    "At 10 mm the single solid nodule is in the >8 mm band: consider CT at 3 months, PET/CT or "
                    "tissue sampling [1].",
                    "In a low-risk patient a single solid nodule over 8 mm gets the same management: consider "
                    "CT at 3 months, PET/CT or tissue sampling [1].",
                ),
                Planted(
                    "Tissue sampling is mandatory once a nodule exceeds 9.5 mm [1].", "unsupported", SIZE
                ),
                system="fleischner",
                category="solid, single, >8 mm, high risk",
                management=("3 months", "PET/CT", "tissue sampling"),
                inputs={"diameter_mm": 10.0},
                carried={"nodule_type": "solid", "count": "single", "risk": "high"},
            ),
        ),
    ),
    Conversation(
        "fleischner-low-risk-then-smoker",
        ("chest",),
        (
            Turn(
                "5 mm solid lung nodule on a trauma CT, 45-year-old never smoker. Does it need follow-up?",
                (
                    "A single solid nodule under 6 mm in a low-risk patient needs no routine follow-up [2].",
                    "Management of a single solid nodule depends on the rounded mean diameter and risk [2].",
                ),
                Planted(
                    "Because the nodule is calcified it can be dismissed as an old granuloma [2].",
                    "unsupported",
                    STATEMENT,
                ),
                system="fleischner",
                category="solid, single, <6 mm, low risk",
                management=("No routine follow-up",),
                inputs={"diameter_mm": 5.0, "risk": "low"},
            ),
            Turn(
                "Correction: she has a 20 pack-year smoking history.",
                (
                    "In a high-risk patient a single solid nodule under 6 mm gets an optional CT at 12 months [2].",
                    "In a low-risk patient the same nodule needs no routine follow-up [2].",
                ),
                Planted("A smoking history always changes the risk category [7].", "unsupported", CITATION),
                system="fleischner",
                category="solid, single, <6 mm, high risk",
                management=("Optional CT at 12 months",),
                inputs={"risk": "high"},
                carried={"nodule_type": "solid", "count": "single", "diameter_mm": 5.0},
            ),
        ),
    ),
    Conversation(
        "fleischner-pure-ground-glass",
        ("chest",),
        (
            Turn(
                "Pure ground-glass nodule of 8 mm in the left upper lobe, incidental on CT. How should it be followed?",
                (
                    "A single pure ground-glass nodule of 6 mm or more: CT at 6-12 months to confirm persistence, "
                    "then CT every 2 years until 5 years [1].",
                    "A single pure ground-glass nodule under 6 mm needs no routine follow-up [1].",
                ),
                # The part-solid schedule given to a pure ground-glass nodule (a peer calculator's mistake).
                Planted(
                    "After that first CT, annual CT for 5 years is needed [1].", "contradicted", INTERVAL
                ),
                system="fleischner",
                category="ground-glass, single, >=6 mm",
                management=("6-12 months to confirm persistence", "every 2 years until 5 years"),
                inputs={"nodule_type": "ground-glass", "diameter_mm": 8.0},
            ),
        ),
    ),
    Conversation(
        "fleischner-part-solid-growing-component",
        ("chest",),
        (
            Turn(
                "Part-solid nodule 12 mm with a 4 mm solid component, incidental finding. Fleischner?",
                (
                    "A single part-solid nodule of 6 mm or more: CT at 3-6 months to confirm persistence; if it "
                    "is unchanged and the solid component stays below 6 mm, annual CT for 5 years [4].",
                    "For a part-solid nodule the size used in the table is the total mean diameter; the solid "
                    "component is assessed separately [2].",
                ),
                Planted(
                    "PET/CT is advised once the solid component reaches 7.5 mm [1].", "unsupported", SIZE
                ),
                system="fleischner",
                category="part-solid, single, >=6 mm, solid component <6 mm",
                management=("3-6 months to confirm persistence", "annual CT for 5 years"),
                inputs={"nodule_type": "part-solid", "diameter_mm": 12.0, "solid_component_mm": 4.0},
            ),
            Turn(
                "And if the solid component measured 7 mm?",
                (
                    "A persistent part-solid nodule whose solid component is 6 mm or more is highly suspicious [2].",
                    "The recommendation is CT at 3-6 months to confirm persistence.",
                ),
                system="fleischner",
                category="part-solid, single, >=6 mm, solid component 6-8 mm",
                management=("3-6 months", "highly suspicious"),
                inputs={"solid_component_mm": 7.0},
                carried={"nodule_type": "part-solid", "diameter_mm": 12.0},
            ),
            Turn(
                "And if the solid component measured 9 mm?",
                (
                    "PET/CT, biopsy or resection is recommended for a part-solid nodule with a solid component "
                    "larger than 8 mm [2].",
                ),
                Planted("A repeat CT at 3-6 months should come first [2].", "unsupported", INTERVAL),
                system="fleischner",
                category="part-solid, single, >=6 mm, solid component >8 mm",
                management=("PET/CT, biopsy or resection",),
                inputs={"solid_component_mm": 9.0},
                carried={"nodule_type": "part-solid", "diameter_mm": 12.0},
            ),
        ),
    ),
    Conversation(
        "fleischner-part-solid-what-if-phrasing",
        ("chest",),
        (
            Turn(
                "Incidental 10 mm part-solid nodule with a 3 mm solid component in the left lower lobe.",
                (
                    "A single part-solid nodule of 6 mm or more: CT at 3-6 months to confirm persistence; if it "
                    "is unchanged and the solid component stays below 6 mm, annual CT for 5 years [4].",
                ),
                Planted("The solid component is measured on lung windows [9].", "unsupported", CITATION),
                system="fleischner",
                category="part-solid, single, >=6 mm, solid component <6 mm",
                management=("3-6 months to confirm persistence",),
                inputs={"nodule_type": "part-solid", "diameter_mm": 10.0, "solid_component_mm": 3.0},
            ),
            Turn(
                "And if the solid component were 7 mm?",
                (
                    "A persistent part-solid nodule whose solid component is 6 mm or more is highly suspicious [2].",
                ),
                system="fleischner",
                category="part-solid, single, >=6 mm, solid component 6-8 mm",
                management=("highly suspicious",),
                inputs={"solid_component_mm": 7.0},
                carried={"nodule_type": "part-solid", "diameter_mm": 10.0},
            ),
        ),
    ),
    # --- Lung-RADS v2022 ------------------------------------------------------------------------------
    Conversation(
        "lung-rads-baseline-then-larger",
        ("chest",),
        (
            Turn(
                "Baseline lung cancer screening LDCT: 9 mm solid nodule in the RUL. Lung-RADS category?",
                (
                    "On this baseline screen the 9 mm solid nodule is Lung-RADS 4A (8 to <15 mm) [3].",
                    "Management is LDCT in 3 months; PET/CT may be considered for a solid nodule of 8 mm or more.",
                ),
                Planted("That makes it Lung-RADS 3 [3].", "contradicted", CATEGORY),
                system="lung_rads",
                category="4A",
                management=("3 months",),
                inputs={"nodule_type": "solid", "status": "baseline", "mean_diameter_mm": 9.0},
            ),
            Turn(
                "And if it were 16 mm?",
                (
                    "At 16 mm on a baseline screen the solid nodule is Lung-RADS 4B (15 mm or more).",
                    "Lung-RADS 4B management is a diagnostic chest CT with or without contrast, tissue sampling "
                    "and/or referral for further clinical evaluation.",
                ),
                system="lung_rads",
                category="4B",
                management=("Diagnostic chest CT",),
                inputs={"mean_diameter_mm": 16.0},
                carried={"nodule_type": "solid", "status": "baseline"},
            ),
        ),
    ),
    Conversation(
        "lung-rads-new-nodule-then-spiculated",
        ("chest",),
        (
            Turn(
                "Annual screening LDCT shows a new 5 mm solid nodule. Lung-RADS?",
                (
                    "A new solid nodule of 5 mm is Lung-RADS 3 (new 4 to <6 mm) [5].",
                    "Lung-RADS 3 management is LDCT in 6 months.",
                ),
                Planted("Repeat LDCT in 12 months is enough [5].", "contradicted", INTERVAL),
                system="lung_rads",
                category="3",
                management=("6 months",),
                inputs={"status": "new", "mean_diameter_mm": 5.0},
            ),
            Turn(
                "It also has spiculated margins.",
                (
                    "With spiculation it becomes Lung-RADS 4X: a category 3 or 4 nodule with additional features "
                    "that raise suspicion [4].",
                    "Lung-RADS 4X is managed like 4B: diagnostic chest CT with or without contrast, tissue sampling "
                    "and/or referral.",
                ),
                Planted(
                    "Spiculation raises the probability of malignancy to about 25% [4].",
                    "unsupported",
                    NUMBER,
                ),
                system="lung_rads",
                category="4X",
                management=("Diagnostic chest CT",),
                carried={"nodule_type": "solid", "status": "new", "mean_diameter_mm": 5.0},
            ),
        ),
    ),
    # --- ACR TI-RADS 2017 -----------------------------------------------------------------------------
    Conversation(
        "ti-rads-tr4-then-smaller",
        ("neuro",),
        (
            Turn(
                "Thyroid US: 1.8 cm solid hypoechoic nodule, wider than tall, smooth margins, no echogenic foci. "
                "TI-RADS?",
                (
                    "Solid (2) and hypoechoic (2), wider-than-tall (0), smooth margin (0) and no echogenic foci (0) "
                    "give 4 points, TR4 [2].",
                    "A TR4 nodule of 1.8 cm meets the 1.5 cm FNA threshold, so FNA is recommended.",
                ),
                Planted("The nodule is only TR3, mildly suspicious [2].", "contradicted", CATEGORY),
                system="ti_rads",
                category="TR4",
                management=("FNA",),
                inputs={"composition": "solid", "echogenicity": "hypoechoic", "max_diameter_mm": 18.0},
            ),
            Turn(
                "What if it measured 1.2 cm?",
                (
                    "At 1.2 cm the TR4 nodule is at least 1 cm but below 1.5 cm: no FNA, follow-up ultrasound at "
                    "1, 2, 3 and 5 years.",
                ),
                system="ti_rads",
                category="TR4",
                management=("No FNA", "1, 2, 3 and 5 years"),
                inputs={"max_diameter_mm": 12.0},
                carried={"composition": "solid", "echogenicity": "hypoechoic", "margin": "smooth"},
            ),
        ),
    ),
    Conversation(
        "ti-rads-tr2-then-punctate-foci",
        ("neuro",),
        (
            Turn(
                "Thyroid nodule 2.2 cm, mixed cystic and solid, isoechoic, wider-than-tall, smooth margin, no "
                "calcifications. FNA?",
                (
                    "Mixed cystic and solid (1) plus isoechoic (1), with no other points, totals 2 points: TR2, not "
                    "suspicious [3].",
                    "TR2 means no FNA and no follow-up [3].",
                ),
                Planted(
                    "For a mixed cystic and solid nodule only the solid component is scored [8].",
                    "unsupported",
                    CITATION,
                ),
                system="ti_rads",
                category="TR2",
                management=("No FNA",),
                inputs={
                    "composition": "mixed_cystic_solid",
                    "echogenicity": "isoechoic",
                    "max_diameter_mm": 22.0,
                },
            ),
            Turn(
                "It also has punctate echogenic foci.",
                (
                    "Punctate echogenic foci add 3 points, for a total of 5: TR4 [2].",
                    "At 2.2 cm the TR4 nodule meets the 1.5 cm FNA threshold, so FNA is recommended.",
                ),
                Planted("That raises the nodule to TR5 [2].", "contradicted", CATEGORY),
                system="ti_rads",
                category="TR4",
                management=("FNA",),
                inputs={"echogenic_foci": ["punctate"]},
                carried={
                    "composition": "mixed_cystic_solid",
                    "echogenicity": "isoechoic",
                    "max_diameter_mm": 22.0,
                },
            ),
        ),
    ),
    Conversation(
        "ti-rads-tr5-subcentimetre-threshold",
        ("neuro",),
        (
            Turn(
                "1.2 cm solid very hypoechoic thyroid nodule, taller than wide, with punctate echogenic foci. Biopsy?",
                (
                    "Solid (2), very hypoechoic (3), taller-than-wide (3) and punctate echogenic foci (3) give at "
                    "least 11 points: TR5 [2].",
                    "A TR5 nodule of 1.2 cm meets the 1 cm FNA threshold, so FNA is recommended.",
                ),
                Planted(
                    "If FNA is deferred, repeat the ultrasound in 6 months [3].", "unsupported", INTERVAL
                ),
                system="ti_rads",
                category="TR5",
                management=("FNA",),
                inputs={
                    "composition": "solid",
                    "echogenicity": "very_hypoechoic",
                    "shape": "taller_than_wide",
                },
            ),
        ),
    ),
    Conversation(
        "ti-rads-tr3-follow-up-then-fna",
        ("neuro",),
        (
            Turn(
                "2.0 cm solid isoechoic thyroid nodule, smooth margins, wider than tall, no echogenic foci. What "
                "does TI-RADS recommend?",
                (
                    "Solid (2) and isoechoic (1) with no other points total 3 points: TR3 [2].",
                    "At 2 cm the TR3 nodule is between the 1.5 cm follow-up and 2.5 cm FNA thresholds: no FNA, "
                    "follow-up ultrasound at 1, 3 and 5 years.",
                ),
                Planted("TR3 nodules under 2.2 cm never need follow-up [1].", "unsupported", SIZE),
                system="ti_rads",
                category="TR3",
                management=("No FNA", "1, 3 and 5 years"),
                inputs={"max_diameter_mm": 20.0},
            ),
            Turn(
                "and at 2.6 cm?",
                (
                    "At 2.6 cm the TR3 nodule meets the 2.5 cm FNA threshold, so FNA is recommended.",
                    "Size thresholds are inclusive [1].",
                ),
                system="ti_rads",
                category="TR3",
                management=("FNA",),
                inputs={"max_diameter_mm": 26.0},
                carried={"composition": "solid", "echogenicity": "isoechoic", "shape": "wider_than_tall"},
            ),
        ),
    ),
    # --- LI-RADS v2018 --------------------------------------------------------------------------------
    Conversation(
        "li-rads-lr5-then-capsule-only",
        ("abdominal",),
        (
            Turn(
                "Cirrhotic patient, 15 mm liver observation with nonrim APHE and nonperipheral washout, no capsule. "
                "LI-RADS?",
                (
                    "A 10-19 mm observation with nonrim APHE and washout is LR-5 [2].",
                    "LR-5 management is multidisciplinary discussion for consensus management; biopsy is usually "
                    "not needed for diagnosis.",
                ),
                Planted(
                    "Without an enhancing capsule this observation is only LR-4 [1].",
                    "contradicted",
                    CATEGORY,
                ),
                system="li_rads",
                category="LR-5",
                management=("Multidisciplinary discussion",),
                inputs={"population": "cirrhosis", "aphe": "nonrim", "size_mm": 15.0, "washout": True},
            ),
            Turn(
                "What if it had an enhancing capsule but no washout?",
                (
                    "A 10-19 mm mass with nonrim APHE and capsule as its only additional feature is LR-4 [1].",
                    "LR-4 management is multidisciplinary discussion for tailored work-up, which may include biopsy.",
                ),
                system="li_rads",
                category="LR-4",
                management=("Multidisciplinary discussion", "biopsy"),
                inputs={"capsule": True, "washout": False},
                carried={"population": "cirrhosis", "aphe": "nonrim", "size_mm": 15.0},
            ),
        ),
    ),
    Conversation(
        "li-rads-hepatitis-b-no-aphe",
        ("abdominal",),
        (
            Turn(
                "Hepatitis B, 25 mm liver observation without arterial phase hyperenhancement, with washout, no "
                "capsule. Category?",
                (
                    "Without APHE, an observation of 20 mm or more with one additional major feature (washout) is "
                    "LR-4 [2].",
                    "LR-4 management is multidisciplinary discussion for tailored work-up, which may include biopsy.",
                ),
                Planted(
                    "A hepatobiliary MRI is required before any category can be assigned [2].",
                    "unsupported",
                    STATEMENT,
                ),
                system="li_rads",
                category="LR-4",
                management=("Multidisciplinary discussion",),
                inputs={"population": "chronic_hepatitis_b", "aphe": "absent", "size_mm": 25.0},
            ),
        ),
    ),
    Conversation(
        "li-rads-lr3-then-grown",
        ("abdominal",),
        (
            Turn(
                "Cirrhosis, 8 mm liver observation with nonrim arterial phase hyperenhancement, no washout, no "
                "capsule.",
                (
                    "An observation under 10 mm with nonrim APHE and no additional features is LR-3 [1].",
                    "LR-3 management is repeat or alternative diagnostic imaging in 3-6 months.",
                ),
                Planted("Repeat imaging in 12 months is sufficient [1].", "contradicted", INTERVAL),
                system="li_rads",
                category="LR-3",
                management=("3-6 months",),
                inputs={"aphe": "nonrim", "size_mm": 8.0},
            ),
            Turn(
                "It now measures 22 mm.",
                (
                    "At 22 mm an observation with nonrim APHE and no additional features is LR-4 [3].",
                    "LR-4 management is multidisciplinary discussion for tailored work-up; it may include biopsy or "
                    "repeat or alternative imaging in 3 months or less.",
                ),
                system="li_rads",
                category="LR-4",
                management=("Multidisciplinary discussion",),
                inputs={"size_mm": 22.0},
                carried={"population": "cirrhosis", "aphe": "nonrim", "washout": False, "capsule": False},
            ),
        ),
    ),
    Conversation(
        "li-rads-targetoid-lr-m",
        ("abdominal",),
        (
            Turn(
                "Cirrhosis, 3 cm liver mass with rim APHE and peripheral washout. LI-RADS category?",
                (
                    "Rim APHE and peripheral washout are targetoid features, so this mass is LR-M [1].",
                    "LR-M management is multidisciplinary discussion for tailored work-up, often including biopsy.",
                ),
                # Rim APHE counted as APHE: the classic mistake the LI-RADS summary warns about.
                Planted("At 3 cm with APHE and washout this mass is LR-5 [5].", "contradicted", CATEGORY),
                system="li_rads",
                category="LR-M",
                management=("biopsy",),
                inputs={"aphe": "rim"},
            ),
        ),
    ),
    Conversation(
        "li-rads-tumour-in-vein",
        ("abdominal",),
        (
            Turn(
                "Cirrhotic liver with unequivocal enhancing soft tissue in the portal vein. LI-RADS?",
                (
                    "Unequivocal enhancing soft tissue in a vein is LR-TIV, which takes precedence over the other "
                    "categories except LR-NC [1].",
                    "LR-TIV management is multidisciplinary discussion for tailored work-up, which may include biopsy.",
                ),
                Planted("Tumour in vein is found in most patients with HCC [6].", "unsupported", CITATION),
                system="li_rads",
                category="LR-TIV",
                management=("Multidisciplinary discussion",),
                inputs={"tumor_in_vein": True},
            ),
        ),
    ),
    # --- BI-RADS 5th edition --------------------------------------------------------------------------
    Conversation(
        "bi-rads-3-then-4b",
        ("breast",),
        (
            Turn(
                "Diagnostic mammogram and ultrasound: 8 mm oval circumscribed mass, assessed as BI-RADS 3. "
                "Management?",
                (
                    "BI-RADS 3 is probably benign, with a likelihood of malignancy above 0% and no higher than 2% [2].",
                    "Management is short-interval (6-month) follow-up or continued surveillance [2].",
                ),
                Planted("The first follow-up mammogram is due in 12 months [2].", "contradicted", INTERVAL),
                system="bi_rads",
                category="3",
                management=("6-month",),
                inputs={"assessment": "3"},
            ),
            Turn(
                "What if it had been assessed BI-RADS 4B?",
                (
                    "BI-RADS 4B is moderate suspicion for malignancy, above 10% up to 50% [2].",
                    "For BI-RADS 4B the management is tissue diagnosis.",
                ),
                Planted("The likelihood of malignancy of 4B is about 30% [2].", "unsupported", NUMBER),
                system="bi_rads",
                category="4B",
                management=("Tissue diagnosis",),
                inputs={"assessment": "4B"},
            ),
        ),
    ),
    Conversation(
        "bi-rads-mri-no-subcategories",
        ("breast",),
        (
            Turn(
                "Breast MRI: 14 mm irregular enhancing mass, I would call it BI-RADS 4A. What management?",
                (
                    "Breast MRI uses category 4 without the 4A, 4B and 4C subdivision, so this is BI-RADS 4 [2].",
                    "For BI-RADS 4 the management is tissue diagnosis.",
                ),
                Planted(
                    "Report it as BI-RADS 4A, with a likelihood of malignancy above 2% to 10% [2].",
                    "contradicted",
                    CATEGORY,
                ),
                system="bi_rads",
                category="4",
                management=("Tissue diagnosis",),
                inputs={"modality": "mri"},
            ),
        ),
    ),
    Conversation(
        "bi-rads-5",
        ("breast",),
        (
            Turn(
                "Spiculated 15 mm breast mass on mammography with pleomorphic calcifications, BI-RADS 5. Next step?",
                (
                    "BI-RADS 5 is highly suggestive of malignancy, with a likelihood of 95% or more [5].",
                    "For BI-RADS 5 the management is tissue diagnosis.",
                ),
                Planted("Surgical excision can proceed without a biopsy [5].", "unsupported", STATEMENT),
                system="bi_rads",
                category="5",
                management=("Tissue diagnosis",),
                inputs={"assessment": "5"},
            ),
        ),
    ),
    # --- Bosniak 2019 ---------------------------------------------------------------------------------
    Conversation(
        "bosniak-iif-then-thick-septum",
        ("gu", "abdominal"),
        (
            Turn(
                "3 cm cystic renal mass on CT with a thin smooth wall, one smooth 3 mm enhancing septum and no "
                "nodule. Bosniak 2019 class?",
                (
                    "A smooth minimally thickened (3 mm) enhancing septum makes this cystic mass Bosniak IIF [4].",
                    "Bosniak IIF is followed with imaging at 6 and 12 months, then annually for 5 years.",
                ),
                # The 2005 size rule that Bosniak 2019 removed.
                Planted(
                    "Because it measures 3 cm the cyst is upgraded to Bosniak III [1].",
                    "contradicted",
                    CATEGORY,
                ),
                system="bosniak",
                category="IIF",
                management=("6 and 12 months",),
                inputs={"septa_thickness_mm": 3.0, "septa_enhancing": True},
            ),
            Turn(
                "What if the septum were 5 mm thick?",
                (
                    "An enhancing septum of 4 mm or more is thick, which makes the cystic mass Bosniak III.",
                    "Bosniak III is referred to urology: surgery or ablation, or active surveillance.",
                ),
                system="bosniak",
                category="III",
                management=("Urology referral",),
                inputs={"septa_thickness_mm": 5.0},
                carried={"modality": "ct", "wall_thickness": "thin", "septa_enhancing": True},
            ),
        ),
    ),
    Conversation(
        "bosniak-iv-enhancing-nodule",
        ("gu", "abdominal"),
        (
            Turn(
                "Cystic renal mass with an enhancing 6 mm mural nodule with obtuse margins. Bosniak class?",
                (
                    "An enhancing nodule, a convex protrusion of 4 mm or more with obtuse margins, makes this "
                    "Bosniak IV [3].",
                    "Bosniak IV management is urology referral: surgery or ablation, or active surveillance.",
                ),
                # Class III's malignancy figure given for class IV.
                Planted("About 50% of Bosniak IV masses are malignant [3].", "unsupported", NUMBER),
                system="bosniak",
                category="IV",
                management=("Urology referral",),
                inputs={"protrusion_enhancing": True, "protrusion_margins": "obtuse"},
            ),
        ),
    ),
    # --- PI-RADS v2.1 ---------------------------------------------------------------------------------
    Conversation(
        "pi-rads-peripheral-dce-then-negative",
        ("gu",),
        (
            Turn(
                "Prostate MRI: peripheral zone lesion, DWI score 3, DCE positive. PI-RADS?",
                (
                    "In the peripheral zone DWI 3 with positive DCE is upgraded to PI-RADS 4 [1].",
                    "For PI-RADS 4, biopsy should be considered.",
                ),
                Planted(
                    "The overall category stays PI-RADS 3 because DWI is 3 [1].", "contradicted", CATEGORY
                ),
                system="pi_rads",
                category="4",
                management=("Biopsy should be considered",),
                inputs={"zone": "peripheral", "dwi_score": 3, "dce": "positive"},
            ),
            Turn(
                "And if DCE were negative?",
                (
                    "With negative DCE, DWI 3 in the peripheral zone stays PI-RADS 3.",
                    "For PI-RADS 3 the biopsy decision depends on factors other than MRI, such as PSA density.",
                ),
                system="pi_rads",
                category="3",
                management=("PSA density",),
                inputs={"dce": "negative"},
                carried={"zone": "peripheral", "dwi_score": 3},
            ),
        ),
    ),
    Conversation(
        "pi-rads-transition-zone-upgrades",
        ("gu",),
        (
            Turn(
                "Transition zone lesion on prostate MRI, T2W score 2, DWI score 4. PI-RADS category?",
                (
                    "In the transition zone T2W 2 with DWI 4 is upgraded to PI-RADS 3, new in version 2.1 [1].",
                    "For PI-RADS 3 the biopsy decision depends on factors other than MRI, such as PSA density.",
                ),
                # A peer calculator's reading: TZ T2W 2 + DWI 4 -> 4.
                Planted("The DWI score of 4 makes it PI-RADS 4 [1].", "contradicted", CATEGORY),
                system="pi_rads",
                category="3",
                management=("PSA density",),
                inputs={"zone": "transition", "t2w_score": 2, "dwi_score": 4},
            ),
            Turn(
                "What if T2W 3 and DWI 5?",
                (
                    "In the transition zone T2W 3 with DWI 5 is upgraded to PI-RADS 4 [1].",
                    "For PI-RADS 4, biopsy should be considered.",
                ),
                system="pi_rads",
                category="4",
                management=("Biopsy should be considered",),
                inputs={"t2w_score": 3, "dwi_score": 5},
                carried={"zone": "transition"},
            ),
        ),
    ),
    Conversation(
        "pi-rads-5-peripheral",
        ("gu",),
        (
            Turn(
                "Peripheral zone lesion 1.8 cm, DWI score 5. PI-RADS?",
                (
                    "In the peripheral zone DWI 5 gives PI-RADS 5 [1].",
                    "For PI-RADS 5, biopsy should be considered.",
                ),
                Planted("Lesions of 1.2 cm or more are always PI-RADS 5 [1].", "unsupported", SIZE),
                system="pi_rads",
                category="5",
                management=("Biopsy should be considered",),
                inputs={"zone": "peripheral", "dwi_score": 5},
            ),
        ),
    ),
    # --- O-RADS US v2022 ------------------------------------------------------------------------------
    Conversation(
        "o-rads-simple-cyst-then-10-cm",
        ("gu",),
        (
            Turn(
                "Premenopausal woman, 5 cm simple ovarian cyst. O-RADS?",
                (
                    "A simple cyst larger than 3 cm and smaller than 10 cm is O-RADS 2, almost certainly benign [1].",
                    "O-RADS 2 carries a risk of malignancy below 1% [1].",
                ),
                # The O-RADS 2 intervals are an open point the tool deliberately does not state.
                Planted("Follow-up ultrasound in 8-12 weeks is recommended [1].", "unsupported", INTERVAL),
                system="o_rads",
                category="2",
                management=("Almost certainly benign",),
                inputs={"lesion_type": "simple_cyst", "max_diameter_mm": 50.0},
            ),
            Turn(
                "What if it were 11 cm?",
                (
                    "A unilocular cyst with smooth inner walls measuring 10 cm or more is O-RADS 3 [2].",
                    "For O-RADS 3, refer to a gynaecologist; if not excised, ultrasound follow-up within 6 months, "
                    "or an ultrasound specialist or MRI.",
                ),
                system="o_rads",
                category="3",
                management=("gynaecologist", "6 months"),
                inputs={"max_diameter_mm": 110.0},
                carried={"lesion_type": "simple_cyst", "menopausal_status": "premenopausal"},
            ),
        ),
    ),
    Conversation(
        "o-rads-multilocular-then-colour-score-4",
        ("gu",),
        (
            Turn(
                "Postmenopausal woman, 4 cm multilocular ovarian cyst with smooth inner walls, no solid component, "
                "colour score 2. O-RADS?",
                (
                    "A multilocular cyst with smooth inner walls, smaller than 10 cm, colour score below 4, is "
                    "O-RADS 3 [4].",
                    "O-RADS 3 carries a risk of malignancy of 1% to below 10% [4].",
                ),
                Planted("Repeat the ultrasound in 12 months [4].", "contradicted", INTERVAL),
                system="o_rads",
                category="3",
                management=("gynaecologist",),
                inputs={"lesion_type": "multilocular_cyst", "color_score": 2},
            ),
            Turn(
                "And with a colour score of 4?",
                (
                    "A multilocular cyst without a solid component, smooth, any size, with colour score 4 is "
                    "O-RADS 4 [1].",
                    "O-RADS 4 carries a risk of malignancy of 10% to below 50% [1].",
                ),
                system="o_rads",
                category="4",
                management=("MRI",),
                inputs={"color_score": 4},
                carried={
                    "lesion_type": "multilocular_cyst",
                    "inner_wall": "smooth",
                    "menopausal_status": "postmenopausal",
                },
            ),
        ),
    ),
    Conversation(
        "o-rads-5-ascites",
        ("gu",),
        (
            Turn(
                "Adnexal mass with ascites and peritoneal nodules on ultrasound. O-RADS?",
                (
                    "Ascites and/or peritoneal nodules not otherwise explained are O-RADS 5 [2].",
                    "O-RADS 5 carries a risk of malignancy of 50% or more [1].",
                    "For O-RADS 5, refer to a gynaecologic oncologist.",
                ),
                Planted("Peritoneal nodules are found in most ovarian cancers [9].", "unsupported", CITATION),
                system="o_rads",
                category="5",
                management=("gynaecologic oncologist",),
                inputs={"ascites_or_peritoneal_nodules": True},
            ),
        ),
    ),
    Conversation(
        "o-rads-4-papillary-projections",
        ("gu",),
        (
            Turn(
                "Unilocular ovarian cyst 4 cm with a solid component: two papillary projections. O-RADS?",
                (
                    "A unilocular cyst with a solid component and 1-3 papillary projections, any size and any "
                    "colour score, is O-RADS 4 [1].",
                    "O-RADS 4 carries a risk of malignancy of 10% to below 50%.",
                ),
                Planted(
                    "A solid component only counts when it protrudes 2.5 mm or more into the lumen [1].",
                    "unsupported",
                    SIZE,
                ),
                system="o_rads",
                category="4",
                management=("MRI",),
                inputs={
                    "lesion_type": "unilocular_cyst",
                    "solid_component": True,
                    "papillary_projections": 2,
                },
            ),
        ),
    ),
    # --- ACR incidental adrenal mass (2017) -----------------------------------------------------------
    Conversation(
        "adrenal-lipid-rich-adenoma",
        ("abdominal",),
        (
            Turn(
                "Incidental 2.5 cm left adrenal nodule measuring 8 HU on unenhanced CT. Work-up?",
                (
                    "An unenhanced CT attenuation of 10 HU or less indicates a lipid-rich adenoma [1].",
                    "No follow-up is needed when the mass has diagnostic benign features [1].",
                ),
                Planted("A follow-up adrenal CT in 12 months is still advised [5].", "unsupported", INTERVAL),
                system="adrenal_incidentaloma",
                category="benign: lipid-rich adenoma (CT)",
                management=("no further work-up",),
                inputs={"size_mm": 25.0, "unenhanced_hu": 8.0},
            ),
        ),
    ),
    Conversation(
        "adrenal-indeterminate-larger-then-washout",
        ("abdominal",),
        (
            Turn(
                "Incidental 1.5 cm adrenal nodule, 25 HU on unenhanced CT, no prior imaging, no history of cancer.",
                (
                    "Without prior imaging and without a cancer history, a mass smaller than 2 cm is probably "
                    "benign and a 12-month adrenal CT may be considered [2].",
                ),
                Planted(
                    "Adrenal washout CT is mandatory for every incidental nodule [2].",
                    "unsupported",
                    STATEMENT,
                ),
                system="adrenal_incidentaloma",
                category="indeterminate 1–<2 cm",
                management=("12-month",),
                inputs={
                    "size_mm": 15.0,
                    "unenhanced_hu": 25.0,
                    "prior_imaging": "none",
                    "cancer_history": False,
                },
            ),
            Turn(
                "What if it measured 3 cm?",
                (
                    "Without prior imaging and without a cancer history, a mass of 2-4 cm is characterised with "
                    "adrenal-protocol (washout) CT or chemical-shift MRI [5].",
                ),
                system="adrenal_incidentaloma",
                category="indeterminate 2–<4 cm",
                management=("washout", "chemical-shift MRI"),
                inputs={"size_mm": 30.0},
                carried={"unenhanced_hu": 25.0, "prior_imaging": "none", "cancer_history": False},
            ),
            Turn(
                "Washout CT: unenhanced 25 HU, enhanced 80 HU, delayed 35 HU.",
                (
                    "Absolute percentage washout (APW) = (E - D) / (E - U) x 100; a value of 60% or more indicates "
                    "an adenoma [1].",
                ),
                Planted(
                    "An absolute washout above 50% already confirms an adenoma [1].", "unsupported", NUMBER
                ),
                system="adrenal_incidentaloma",
                category="benign: adenoma (washout)",
                management=("no further work-up",),
                inputs={"unenhanced_hu": 25.0, "enhanced_hu": 80.0, "delayed_hu": 35.0},
                carried={"size_mm": 30.0, "prior_imaging": "none", "cancer_history": False},
            ),
        ),
    ),
    Conversation(
        "adrenal-4-cm-or-more",
        ("abdominal",),
        (
            Turn(
                "Adrenal mass 4.5 cm, 30 HU unenhanced, no cancer history. Next step?",
                (
                    "For a mass of 4 cm or more without diagnostic benign features, resection should be considered "
                    "in a patient without a cancer history [1].",
                ),
                Planted("Masses above 6 cm should always be resected [1].", "unsupported", SIZE),
                system="adrenal_incidentaloma",
                category="≥4 cm",
                management=("resection",),
                inputs={"size_mm": 45.0, "cancer_history": False},
            ),
        ),
    ),
    # --- ACR incidental renal mass on CT (2018) -------------------------------------------------------
    Conversation(
        "renal-simple-cyst-then-indeterminate",
        ("abdominal", "gu"),
        (
            Turn(
                "Incidental homogeneous 2 cm renal mass on unenhanced CT measuring 15 HU. Follow-up?",
                (
                    "A homogeneous mass of -10 to 20 HU at unenhanced CT is a simple cyst [1].",
                    "A simple cyst is benign and needs no follow-up [1].",
                ),
                Planted("Any renal cyst larger than 3.5 cm needs a follow-up CT [1].", "unsupported", SIZE),
                system="renal_incidentaloma",
                category="benign: simple cyst",
                management=("no follow-up",),
                inputs={"unenhanced_hu": 15.0, "homogeneous": True},
            ),
            Turn(
                "What if it measured 45 HU on the unenhanced CT?",
                (
                    "A homogeneous mass of 21-69 HU at unenhanced CT is indeterminate and needs renal-mass-protocol "
                    "CT or MRI [1].",
                ),
                system="renal_incidentaloma",
                category="indeterminate (21-69 HU)",
                management=("CT or MRI",),
                inputs={"unenhanced_hu": 45.0},
                carried={"homogeneous": True},
            ),
        ),
    ),
    Conversation(
        "renal-angiomyolipoma",
        ("gu", "abdominal"),
        (
            Turn(
                "Renal mass containing macroscopic fat, -40 HU, on CT. What is it?",
                (
                    "A renal mass containing macroscopic fat (attenuation below -10 HU) is an angiomyolipoma [1].",
                ),
                Planted(
                    "Angiomyolipomas must be embolised when larger than 3.5 cm [1].", "unsupported", SIZE
                ),
                system="renal_incidentaloma",
                category="angiomyolipoma (macroscopic fat)",
                management=("Angiomyolipoma",),
                inputs={"macroscopic_fat": True},
            ),
        ),
    ),
    Conversation(
        "renal-enhancing-solid-mass",
        ("abdominal", "gu"),
        (
            Turn(
                "Solid renal mass, 30 HU on unenhanced CT and 85 HU in the nephrographic phase. ACR recommendation?",
                (
                    "An attenuation increase of 20 HU or more between unenhanced and contrast-enhanced CT is "
                    "enhancement [1].",
                ),
                Planted(
                    "The mass is a Bosniak IIF cyst and needs follow-up [1].",
                    "unsupported",
                    "no bosniak tool result or passage supports it",
                ),
                system="renal_incidentaloma",
                category="enhancing",
                management=("solid renal mass",),
                inputs={"unenhanced_hu": 30.0, "enhanced_hu": 85.0},
            ),
        ),
    ),
    # --- guideline-only questions (no classification system applies) ----------------------------------
    Conversation(
        "contrast-reaction-premedication",
        ("general",),
        (
            Turn(
                "Patient had a moderate allergic-like reaction to iodinated contrast last year. Does she need "
                "premedication?",
                (
                    "Premedication is considered for a patient with a previous allergic-like reaction to the same "
                    "class of contrast medium who needs that class again [1].",
                    "The strongest risk factor is a previous allergic-like reaction to a contrast medium of the same "
                    "class [4].",
                ),
                Planted(
                    "Give prednisone 40 mg once, 2 hours before the contrast [1].", "unsupported", NUMBER
                ),
                sources=("contrast-reactions",),
            ),
        ),
    ),
    Conversation(
        "contrast-ct-in-renal-impairment",
        ("general",),
        (
            Turn(
                "eGFR 25 in an outpatient, needs a contrast-enhanced CT. What is the risk of contrast-induced AKI "
                "and what precautions?",
                (
                    "Patients at high risk are those with recent AKI and those with eGFR below 30 mL/min/1.73 m² [1].",
                    "A necessary contrast-enhanced CT without a suitable alternative should not be withheld only "
                    "because of CI-AKI risk [1].",
                ),
                Planted("The risk only becomes high below an eGFR of 15 [1].", "unsupported", NUMBER),
                sources=("contrast-renal-impairment",),
            ),
        ),
    ),
    Conversation(
        "mri-safety-pacemaker-then-zone-iv",
        ("general",),
        (
            Turn(
                "Patient with an MR-conditional pacemaker needs a brain MRI. What do we need to check?",
                (
                    "A patient with an MR-conditional pacemaker or ICD system can have MRI when it is performed "
                    "according to the manufacturer's labelling, under a site protocol with the device team "
                    "involved [1].",
                    "MR-conditional labelling applies to a system: a specific generator with specific leads, "
                    "labelled together [1].",
                ),
                Planted(
                    "Pacemakers implanted after 2015 can be scanned without cardiology input [1].",
                    "unsupported",
                    NUMBER,
                ),
                sources=("mri-implants",),
            ),
            Turn(
                "And who may enter zone IV?",
                (
                    "Zone IV is the MR scanner room itself, entered only under the direct supervision of Level 2 MR "
                    "personnel [1].",
                    "Level 2 MR personnel are responsible for patients in Zone IV [4].",
                ),
                Planted(
                    "The resuscitation team may enter Zone IV with its equipment [6].",
                    "unsupported",
                    CITATION,
                ),
                sources=("mri-safety",),
            ),
        ),
    ),
    Conversation(
        "metformin-before-contrast",
        ("general",),
        (
            Turn(
                "Metformin before contrast CT in a patient with eGFR 40 - hold it or not?",
                (
                    "Patients taking metformin who have no AKI and eGFR of 30 mL/min/1.73 m² or more need not stop "
                    "metformin before or after intravenous iodinated contrast [1].",
                ),
                Planted(
                    "Metformin should be withheld for 2 weeks after the CT [1].", "unsupported", INTERVAL
                ),
                sources=("contrast-renal-impairment",),
            ),
        ),
    ),
    Conversation(
        "anaphylaxis-treatment",
        ("general",),
        (
            Turn(
                "Anaphylaxis after gadolinium: how do we treat it in the scanner?",
                (
                    "Epinephrine is the first-line drug for severe allergic-like reactions such as anaphylaxis [2].",
                    "Antihistamines treat skin symptoms only and are not a substitute for epinephrine in "
                    "anaphylaxis [2].",
                ),
                Planted(
                    "Reactions to gadolinium are always mild, so observation alone is enough [2].",
                    "unsupported",
                    STATEMENT,
                ),
                sources=("contrast-reactions",),
            ),
        ),
    ),
)

REVISION_MARK = "Your previous answer had unsupported statements"


def scripted_model(conversation: Conversation) -> ScriptedLLM:
    """Draft per turn (found by the question in the prompt); a revision drops what verification flagged."""
    turns = {t.message: t for t in conversation.turns}

    def draft(messages: Messages) -> str:
        content = messages[-1]["content"]
        question = content.split("\n\n", 1)[0].removeprefix("Question: ")
        turn = turns[question]
        return " ".join(turn.correct) if REVISION_MARK in content else turn.draft

    return ScriptedLLM(draft)


def classification_calls(result: TurnResult) -> list[dict[str, Any]]:
    return [c for c in result.tool_calls if c["tool"] in CLASSIFICATION_TOOLS]


def check_routing(conversation: Conversation, turn: Turn, result: TurnResult) -> None:
    top = result.experts[0]["name"]
    assert top in conversation.experts, (
        f"{turn.message!r}: routed to {top}, expected one of {conversation.experts}"
    )


def check_classification(turn: Turn, result: TurnResult) -> None:
    calls = classification_calls(result)
    if turn.system is None:
        assert not calls, f"{turn.message!r}: no classification expected, got {[c['tool'] for c in calls]}"
        cited = {c["source"] for c in result.citations}
        assert set(turn.sources) <= cited, f"{turn.message!r}: cited {sorted(cited)}, expected {turn.sources}"
        return
    assert [c["tool"] for c in calls] == [turn.system], (
        f"{turn.message!r}: tools called {[c['tool'] for c in calls]}"
    )
    call = calls[0]
    out = call["output"]
    assert out["category"] == turn.category, (
        f"{turn.message!r}: {turn.system} category {out['category']!r} (missing {out['missing']}, "
        f"inputs {call['input']}), expected {turn.category!r}"
    )
    for fragment in turn.management:
        assert fragment.lower() in out["management"].lower(), (
            f"{turn.message!r}: management {out['management']!r}"
        )
    for name, value in turn.inputs.items():
        assert call["input"].get(name) == value, f"{turn.message!r}: input {name}={call['input'].get(name)!r}"
    for name, value in turn.carried.items():
        assert call["carried"].get(name) == value, (
            f"{turn.message!r}: {name} should be carried over as {value!r}; carried {call['carried']}"
        )
    if turn.carried:
        assert "Carried over from earlier in this conversation" in result.answer
    assert f": {out['category']}" in result.answer, "the computed category leads the answer"
    assert out["management"] in result.answer, "the computed management is in the answer"


def check_verification(turn: Turn, result: TurnResult) -> None:
    claims = result.verification["claims"]
    first_round = [c for c in claims if c["round"] == 1]
    for sentence in turn.correct:
        matching = [c for c in first_round if c["text"] == sentence]
        assert matching, f"correct sentence not checked as one claim: {sentence!r}"
        for claim in matching:
            assert claim["status"] == "supported", (
                f"correct sentence {sentence!r} marked {claim['status']}: {claim['reasons']}"
            )
        last = [c for c in claims if c["round"] == claims[-1]["round"] and c["text"] == sentence]
        shown = last[0].get("shown", sentence) if last else sentence  # citations renumbered as the answer's
        assert shown in result.answer, f"correct sentence missing from the answer: {shown!r}"
    if turn.planted is None:
        assert result.verification["removed"] == 0
        return
    planted = [c for c in claims if c["text"] == turn.planted.text]
    assert planted, f"planted sentence not checked as one claim: {turn.planted.text!r}"
    for claim in planted:
        assert claim["status"] == turn.planted.status, (
            f"planted {turn.planted.text!r} marked {claim['status']} ({claim['reasons']} {claim['evidence']}), "
            f"expected {turn.planted.status}"
        )
        assert any(turn.planted.reason in r for r in claim["reasons"]), claim["reasons"]
    assert turn.planted.text not in result.answer, "a planted wrong claim reached the answer"
    assert result.verification["removed"] >= 1


@pytest.mark.postgres
@pytest.mark.parametrize("conversation", CONVERSATIONS, ids=lambda c: c.name)
async def test_conversation(conversation: Conversation, scripted_assistant: Callable[..., Assistant]) -> None:
    assistant = scripted_assistant(scripted_model(conversation))
    thread: str | None = None
    for turn in conversation.turns:
        result = await assistant.ask(turn.message, thread_id=thread)
        thread = result.thread_id
        check_routing(conversation, turn, result)
        check_classification(turn, result)
        check_verification(turn, result)
        # a planted claim removed, the correct ones kept: the commentary is kept in part; unless the one
        # revision (when too little survived) was supported whole
        removed_in_final = turn.planted is not None and not result.verification["revised"]
        expected = "partial" if removed_in_final else "verified"
        assert result.verification["verdict"] == expected, result.verification


def test_the_table_covers_every_system_and_enough_follow_ups() -> None:
    """The issue's floor: 30 conversations, 12 with follow-ups, every system, a planted claim in each."""
    assert len(CONVERSATIONS) >= 30
    assert len({c.name for c in CONVERSATIONS}) == len(CONVERSATIONS)
    follow_ups = [c for c in CONVERSATIONS if len(c.turns) > 1 and any(t.carried for t in c.turns[1:])]
    assert len(follow_ups) >= 12
    assert {t.system for c in CONVERSATIONS for t in c.turns} - {None} == CLASSIFICATION_TOOLS
    assert all(any(t.planted for t in c.turns) for c in CONVERSATIONS)
    for c in CONVERSATIONS:
        for t in c.turns:
            assert t.planted is None or t.planted.text not in t.correct
