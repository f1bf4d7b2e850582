"""Scores: case verdicts, the answer metrics, suite summaries, and the comparison with a baseline.

Answer metrics (per model under test and RAG mode):

* groundedness: of every claim the model drafted (all rounds), the share verification kept
  (supported, or flagged as not verified);
* high-risk error rate: the share of turns in which the model's final draft, or the answer delivered
  to the clinician, states a category, follow-up interval or size threshold that contradicts the
  tool result or the case's key. A category is judged per system against the computed category (or
  the key's); a category of another system than the one the finding was classified with is wrong;
  an interval must be one of the computed management's intervals when a tool decided the finding;
  a size must appear in the question, a tool result or a cited passage. Categories, intervals and
  sizes are read with the verifier's own parsers (`agent.verify`), so both read text the same way;
  the verifier never judges its own output here: the draft is checked against the key;
* correct-refusal rate: of the unanswerable cases (`cannot_answer: true`), the share refused; and the
  false-refusal rate on the answerable ones;
* time to first token (the drafting request to its first token) and time per turn: p50 and p95
  by the nearest-rank method; tokens per second: the drafting streams' tokens after the first, over
  the time after the first token.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from agent.verify import categories, interval_months, intervals, sizes_mm
from tools.registry import CategorySpelling

DEFAULT_MARGIN = 0.02
"""An accuracy drop of more than this (absolute, 2 percentage points) is a regression."""
DEFAULT_RISK_MARGIN = 0.0
"""A high-risk error rate above the baseline's by more than this is a regression (any rise by default)."""

KEPT = ("supported", "flagged")

_DASHES = str.maketrans({"–": "-", "—": "-", "−": "-", "‐": "-", "≥": ">=", "≤": "<="})


def normalise(text: str | None) -> str:
    """Lower case, one dash style, single spaces: how categories and phrases are compared."""
    return re.sub(r"\s+", " ", (text or "").translate(_DASHES)).strip().casefold()


def same_category(found: str | None, expected: str | None) -> bool:
    return normalise(found) == normalise(expected)


def contains_any(text: str | None, phrases: Iterable[str]) -> bool:
    haystack = normalise(text)
    return any(normalise(p) in haystack for p in phrases)


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile (p in 0..100): always one of the measured values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


# --- judging one answer --------------------------------------------------------------------------

_NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?![\w.])")


def _numbers(text: str) -> set[float]:
    return {float(n) for n in _NUMBER.findall(text)} | sizes_mm(text)


@dataclass
class Reference:
    """What a statement in an answer is held to: the computed results and the case's key."""

    categories: dict[str, str]
    """System -> category the tools computed in this turn."""
    key: str | None
    unanswerable: bool
    intervals: set[tuple[float, ...]] | None
    """Months of the computed management's intervals; None when no tool decided anything."""
    numbers: set[float]
    spellings: Mapping[str, CategorySpelling]
    """How each system's categories are written (`ToolRegistry.category_spellings()`), as the verifier reads them."""
    stated: set[str] = field(default_factory=set)
    """Intervals the question itself states ("58-year-old", "12 months ago"): repeating them is no error."""

    def allowed(self, system: str) -> str | None:
        """The category a statement about `system` must give; None when nothing says."""
        single = system in self.categories and len(self.categories) == 1
        if self.key is not None and (single or not self.categories):
            return self.key  # the key is the truth for the finding's system
        return self.categories.get(system)


def statement_errors(text: str, ref: Reference) -> list[str]:
    """The high-risk errors in one statement: wrong category, interval or size threshold."""
    errors: list[str] = []
    for system, mentioned in categories(text, ref.spellings).items():
        allowed = ref.allowed(system)
        if allowed is None:
            if ref.categories or ref.key is not None:
                known = ", ".join(sorted(ref.categories)) or "the key's system"
                errors.append(f"states {system} {'/'.join(sorted(mentioned))}, but the finding is {known}")
            elif ref.unanswerable:
                errors.append(f"states {system} {'/'.join(sorted(mentioned))} for an unanswerable question")
            continue
        wrong = sorted(m for m in mentioned if not same_category(m, allowed))
        if wrong:
            errors.append(f"states {system} {'/'.join(wrong)}, but it is {allowed}")
    for value in sorted(intervals(text) - ref.stated):
        if ref.unanswerable:
            errors.append(f"states an interval ({value}) for an unanswerable question")
        elif ref.intervals is not None and interval_months(value) not in ref.intervals:
            errors.append(f"states the interval {value}, not in the computed management")
    for size in sorted(sizes_mm(text)):
        if size not in ref.numbers:
            errors.append(f"states a size threshold of {size:g} mm found in no tool result or passage")
    return errors


@dataclass
class Judged:
    categories: list[dict[str, Any]]
    sources: list[str]
    refused: bool
    reasons: list[str] = field(default_factory=list)
    measures: dict[str, Any] = field(default_factory=dict)


def _decided(result: Any) -> list[dict[str, Any]]:
    outputs = [c.get("output") or {} for c in result.tool_calls if c["tool"] != "guideline_search"]
    return [o for o in outputs if o.get("system") and o.get("category") and "citation" in o]


def is_refusal(result: Any) -> bool:
    """The agent's 'cannot answer': that verdict, or an answer with no result, passage or tool output.

    The second form is exactly when the agent answers with `agent.answer.cannot_answer` (no decided
    classification, no relevant passage, no other tool's output), so no wording is matched.
    """
    if result.verification.get("verdict") == "cannot_answer":
        return True
    outputs = [c["output"] for c in result.tool_calls if c["tool"] != "guideline_search" and c.get("output")]
    decided = any(o.get("category") or o.get("not_applicable") for o in outputs if "citation" in o)
    other = any("citation" not in o for o in outputs)
    return not result.citations and not decided and not other


def _final_claims(claims: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The claims of each expert's last round: the model's final draft."""
    last: dict[str, int] = {}
    for c in claims:
        last[c.get("expert", "")] = max(last.get(c.get("expert", ""), 0), int(c.get("round", 1)))
    return [c for c in claims if int(c.get("round", 1)) == last[c.get("expert", "")]]


def judge_answer(
    question: str,
    expected: Any,
    result: Any,
    spellings: Mapping[str, CategorySpelling],
    *,
    drafts: dict[str, str] | None = None,
    rag: bool = True,
) -> Judged:
    """Check a turn against its key and measure it (claims, errors, refusal, latency, speed).

    `spellings` are the registry's category spellings. `drafts` are the model's final drafts per expert, as it wrote them (`suites.DraftRecorder`); the
    verifier's claims leave out short sentences such as "Lung-RADS 1.", so they are not the model's words.
    Without retrieval (`rag` False) nothing can be cited, so a `source_any` key asks for an answer
    instead of a citation: the turn must not decline.
    """
    decided = _decided(result)
    sources = [c["source"] for c in result.citations]
    refused = is_refusal(result)
    verification = result.verification
    claims = list(verification.get("claims", []))
    final = _final_claims(claims)
    shown = [] if verification.get("fallback_to_grounded") else [c for c in final if c["status"] in KEPT]

    management = " ".join(str(d.get("management") or "") for d in decided)
    tool_text = " ".join(
        " ".join([str(d.get("management") or ""), *map(str, d.get("rationale") or []),
                  *(f"{k} {v}" for k, v in (d.get("inputs") or {}).items())])
        for d in decided
    )  # fmt: skip
    passages = " ".join(c.get("text", "") for c in result.citations)
    ref = Reference(
        categories={d["system"]: d["category"] for d in decided},
        key=expected.category,
        unanswerable=bool(expected.cannot_answer),
        intervals={interval_months(v) for v in intervals(management)} if decided else None,
        numbers=_numbers(question) | _numbers(tool_text) | _numbers(passages),
        spellings=spellings,
        stated=intervals(question),
    )
    written = list(drafts.values()) if drafts is not None else [c["text"] for c in final]
    draft_errors = [e for text in written for e in statement_errors(text, ref)]
    delivered_errors = [e for c in shown for e in statement_errors(c["text"], ref)]
    if (
        expected.category is not None
        and decided
        and not any(same_category(d["category"], expected.category) for d in decided)
    ):
        stated = "; ".join(f"{d['system']} {d['category']}" for d in decided)
        delivered_errors.insert(0, f"the answer states {stated}, but the key is {expected.category}")
    if expected.cannot_answer and decided:
        stated = "; ".join(f"{d['system']} {d['category']}" for d in decided)
        delivered_errors.insert(0, f"the answer states {stated} for an unanswerable question")

    reasons: list[str] = []
    if expected.category is not None and not any(
        same_category(d["category"], expected.category) for d in decided
    ):
        if not decided:
            reasons.append(f"no category decided; the key is {expected.category}")
    if expected.source_any is not None and rag and not set(sources) & set(expected.source_any):
        reasons.append(
            f"cited {', '.join(sources) or 'no source'}; expected one of {', '.join(expected.source_any)}"
        )
    if expected.source_any is not None and not rag and refused:
        reasons.append("declined without retrieval (the key names a guideline source)")
    if expected.cannot_answer is True and not refused:
        reasons.append("answered a question it should have declined")
    if expected.cannot_answer is False and refused:
        reasons.append("declined an answerable question")
    reasons += [f"delivered answer: {e}" for e in delivered_errors]
    reasons += [f"model draft: {e}" for e in dict.fromkeys(draft_errors)]

    calls = result.provenance.get("model_calls", [])
    streams = [c for c in calls if c["kind"] == "stream" and c.get("tokens")]
    timed = [c for c in streams if c.get("first_token_ms") is not None and c["tokens"] >= 2]
    measures = {
        "drafted": bool(streams),
        "claims": len(claims),
        "kept": sum(c["status"] in KEPT for c in claims),
        "supported": sum(c["status"] == "supported" for c in claims),
        "draft_high_risk": draft_errors,
        "delivered_high_risk": delivered_errors,
        "high_risk": bool(draft_errors or delivered_errors),
        "refused": refused,
        "unanswerable": bool(expected.cannot_answer),
        "answerable": expected.cannot_answer is not True,
        "ttft_ms": streams[0].get("first_token_ms") if streams else None,
        "turn_ms": result.provenance.get("timings_ms", {}).get("total"),
        "decode_tokens": sum(c["tokens"] - 1 for c in timed),
        "decode_ms": round(sum(c["ms"] - c["first_token_ms"] for c in timed), 2),
        "drafting_alias": sorted({c["alias"] for c in streams}),
    }
    return Judged(
        categories=[{"system": d["system"], "category": d["category"]} for d in decided],
        sources=list(dict.fromkeys(sources)),
        refused=refused,
        reasons=reasons,
        measures=measures,
    )


# --- summaries -----------------------------------------------------------------------------------


def _accuracy(rows: list[dict[str, Any]]) -> dict[str, Any]:
    passed = sum(r["passed"] for r in rows)
    return {
        "cases": len(rows),
        "passed": passed,
        "accuracy": _rate(passed, len(rows)),
        "errors": sum(r.get("error") is not None for r in rows),
    }


def _by_system(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[bool]] = defaultdict(list)
    for r in rows:
        if r["suite"] == "findings":
            for f in r["measures"].get("per_finding", []):
                groups[f["system"]].append(f["matched"])
        else:
            for system in r["systems"]:
                groups[system].append(r["passed"])
    return {
        s: {"cases": len(v), "passed": sum(v), "accuracy": _rate(sum(v), len(v))}
        for s, v in sorted(groups.items())
    }


def suite_summary(suite: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    summary = _accuracy(rows)
    if suite in ("classification", "findings"):
        summary["by_system"] = _by_system(rows)
    if suite == "findings":
        expected = sum(r["measures"].get("expected", 0) for r in rows)
        matched = sum(r["measures"].get("matched", 0) for r in rows)
        summary.update(findings=expected, findings_matched=matched, finding_recall=_rate(matched, expected))
    if suite == "routing":
        summary["in_chosen"] = _rate(sum(bool(r["measures"].get("in_chosen")) for r in rows), len(rows))
        confusion: dict[str, Counter[str]] = defaultdict(Counter)
        for r in rows:
            confusion[r["expected"]["expert"]][r["measures"].get("top1") or "(error)"] += 1
        summary["confusion"] = {k: dict(v) for k, v in sorted(confusion.items())}
    if suite == "retrieval":
        ranks = [r["measures"].get("rank") for r in rows]
        summary["hit_at_1"] = _rate(sum(k == 1 for k in ranks), len(rows))
        summary["mrr"] = round(sum(1 / k for k in ranks if k) / len(rows), 4) if rows else None
        summary["evidence"] = _rate(sum(bool(r["measures"].get("evidence")) for r in rows), len(rows))
    if suite == "answers":
        summary["runs"] = [answers_run(model, rag, group) for (model, rag), group in _runs(rows).items()]
    return summary


def _runs(rows: list[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    runs: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        runs[(r["model"], r["rag"])].append(r)
    return dict(runs)


def answers_run(model: str, rag: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The answer metrics of one model under test in one RAG mode."""
    ok = [r for r in rows if r.get("error") is None]
    m = [r["measures"] for r in ok]
    unanswerable = [x for x in m if x["unanswerable"]]
    answerable = [x for x in m if x["answerable"]]
    ttft = [x["ttft_ms"] for x in m if x.get("ttft_ms") is not None]
    turn = [x["turn_ms"] for x in m if x.get("turn_ms") is not None]
    decode_ms = sum(x["decode_ms"] for x in m)
    run = {
        "model": model,
        "rag": rag,
        **_accuracy(rows),
        "drafted": sum(x["drafted"] for x in m),
        "model_errors": sum(bool(x.get("model_errors")) for x in m),
        "claims": sum(x["claims"] for x in m),
        "groundedness": _rate(sum(x["kept"] for x in m), sum(x["claims"] for x in m)),
        "supported_share": _rate(sum(x["supported"] for x in m), sum(x["claims"] for x in m)),
        "high_risk_errors": sum(x["high_risk"] for x in m),
        "high_risk_error_rate": _rate(sum(x["high_risk"] for x in m), len(m)),
        "delivered_high_risk_error_rate": _rate(sum(bool(x["delivered_high_risk"]) for x in m), len(m)),
        "unanswerable": len(unanswerable),
        "correct_refusal_rate": _rate(sum(x["refused"] for x in unanswerable), len(unanswerable)),
        "answerable": len(answerable),
        "false_refusal_rate": _rate(sum(x["refused"] for x in answerable), len(answerable)),
        "ttft_ms": {"p50": percentile(ttft, 50), "p95": percentile(ttft, 95), "n": len(ttft)},
        "turn_ms": {"p50": percentile(turn, 50), "p95": percentile(turn, 95), "n": len(turn)},
        "tokens_per_s": round(sum(x["decode_tokens"] for x in m) / (decode_ms / 1000), 2)
        if decode_ms
        else None,
    }
    if model == "configured":
        by_alias: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r in ok:
            for alias in r["measures"].get("drafting_alias") or ["(no draft)"]:
                by_alias[alias].append(r)
        run["by_alias"] = {
            alias: {
                **_accuracy(group),
                "groundedness": _rate(sum(r["measures"]["kept"] for r in group),
                                      sum(r["measures"]["claims"] for r in group)),
                "high_risk_error_rate": _rate(sum(r["measures"]["high_risk"] for r in group), len(group)),
            }
            for alias, group in sorted(by_alias.items())
        }  # fmt: skip
    return run


def summarize(outcomes: list[dict[str, Any]]) -> dict[str, Any]:
    """Per suite: cases, accuracy and the suite's own figures; answers per model and RAG mode."""
    suites: dict[str, Any] = {}
    for suite in dict.fromkeys(o["suite"] for o in outcomes):
        suites[suite] = suite_summary(suite, [o for o in outcomes if o["suite"] == suite])
    return {
        "cases": len(outcomes),
        "passed": sum(o["passed"] for o in outcomes),
        "errors": sum(o.get("error") is not None for o in outcomes),
        "suites": suites,
    }


# --- comparison with a baseline ------------------------------------------------------------------


def _case_key(o: dict[str, Any]) -> tuple[str, ...]:
    return (o["suite"], o["id"], o.get("rag") or "")


def compare(
    baseline: list[dict[str, Any]],
    current: list[dict[str, Any]],
    *,
    margin: float = DEFAULT_MARGIN,
    risk_margin: float = DEFAULT_RISK_MARGIN,
) -> dict[str, Any]:
    """Compare on the cases both runs share; list the regressions (accuracy drop, more high-risk errors).

    Answers are compared per model under test and RAG mode; a model the baseline does not have (a
    candidate alias) is compared with the baseline's model when the baseline has only one.
    """
    rows: list[dict[str, Any]] = []
    regressions: list[str] = []

    def add(
        suite: str, run: str | None, metric: str, before: Any, after: Any, cases: int, worse: bool
    ) -> None:
        delta = None if before is None or after is None else round(after - before, 4)
        rows.append({"suite": suite, "run": run, "metric": metric, "baseline": before, "current": after,
                     "delta": delta, "cases": cases, "regression": worse})  # fmt: skip
        if worse:
            label = f"{suite}{f' ({run})' if run else ''}"
            regressions.append(
                f"{label}: {metric} {before} -> {after} (margin {margin if 'accuracy' in metric else risk_margin})"
            )

    for suite in dict.fromkeys(o["suite"] for o in current if o["suite"] != "answers"):
        base = {_case_key(o): o for o in baseline if o["suite"] == suite}
        now = [o for o in current if o["suite"] == suite and _case_key(o) in base]
        if not now:
            continue
        before = _accuracy([base[_case_key(o)] for o in now])["accuracy"]
        after = _accuracy(now)["accuracy"]
        add(suite, None, "accuracy", before, after, len(now), after < before - margin)

    base_runs = _runs([o for o in baseline if o["suite"] == "answers"])
    base_models = sorted({m for m, _ in base_runs})
    for (model, rag), group in _runs([o for o in current if o["suite"] == "answers"]).items():
        match = model if (model, rag) in base_runs else (base_models[0] if len(base_models) == 1 else None)
        if match is None or (match, rag) not in base_runs:
            continue
        base = {_case_key(o): o for o in base_runs[(match, rag)]}
        now = [o for o in group if _case_key(o) in base]
        if not now:
            continue
        b = answers_run(match, rag, [base[_case_key(o)] for o in now])
        c = answers_run(model, rag, now)
        run = f"{model} vs {match}, RAG {rag}" if match != model else f"{model}, RAG {rag}"
        acc_b, acc_c = b["accuracy"], c["accuracy"]
        add("answers", run, "accuracy", acc_b, acc_c, len(now), acc_c < acc_b - margin)
        for metric in ("high_risk_error_rate", "delivered_high_risk_error_rate"):
            before, after = b[metric] or 0.0, c[metric] or 0.0
            add("answers", run, metric, before, after, len(now), after > before + risk_margin)
        for metric in ("groundedness", "correct_refusal_rate"):
            add("answers", run, metric, b[metric], c[metric], len(now), False)
    return {"margin": margin, "risk_margin": risk_margin, "rows": rows, "regressions": regressions}
