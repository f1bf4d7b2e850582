"""`radassist findings`: classify every finding in a report, each with its own system.

    radassist findings --text "REPORT" [--json]
    radassist findings --file REPORT.txt [--json]     ('-' reads standard input)

Prints a markdown table (finding, system, category, management, the rule that fired), then per finding what
was assumed, the branches and the questions; with --json one object {"findings": [...], "ignored": [...]}.
A report with no classifiable finding is still a result (exit 0). An unreadable file is one line (exit 2).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from common.errors import RadassistError

if TYPE_CHECKING:
    from tools.classify.report import ReportReading

MAX_CHARS = 200_000  # a report, not a book: refuse larger input instead of running for minutes


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    findings = sub.add_parser(
        "findings",
        help="classify every finding in a report (each with its own system)",
        description="Split a report into findings, classify each with its own system, and list what was "
        "not classified and why.",
    )
    source = findings.add_mutually_exclusive_group(required=True)
    source.add_argument("--text", metavar="REPORT", help="the report or impression text")
    source.add_argument(
        "--file", metavar="FILE", help="a UTF-8 text file with the report ('-' reads standard input)"
    )
    findings.add_argument("--json", action="store_true", help='print {"findings": [...], "ignored": [...]}')
    findings.set_defaults(func=cmd_findings)


def _read_text(args: argparse.Namespace) -> str:
    text: str
    if args.text is not None:
        text = args.text
    else:
        name = "standard input" if args.file == "-" else repr(args.file)
        try:
            text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
            raise RadassistError(f"cannot read report file {name}: {reason}") from exc
    if not text.strip():
        raise RadassistError("the report is empty: give the report text with --text or --file")
    if len(text) > MAX_CHARS:
        raise RadassistError(f"the report has {len(text)} characters; the limit is {MAX_CHARS}")
    return text


def cmd_findings(args: argparse.Namespace) -> int:
    from agent.settings import get_settings
    from tools import load_tools
    from tools.classify.report import read_report

    text = _read_text(args)
    reading = read_report(text, registry=load_tools(get_settings().plugins))
    if args.json:
        print(json.dumps(reading.as_json(), ensure_ascii=False, indent=2))
    else:
        print(_report(reading))
    return 0


def _report(reading: ReportReading) -> str:
    if not reading.findings:
        lines = ["No classifiable finding in this report."]
    else:
        lines = [reading.table()]
    for f in reading.findings:
        notes = []
        notes += [f"assumed: {a}" for a in f.assumptions]
        notes += [f"if {b.if_}: {b.category} ({b.management})" for b in f.branches]
        notes += [f"question: {q}" for q in f.questions]
        if notes:
            lines.append(f"\n#{f.number} {f.label()} ({f.guideline}):")
            lines.extend(f"  - {n}" for n in notes)
    if reading.ignored:
        lines.append("\nNot classified:")
        lines.extend(f'  - "{i.text}": {i.why}' for i in reading.ignored)
    return "\n".join(lines)
