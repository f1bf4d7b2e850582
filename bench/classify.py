"""Median time per classification call and per one-sentence extraction, for every registered system.

Targets: <= 100 µs per classification (`Tool.run`, validation included, as the agent and CLI call it) and
<= 2 ms per extraction. Systems are whatever the registry holds; sample inputs are picked by system name
below, and a system without a sample is skipped with a note. The last line is one JSON object.

    .venv/bin/python bench/classify.py [--classify-iterations N] [--extract-iterations N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

from common import offline

offline.apply()  # an entry point: every library stays offline and quiet

CLASSIFY_TARGET_US = 100.0
EXTRACT_TARGET_MS = 2.0

# Representative valid inputs that walk a full decision path (not an early "missing" exit).
CLASSIFY_SAMPLES: dict[str, dict[str, Any]] = {
    "bi_rads": {"assessment": "4B", "modality": "mri", "exam_type": "diagnostic"},
    "adrenal_incidentaloma": {
        "size_mm": 25,
        "unenhanced_hu": 30,
        "enhanced_hu": 100,
        "delayed_hu": 80,
        "prior_imaging": "none",
        "cancer_history": False,
    },
    "renal_incidentaloma": {"homogeneous": True, "unenhanced_hu": 45},
}

# One-sentence findings per system; also the source of classification inputs for systems that have no
# entry in CLASSIFY_SAMPLES (used only when the extraction validates and decides a category).
TEXT_SAMPLES: dict[str, str] = {
    "fleischner": "Incidental solitary 7 x 5 mm solid pulmonary nodule in the right upper lobe of a low-risk 60-year-old.",
    "lung_rads": "Baseline screening LDCT: 7 mm solid nodule in the left lower lobe.",
    "ti_rads": "1.8 cm solid hypoechoic thyroid nodule, wider than tall, smooth margins, no echogenic foci.",
    "li_rads": "2.2 cm liver observation in cirrhosis with nonrim APHE and nonperipheral washout.",
    "bi_rads": "Diagnostic mammogram: BI-RADS 4B irregular mass in the left breast.",
    "bosniak": "Cystic renal mass with a thin smooth wall and two thin smooth enhancing septa, no enhancing nodule.",
    "pi_rads": "1.2 cm peripheral zone lesion, DWI score 4, T2W score 3, no DCE enhancement.",
    "o_rads": "Unilocular smooth simple cyst of the right ovary measuring 4 cm in a premenopausal woman.",
    "adrenal_incidentaloma": "1.8 cm left adrenal nodule measuring 8 HU on unenhanced CT.",
    "renal_incidentaloma": "Homogeneous 2 cm renal mass measuring 35 HU on unenhanced CT.",
}


def median_ns(func: Callable[[], object], iterations: int) -> float:
    """Median wall time of one call in nanoseconds, after a short warm-up."""
    for _ in range(min(50, iterations)):
        func()
    samples = []
    for _ in range(iterations):
        start = time.perf_counter_ns()
        func()
        samples.append(time.perf_counter_ns() - start)
    return statistics.median(samples)


def classify_input(name: str, t: Any) -> tuple[dict[str, Any] | None, str]:
    """The sample input for a system, or one derived from its text sample; (None, why) when there is none."""
    if name in CLASSIFY_SAMPLES:
        return CLASSIFY_SAMPLES[name], "sample"
    text = TEXT_SAMPLES.get(name)
    if text is None or t.extractor is None:
        return None, "no sample input yet"
    inputs = t.extractor(text).inputs
    try:
        result = t.run(inputs)
    except ValueError as exc:
        return None, f"no sample input; its text sample's extraction does not validate ({type(exc).__name__})"
    if getattr(result, "category", None) is None:
        return None, "no sample input; its text sample's extraction does not decide a category"
    return inputs, "derived from the text sample"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classify-iterations", type=int, default=3000)
    parser.add_argument("--extract-iterations", type=int, default=300)
    args = parser.parse_args()

    from agent.settings import get_settings
    from tools import load_tools
    from tools.classify.findings import infer_system

    registry = load_tools(get_settings().plugins)
    systems = registry.of_kind("classification")
    print(f"{len(systems)} classification system(s): {', '.join(t.name for t in systems)}")
    classify_us: dict[str, float] = {}
    extract_ms: dict[str, float] = {}
    infer_ms: dict[str, float] = {}
    skipped: dict[str, str] = {}
    for t in systems:
        inputs, source = classify_input(t.name, t)
        if inputs is None:
            skipped[f"classify:{t.name}"] = source
            print(f"  {t.name:<24} classify: skipped ({source})")
        else:
            us = median_ns(lambda t=t, inputs=inputs: t.run(inputs), args.classify_iterations) / 1000
            classify_us[t.name] = round(us, 1)
            flag = "ok" if us <= CLASSIFY_TARGET_US else "OVER TARGET"
            print(f"  {t.name:<24} classify: {us:8.1f} µs median ({source}) {flag}")
        text = TEXT_SAMPLES.get(t.name)
        if text is None or t.extractor is None:
            why = "no text sample yet" if text is None else "no extractor"
            skipped[f"extract:{t.name}"] = why
            print(f"  {t.name:<24} extract:  skipped ({why})")
            continue
        extractor = t.extractor
        ms = median_ns(lambda extractor=extractor, text=text: extractor(text), args.extract_iterations) / 1e6
        extract_ms[t.name] = round(ms, 3)
        flag = "ok" if ms <= EXTRACT_TARGET_MS else "OVER TARGET"
        print(f"  {t.name:<24} extract:  {ms:8.3f} ms median {flag}")
        infer = (
            median_ns(lambda text=text: infer_system(text, registry=registry), args.extract_iterations) / 1e6
        )
        infer_ms[t.name] = round(infer, 3)
        print(f"  {t.name:<24} infer:    {infer:8.3f} ms median (all systems ranked; no target)")
    targets_met = all(v <= CLASSIFY_TARGET_US for v in classify_us.values()) and all(
        v <= EXTRACT_TARGET_MS for v in extract_ms.values()
    )
    print(
        f"targets (classify <= {CLASSIFY_TARGET_US:g} µs, extract <= {EXTRACT_TARGET_MS:g} ms) met: {targets_met}"
    )
    print(
        json.dumps(
            {
                "classify_us": classify_us,
                "extract_ms": extract_ms,
                "infer_ms": infer_ms,
                "skipped": skipped,
                "targets": {"classify_us": CLASSIFY_TARGET_US, "extract_ms": EXTRACT_TARGET_MS},
                "targets_met": targets_met,
            },
            ensure_ascii=False,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
