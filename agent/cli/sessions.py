"""`radassist sessions list | revoke`: open login sessions, and ending all of one account's at once."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sessions = sub.add_parser("sessions", help="open login sessions of the chat UI")
    sessions_sub = sessions.add_subparsers(dest="sessions_command", required=True, metavar="ACTION")
    list_ = sessions_sub.add_parser(
        "list", help="open sessions (account, client address, login, last activity)"
    )
    list_.add_argument("name", nargs="?", metavar="NAME", help="only this account's")
    list_.set_defaults(func=cmd_list)
    revoke = sessions_sub.add_parser(
        "revoke", help="end every session of an account at once (open chat windows are disconnected)"
    )
    revoke.add_argument("name", metavar="NAME")
    revoke.set_defaults(func=cmd_revoke)


def _url() -> str:
    from agent.db import database_url, migrate
    from agent.settings import get_settings

    url = database_url(get_settings())
    migrate(url)
    return url


def cmd_list(args: argparse.Namespace) -> int:
    from agent.db import connect
    from agent.security.sessions import SessionPolicy, list_sessions
    from agent.settings import get_settings

    with connect(_url()) as conn:
        found = list_sessions(conn, SessionPolicy.from_settings(get_settings()), args.name)
    if not found:
        print("no open sessions")
        return 0
    width = max(len(s.identifier) for s in found)
    for s in found:
        print(
            f"{s.identifier:<{width}}  {s.client or '-':<15}  since {s.created_at:%Y-%m-%d %H:%M}"
            f"  last active {s.last_seen_at:%Y-%m-%d %H:%M}"
        )
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    from agent.db import connect
    from agent.security.audit import record_local
    from agent.security.sessions import revoke_user_sessions
    from common.errors import RadassistError

    url = _url()
    with connect(url) as conn:
        if conn.execute("SELECT 1 FROM users WHERE identifier = %s", (args.name,)).fetchone() is None:
            raise RadassistError(f"no user named {args.name!r} (see `radassist users list`)")
        ended = revoke_user_sessions(conn, args.name, "revoked by an administrator")
    record_local(url, action="sessions.revoke", target=args.name, detail={"sessions": ended})
    print(f"ended {ended} session(s) of {args.name}")
    return 0
