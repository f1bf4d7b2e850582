"""`radassist keys create | list | revoke`: per-user keys for the OpenAI-compatible API (agent/api/)."""

from __future__ import annotations

import argparse
from datetime import datetime


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keys = sub.add_parser("keys", help="API keys for the OpenAI-compatible API (/v1)")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    create = keys_sub.add_parser(
        "create",
        help="make a key for an account (printed once; only its hash is stored)",
        description="Make an API key that acts as NAME. The key is printed once and cannot be shown again. "
        "It stops working when it expires, when it is revoked, or while the account is disabled.",
    )
    create.add_argument("name", metavar="NAME", help="the account the key acts as")
    create.add_argument(
        "--expires",
        default="90d",
        metavar="AGE",
        help="lifetime, e.g. 30d, 12h, 2w (default 90d); 'never' for a key that does not expire",
    )
    create.set_defaults(func=cmd_create)
    list_ = keys_sub.add_parser("list", help="keys with their account, status, expiry and last use")
    list_.add_argument("name", nargs="?", metavar="NAME", help="only this account's keys")
    list_.set_defaults(func=cmd_list)
    revoke = keys_sub.add_parser("revoke", help="revoke a key at once (by id or by its shown prefix)")
    revoke.add_argument("key", metavar="ID|PREFIX")
    revoke.set_defaults(func=cmd_revoke)


def _url() -> str:
    from agent.db import database_url, migrate
    from agent.settings import get_settings

    url = database_url(get_settings())
    migrate(url)
    return url


def cmd_create(args: argparse.Namespace) -> int:
    from agent.api.keys import create_key, key_secret
    from agent.security.audit import record_local
    from agent.security.erasure import parse_age
    from agent.settings import get_settings
    from common.errors import RadassistError

    lifetime = (
        None if args.expires.strip().lower() == "never" else parse_age(args.expires, option="--expires")
    )
    url = _url()
    try:
        made, key = create_key(url, key_secret(get_settings()), args.name, lifetime)
    except RadassistError:
        record_local(url, action="keys.create", target=args.name, result="failure")
        raise
    record_local(url, action="keys.create", target=made.identifier, detail={"key": made.prefix})
    expiry = f"expires {made.expires_at:%Y-%m-%d %H:%M %Z}" if made.expires_at else "never expires"
    print(key)
    print(f"API key {made.prefix}... for {made.identifier}, {expiry} (id {made.id}).")
    print("Store it now: it cannot be shown again. Clients send it as 'Authorization: Bearer <key>'.")
    return 0


def _when(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M}" if value else "-"


def cmd_list(args: argparse.Namespace) -> int:
    from agent.api.keys import list_keys

    found = list_keys(_url(), args.name)
    if not found:
        print("no API keys yet: make one with `radassist keys create NAME`")
        return 0
    width = max(len(k.identifier) for k in found)
    print(
        f"{'ID':<36}  {'USER':<{width}}  {'KEY':<12}  {'STATUS':<16}  {'CREATED':<16}  {'EXPIRES':<16}  LAST USED"
    )
    for k in found:
        print(
            f"{k.id:<36}  {k.identifier:<{width}}  {k.prefix:<12}  {k.status:<16}  {_when(k.created_at):<16}"
            f"  {_when(k.expires_at):<16}  {_when(k.last_used_at)}"
        )
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    from agent.api.keys import revoke_key
    from agent.security.audit import record_local
    from common.errors import RadassistError

    url = _url()
    try:
        revoked = revoke_key(url, args.key)
    except RadassistError:
        record_local(url, action="keys.revoke", target="", result="failure")
        raise
    record_local(url, action="keys.revoke", target=revoked.identifier, detail={"key": revoked.prefix})
    print(f"revoked API key {revoked.prefix}... of {revoked.identifier}: refused from now on")
    return 0
