"""`radassist audit verify | export`: check the audit trail's hash chain; export records as JSON Lines."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    audit = sub.add_parser("audit", help="the audit trail (logins, reads, deletions, exports, admin actions)")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    verify = audit_sub.add_parser(
        "verify",
        help="recompute the hash chain; exit 1 and list the records that were changed or removed",
        description="Prints the number of records and the last record's hash: keep that line elsewhere "
        "(a removed tail of the trail leaves a valid, shorter chain).",
    )
    verify.set_defaults(func=cmd_verify)
    export = audit_sub.add_parser("export", help="write audit records as JSON Lines (mode 0600)")
    export.add_argument(
        "--since", metavar="WHEN", help="ISO date or time (2026-01-31, 2026-01-31T08:00Z) or an age (7d, 12h)"
    )
    export.add_argument("--out", required=True, type=Path, metavar="FILE.jsonl")
    export.set_defaults(func=cmd_export)


def _url() -> str:
    from agent.db import database_url, migrate
    from agent.settings import get_settings

    url = database_url(get_settings())
    migrate(url)
    return url


def cmd_verify(args: argparse.Namespace) -> int:
    from agent.db import connect
    from agent.security.audit import verify

    with connect(_url()) as conn:
        result = verify(conn)
    if result.intact:
        print(
            f"audit trail intact: {result.records} record(s); last record {result.last_seq}, hash {result.last_hash}"
        )
        return 0
    print(f"audit trail BROKEN ({len(result.problems)} problem(s) in {result.records} record(s)):")
    for problem in result.problems:
        print(f"  {problem}")
    return 1


def parse_since(text: str | None) -> datetime | None:
    """None, an ISO date/time (UTC unless it says otherwise) or an age such as 7d, as a datetime."""
    from agent.security.erasure import parse_age
    from common.errors import RadassistError

    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        try:
            return datetime.now(UTC) - parse_age(text)
        except RadassistError:
            raise RadassistError(
                f"--since {text!r}: give an ISO date or time (2026-01-31, 2026-01-31T08:00Z) or an age (7d, 12h)"
            ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def cmd_export(args: argparse.Namespace) -> int:
    from agent.db import connect
    from agent.security.audit import export, record_local

    since = parse_since(args.since)
    url = _url()
    with connect(url) as conn:
        count = export(conn, args.out, since)
    record_local(url, action="audit.export", detail={"records": count, "since": args.since or ""})
    print(f"exported {count} audit record(s) to {args.out}")
    return 0
