"""`radassist eval`: measure this deployment (tools, gate, retrieval, models) on known cases.

    radassist eval [--suite NAME ...] [--cases FILE.jsonl ...] [--alias ALIAS ...] [--rag on|off|both]
                   [--limit N] [--out DIR] [--json] [--compare BASELINE.json] [--fail-on-regression]
                   [--margin M] [--risk-margin M]

Writes DIR/results.json and DIR/report.html (default DIR: $RADASSIST_HOME/eval/<time>/), prints a summary
(with --json: one JSON object on the last line), shows a progress bar per suite on stderr. Exit status:
0 done; 1 a regression against the baseline with --fail-on-regression; 2 a problem with the command's
input (unknown suite or alias, unreadable case file or baseline); 130 interrupted (results.json then
holds the cases that finished). A bad line in a case file is reported (file, line, field) and skipped.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from common.errors import RadassistError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ev = sub.add_parser(
        "eval",
        help="measure this deployment's tools, gate, retrieval and models on known cases",
        description="Run the evaluation suites (classification, findings, routing, retrieval, answers) "
        "or your own JSONL cases against this deployment; write results.json and a self-contained report.html.",
    )
    ev.add_argument(
        "--suite",
        action="append",
        default=[],
        metavar="NAME",
        help="classification, findings, routing, retrieval or answers (repeatable; default: all)",
    )
    ev.add_argument(
        "--cases",
        action="append",
        default=[],
        type=Path,
        metavar="FILE.jsonl",
        help="your own cases (repeatable); they run instead of the shipped suites",
    )
    ev.add_argument(
        "--alias",
        action="append",
        default=[],
        metavar="ALIAS",
        help="a models.yaml chat alias to draft every answer (repeatable; default: each expert's own alias)",
    )
    ev.add_argument(
        "--rag", choices=("on", "off", "both"), default="on", help="answers with retrieval, without, or both"
    )
    ev.add_argument("--limit", type=int, metavar="N", help="at most N cases per suite (a quick run)")
    ev.add_argument("--out", type=Path, metavar="DIR", help="where results.json and report.html go")
    ev.add_argument("--json", action="store_true", help="print the summary as one JSON object (last line)")
    ev.add_argument("--compare", type=Path, metavar="BASELINE.json", help="a previous run's results.json")
    ev.add_argument(
        "--fail-on-regression",
        action="store_true",
        help="exit 1 when the high-risk error rate rises or a suite's accuracy falls by more than the margin",
    )
    ev.add_argument(
        "--margin",
        type=float,
        default=None,
        metavar="M",
        help="accuracy drop that counts as a regression, as a fraction (default 0.02: 2 points)",
    )
    ev.add_argument(
        "--risk-margin",
        type=float,
        default=None,
        metavar="M",
        help="high-risk error rate rise that counts as a regression, as a fraction (default 0: any rise)",
    )
    ev.set_defaults(func=cmd_eval)


class _Bars:
    """One progress bar per suite, on stderr (never on stdout, which carries the summary)."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(
            TextColumn("{task.description:<15}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
        )
        self.tasks: dict[str, Any] = {}

    def start(self, name: str, total: int) -> None:
        if not self.tasks:
            self.progress.start()
        self.tasks[name] = self.progress.add_task(name, total=total)

    def advance(self, name: str) -> None:
        self.progress.advance(self.tasks[name])

    def stop(self) -> None:
        if self.tasks:
            self.progress.stop()


def _fraction(value: float | None, flag: str) -> float | None:
    if value is not None and not 0 <= value <= 1:
        raise RadassistError(f"{flag} is a fraction between 0 and 1 (0.02 means 2 points), not {value}")
    return value


def cmd_eval(args: argparse.Namespace) -> int:
    from agent.eval import metrics
    from agent.eval.run import Options, default_out_dir, run
    from agent.settings import get_settings

    if args.fail_on_regression and args.compare is None:
        raise RadassistError("--fail-on-regression needs --compare BASELINE.json")
    margin = _fraction(args.margin, "--margin")
    risk_margin = _fraction(args.risk_margin, "--risk-margin")
    out: Path = args.out or default_out_dir(get_settings())
    options = Options(
        suites=list(dict.fromkeys(args.suite)),
        case_files=args.cases,
        aliases=list(dict.fromkeys(args.alias)),
        rag=args.rag,
        limit=args.limit,
        out=out,
        compare=args.compare,
        margin=metrics.DEFAULT_MARGIN if margin is None else margin,
        risk_margin=metrics.DEFAULT_RISK_MARGIN if risk_margin is None else risk_margin,
    )
    bars = _Bars()

    def case_error(error: Any) -> None:
        print(f"radassist: skipped a case: {error}", file=sys.stderr, flush=True)

    try:
        results = asyncio.run(run(options, progress=bars, on_case_error=case_error))
    except KeyboardInterrupt:
        bars.stop()
        partial = out / "results.json"
        if partial.exists():
            print(f"radassist: interrupted; the finished cases are in {partial}", file=sys.stderr)
        raise
    finally:
        bars.stop()
    comparison = results.get("comparison")
    regressions = comparison["regressions"] if comparison else []
    if args.json:
        print(json.dumps(_summary_json(out, results)))
    else:
        print(_summary_text(out, results))
    return 1 if args.fail_on_regression and regressions else 0


def _summary_json(out: Path, results: dict[str, Any]) -> dict[str, Any]:
    comparison = results.get("comparison")
    return {
        "results": str(out / "results.json"),
        "report": str(out / "report.html"),
        "complete": results["complete"],
        "case_errors": len(results.get("case_errors", [])),
        "summary": results["summary"],
        "regressions": comparison["regressions"] if comparison else None,
    }


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _summary_text(out: Path, results: dict[str, Any]) -> str:
    summary = results["summary"]
    lines = [f"{summary['cases']} cases, {summary['passed']} passed ({results['drafting']})", ""]
    lines.append(f"{'suite':<15} {'cases':>6} {'passed':>7} {'accuracy':>9}")
    for suite, s in summary["suites"].items():
        lines.append(f"{suite:<15} {s['cases']:>6} {s['passed']:>7} {_pct(s['accuracy']):>9}")
    runs = summary["suites"].get("answers", {}).get("runs", [])
    if runs:
        lines += [
            "",
            "answers: model, RAG, accuracy, groundedness, high-risk errors, correct refusals, turn p50",
        ]
        for r in runs:
            turn = r["turn_ms"]["p50"]
            lines.append(
                f"  {r['model']}, RAG {r['rag']}: {_pct(r['accuracy'])}, {_pct(r['groundedness'])}, "
                f"{_pct(r['high_risk_error_rate'])}, {_pct(r['correct_refusal_rate'])}, "
                f"{'-' if turn is None else f'{turn / 1000:.1f} s'}"
            )
    comparison = results.get("comparison")
    if comparison:
        lines.append("")
        lines += [f"REGRESSION: {r}" for r in comparison["regressions"]] or [
            "No regression against the baseline."
        ]
    if results.get("case_errors"):
        lines.append(f"\n{len(results['case_errors'])} case line(s) skipped (see above and the report).")
    lines += ["", f"results: {out / 'results.json'}", f"report:  {out / 'report.html'}"]
    return "\n".join(lines)
