"""Median time per classification call and per one-sentence extraction, for every registered system.

Targets: <= 100 µs per classification (`Tool.run`, validation included, as the agent and CLI call it),
<= 2 ms per extraction, and <= 10 ms to read and classify a 300-word report with four findings
(`tools.classify.report.read_report`: splitting, extraction, classification, branches). Systems are whatever the registry holds; sample inputs are picked by system name
below, and a system without a sample is skipped with a note. The last line is one JSON object.

    .venv/bin/python bench/classify.py [--classify-iterations N] [--extract-iterations N] [--report-iterations N]
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
    "thyroid_incidental": {
        "size_mm": 17,
        "age": 45,
        "suspicious_features": False,
        "limited_life_expectancy": False,
    },
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
    "thyroid_incidental": "CT neck, 45-year-old: incidental 1.7 cm left thyroid nodule, no abnormal lymph nodes.",
    "pancreatic_cyst": "1.1 cm pancreatic cyst without worrisome features or high-risk stigmata, 70-year-old.",
    "gallbladder_polyp": "8 mm sessile gallbladder polyp without adjacent wall thickening.",
}

REPORT_TARGET_MS = 10.0
# About 300 words, four findings (two lung nodules, an adrenal nodule, a renal cyst), normal organs and negations.
REPORT_300_WORDS = (
    "CT CHEST, ABDOMEN AND PELVIS WITH CONTRAST. CLINICAL INDICATION: 64-year-old former smoker with 30 "
    "pack-years, weight loss, no history of cancer. COMPARISON: None available. TECHNIQUE: Axial images were "
    "obtained from the thoracic inlet to the pubic symphysis after intravenous contrast, with coronal and "
    "sagittal reformats. Unenhanced images of the abdomen were also obtained. FINDINGS: The thyroid gland is "
    "unremarkable. The heart is normal in size. No pericardial effusion. The thoracic aorta is of normal "
    "caliber with mild atherosclerotic calcification. No mediastinal, hilar or axillary lymphadenopathy. "
    "Airways are patent. The esophagus is unremarkable. Small hiatal hernia. The lung bases show mild dependent "
    "atelectasis. Mild centrilobular emphysema in the upper lobes. Incidental 7 x 5 mm solid nodule "
    "in the RUL, image 54. A second 4 mm solid nodule in the LLL, image 88. No consolidation. No pleural "
    "effusion or pneumothorax. The liver is normal in size and attenuation without focal lesion. The "
    "gallbladder is unremarkable without stones. No biliary dilatation. The pancreas is normal without ductal "
    "dilatation. The spleen is normal. Left adrenal nodule measuring 2.2 cm, 35 HU on unenhanced images, no "
    "prior imaging for comparison. The right adrenal gland is normal. Simple-appearing 1.5 cm cyst in the "
    "upper pole of the left kidney measuring 12 HU on the unenhanced images. No hydronephrosis or renal "
    "calculi. The urinary bladder is unremarkable. The prostate is not enlarged. No free fluid. No "
    "retroperitoneal or pelvic lymphadenopathy. The abdominal aorta is normal in caliber. The bowel is normal "
    "in caliber without wall thickening. The appendix is normal. Degenerative changes of the lumbar spine "
    "with mild disc height loss at L4-L5. No suspicious osseous lesion. IMPRESSION: 1. Two solid pulmonary nodules, the larger 7 x 5 mm in the right upper lobe. "
    "2. Indeterminate 2.2 cm left adrenal nodule. 3. Simple-appearing left renal cyst. 4. Emphysema."
)


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
    parser.add_argument("--report-iterations", type=int, default=100)
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
    from tools.classify.report import read_report

    reading = read_report(REPORT_300_WORDS, registry=registry)
    words = len(REPORT_300_WORDS.split())
    report_ms = (
        median_ns(lambda: read_report(REPORT_300_WORDS, registry=registry), args.report_iterations) / 1e6
    )
    flag = "ok" if report_ms <= REPORT_TARGET_MS else "OVER TARGET"
    print(
        f"  whole report ({words} words, {len(reading.findings)} findings, {len(reading.ignored)} ignored): "
        f"{report_ms:8.3f} ms median to read and classify {flag}"
    )
    targets_met = (
        all(v <= CLASSIFY_TARGET_US for v in classify_us.values())
        and all(v <= EXTRACT_TARGET_MS for v in extract_ms.values())
        and report_ms <= REPORT_TARGET_MS
    )
    print(
        f"targets (classify <= {CLASSIFY_TARGET_US:g} µs, extract <= {EXTRACT_TARGET_MS:g} ms, "
        f"report <= {REPORT_TARGET_MS:g} ms) met: {targets_met}"
    )
    print(
        json.dumps(
            {
                "classify_us": classify_us,
                "extract_ms": extract_ms,
                "infer_ms": infer_ms,
                "skipped": skipped,
                "report_ms": round(report_ms, 3),
                "report_words": words,
                "report_findings": len(reading.findings),
                "targets": {
                    "classify_us": CLASSIFY_TARGET_US,
                    "extract_ms": EXTRACT_TARGET_MS,
                    "report_ms": REPORT_TARGET_MS,
                },
                "targets_met": targets_met,
            },
            ensure_ascii=False,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
