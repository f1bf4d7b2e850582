"""A feature denied after its mention ("spiculation is not seen", "microcalcifications are absent") is not read
as present, in every extractor: read as present, it would raise the category.

Found by probing after the list fix: Lung-RADS gave 4X for "7 mm solid nodule, spiculation is not seen" (3),
TI-RADS TR5 for "... Microcalcifications are absent." (the foci are absent: TR4 with foci stated, or a
question), and O-RADS read "solid component is not seen" as a solid component.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pydantic import BaseModel

from tools.classify import lung_rads, o_rads, ti_rads
from tools.classify.base import ClassificationResult, Extraction

SYSTEMS: dict[
    str, tuple[Callable[[str], Extraction], type[BaseModel], Callable[[Any], ClassificationResult]]
] = {
    "lung_rads": (lung_rads.extract, lung_rads.LungRadsInput, lung_rads.classify),
    "o_rads": (o_rads.extract, o_rads.ORadsInput, o_rads.classify),
    "ti_rads": (ti_rads.extract, ti_rads.TiRadsInput, ti_rads.classify),
}


def category(system: str, text: str) -> str | None:
    extract, model, classify = SYSTEMS[system]
    return classify(model(**extract(text).inputs)).category


@pytest.mark.parametrize(
    ("system", "text", "expected"),
    [
        # Lung-RADS v2022, baseline solid 6 to < 8 mm = 3; spiculation stated would make 4X.
        ("lung_rads", "Baseline screening CT, 7 mm solid nodule, spiculation is not seen.", "3"),
        ("lung_rads", "Baseline screening CT, 7 mm solid nodule, spiculation is seen.", "4X"),
        # O-RADS US v2022: unilocular smooth cyst < 10 cm, premenopausal = 2.
        (
            "o_rads",
            "Premenopausal, 4 cm unilocular ovarian cyst with smooth inner wall; solid component is not seen.",
            "2",
        ),
    ],
)
def test_a_feature_denied_after_it_is_absent(system: str, text: str, expected: str) -> None:
    assert category(system, text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Thyroid nodule 1.5 cm, solid, hypoechoic, smooth margins, wider-than-tall. Microcalcifications are absent.",
        "Thyroid nodule 1.5 cm, solid, hypoechoic, smooth margins, wider-than-tall. Echogenic foci are not seen.",
    ],
)
def test_denied_echogenic_foci_never_give_tr5(text: str) -> None:
    # ACR TI-RADS 2017: solid 2 + hypoechoic 2 = 4 points (TR4) without foci; punctate foci (+3) would give TR5.
    assert category("ti_rads", text) in (None, "TR4")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # LI-RADS v2018: 15 mm (10-19 mm) nonrim APHE with one additional major feature (capsule) = LR-4;
        # without it LR-3. A capsule "not seen on the prior" is a new capsule, stated now.
        (
            "Cirrhosis. 15 mm observation with nonrim APHE and enhancing capsule, not seen on the prior exam. No washout.",
            "LR-4",
        ),
        (
            "Cirrhosis. 15 mm observation with nonrim APHE; enhancing capsule not seen previously. No washout.",
            "LR-4",
        ),
    ],
)
def test_not_seen_on_the_prior_means_new_not_absent(text: str, expected: str) -> None:
    from tools.classify import li_rads

    assert li_rads.classify(li_rads.LiRadsInput(**li_rads.extract(text).inputs)).category == expected


@pytest.mark.parametrize(
    "text",
    [
        "Annual screening LDCT: a new 7 mm solid nodule that was not present last year. Lung-RADS?",
        "Annual screening LDCT: a new 7 mm solid nodule, not seen a year ago.",
        "Annual screening LDCT: a new 7 mm solid nodule, not present on the last screen.",
    ],
)
def test_not_present_last_year_means_new_not_absent(text: str) -> None:
    """Found by `radassist eval`: "not present last year" denied the nodule, so no category was decided.
    Lung-RADS v2022: a new solid nodule of 6 to < 8 mm is 4A."""
    assert category("lung_rads", text) == "4A"
