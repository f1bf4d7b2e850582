"""`radassist classify` and `radassist tools`: run a classification system from JSON or free text.

    radassist classify SYSTEM --input FILE.json [--json]      inputs keyed as in `radassist tools schema SYSTEM`
    radassist classify [SYSTEM] --text "FINDINGS" [--json]     extraction, then classification
    radassist tools list                                       name, kind, version, description
    radassist tools schema NAME                                the tool's input JSON schema

A classification that needs more inputs, or does not apply, is still a result (exit 0): it lists the
missing fields or the reason. Problems the user can fix (unknown system, unreadable file, invalid
values, findings that fit no system) are one line via RadassistError (exit 2).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from common.errors import RadassistError

if TYPE_CHECKING:
    from tools.classify.base import ClassificationResult, Extraction
    from tools.registry import Tool, ToolRegistry


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    classify = sub.add_parser(
        "classify",
        help="classify findings with a deterministic system (JSON inputs or free text)",
        description="Run a classification system (e.g. bi_rads, fleischner) on JSON inputs or free-text findings.",
    )
    classify.add_argument(
        "system", nargs="?", metavar="SYSTEM", help="system name (inferred from --text if omitted)"
    )
    source = classify.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--input", metavar="FILE.json", help="JSON object of inputs ('-' reads standard input)"
    )
    source.add_argument("--text", metavar="FINDINGS", help="free-text findings to extract the inputs from")
    classify.add_argument("--json", action="store_true", help="print the result as one JSON object")
    classify.set_defaults(func=cmd_classify)

    tools = sub.add_parser("tools", help="list the registered tools or show a tool's input schema")
    tools_sub = tools.add_subparsers(dest="tools_command", required=True, metavar="ACTION")
    tools_sub.add_parser("list", help="name, kind, version and description of every tool").set_defaults(
        func=cmd_tools_list
    )
    schema = tools_sub.add_parser("schema", help="JSON schema of a tool's input")
    schema.add_argument("name", metavar="SYSTEM")
    schema.set_defaults(func=cmd_tools_schema)


def _registry() -> ToolRegistry:
    from agent.settings import get_settings
    from tools import load_tools

    return load_tools(get_settings().plugins)


def cmd_classify(args: argparse.Namespace) -> int:
    from agent.progress import ready
    from tools.classify.findings import FindingsError, classification_tool, classify_text

    registry = _registry()
    ready()
    try:
        if args.input is not None:
            if not args.system:
                raise RadassistError(
                    "give the system with --input: radassist classify SYSTEM --input FILE.json"
                )
            t = classification_tool(args.system, registry=registry)
            result = _run(t, _read_inputs(args.input))
            extraction = None
        else:
            extraction, result = classify_text(args.text, args.system, registry=registry)
    except FindingsError as exc:
        raise RadassistError(str(exc)) from exc
    if args.json:
        print(json.dumps(_payload(result, extraction), ensure_ascii=False, indent=2))
    else:
        print(_report(result, extraction))
    return 0


def _read_inputs(path: str) -> dict[str, Any]:
    name = "standard input" if path == "-" else repr(path)
    try:
        raw = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise RadassistError(f"cannot read input file {name}: {reason}") from exc
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise RadassistError(
            f"input file {name} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from exc
    if not isinstance(data, dict):
        raise RadassistError(
            f"input file {name} must hold a JSON object of inputs, not a {type(data).__name__}"
        )
    return data


def _run(t: Tool, inputs: dict[str, Any]) -> ClassificationResult:
    from tools.registry import ToolInputError

    try:
        return cast("ClassificationResult", t.run(inputs))
    except ToolInputError as exc:
        hint = ""
        if any("Extra inputs" in p for p in exc.problems):
            hint = f" (allowed inputs: {', '.join(t.input_model.model_fields)})"
        raise RadassistError(f"invalid input for {t.name}: {'; '.join(exc.problems)}{hint}") from exc


def _payload(result: ClassificationResult, extraction: Extraction | None) -> dict[str, Any]:
    """The stable JSON shape: the required keys first, extra detail after."""
    return {
        "system": result.system,
        "category": result.category,
        "management": result.management,
        "rationale": result.rationale,
        "citation": result.citation,
        "missing": result.missing,
        "not_applicable": result.not_applicable,
        "extracted": dict(extraction.inputs) if extraction else {},
        "guideline": result.guideline,
        "modifiers": result.modifiers,
        "risk": result.risk,
        "caveats": result.caveats,
        "inputs": result.inputs,
        "details": result.details,
        "evidence": dict(extraction.evidence) if extraction else {},
        "undetermined": list(extraction.undetermined) if extraction else [],
    }


def _report(result: ClassificationResult, extraction: Extraction | None) -> str:
    lines = [f"{result.system} ({result.guideline})"]
    if result.category is not None:
        modifiers = f" {' '.join(result.modifiers)}" if result.modifiers else ""
        lines.append(f"Category: {result.category}{modifiers}")
        if result.management:
            lines.append(f"Management: {result.management}")
        if result.risk:
            lines.append(f"Risk: {result.risk}")
    if result.not_applicable:
        lines.append(f"Not applicable: {result.not_applicable}")
    if result.missing:
        lines.append(f"Missing: {', '.join(result.missing)}")
    if extraction is not None and extraction.inputs:
        lines.append("Read from the text:")
        for key, value in extraction.inputs.items():
            evidence = extraction.evidence.get(key)
            lines.append(f"  - {key} = {value}" + (f'  ("{evidence}")' if evidence else ""))
    if extraction is not None and extraction.undetermined:
        lines.append(f"Not settled by the text: {', '.join(extraction.undetermined)}")
    if result.rationale:
        lines.append("Rules:")
        lines.extend(f"  - {line}" for line in result.rationale)
    if result.caveats:
        lines.append("Caveats:")
        lines.extend(f"  - {line}" for line in result.caveats)
    lines.append(f"Citation: {result.citation}")
    return "\n".join(lines)


def cmd_tools_list(args: argparse.Namespace) -> int:
    tools = _registry().all()
    if not tools:
        print("no tools registered")
        return 0
    name_width = max(len(t.name) for t in tools)
    kind_width = max(len(t.kind) for t in tools)
    version_width = max(len(t.version) for t in tools)
    for t in tools:
        print(
            f"{t.name:<{name_width}}  {t.kind:<{kind_width}}  {t.version:<{version_width}}  {t.description}"
        )
    return 0


def cmd_tools_schema(args: argparse.Namespace) -> int:
    registry = _registry()
    if args.name not in registry:
        raise RadassistError(f"unknown tool {args.name!r}; registered tools: {', '.join(registry.names())}")
    print(json.dumps(registry.get(args.name).input_schema(), ensure_ascii=False, indent=2))
    return 0
