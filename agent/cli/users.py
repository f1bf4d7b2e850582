"""`radassist users add | list | disable | passwd`: the accounts that may log in to the chat UI."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agent.ui.auth import Account


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    users = sub.add_parser("users", help="manage chat UI accounts")
    users_sub = users.add_subparsers(dest="users_command", required=True, metavar="ACTION")

    add = users_sub.add_parser(
        "add",
        help="create an account",
        description="Create an account. The password is prompted for (twice) unless --password-stdin "
        "is given; it must be at least 12 characters and must not contain the user name.",
    )
    add.add_argument("name", metavar="NAME", help="login name: letters, digits, '.', '_', '@', '-'")
    add.add_argument("--role", choices=("clinician", "admin"), default="clinician", help="default: clinician")
    add.add_argument(
        "--password-stdin", action="store_true", help="read the password from the first line of stdin"
    )
    add.set_defaults(func=cmd_add)

    list_ = users_sub.add_parser("list", help="list accounts (name, role, status, creation date)")
    list_.set_defaults(func=cmd_list)

    disable = users_sub.add_parser(
        "disable", help="disable an account: no new logins, its sessions end at once; history kept"
    )
    disable.add_argument("name", metavar="NAME")
    disable.set_defaults(func=cmd_disable)

    passwd = users_sub.add_parser(
        "passwd", help="set a new password for an account (and re-enable it); its sessions end at once"
    )
    passwd.add_argument("name", metavar="NAME")
    passwd.add_argument(
        "--password-stdin", action="store_true", help="read the password from the first line of stdin"
    )
    passwd.set_defaults(func=cmd_passwd)


def _database_url() -> str:
    from agent.db import database_url, migrate
    from agent.settings import get_settings

    url = database_url(get_settings())
    migrate(url)  # the users table comes with the migrations
    return url


def _read_password(args: argparse.Namespace) -> str:
    from common.errors import RadassistError

    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise RadassistError("no terminal to prompt for a password: pass it with --password-stdin")
    import getpass

    password = getpass.getpass(f"password for {args.name}: ")
    if getpass.getpass("repeat the password: ") != password:
        raise RadassistError("password: the two entries differ")
    return password


def _audited(url: str, action: str, name: str, change: Callable[[], Account], **detail: object) -> Account:
    """Run an account change and record it in the audit trail, whether it succeeds or not."""
    from agent.security.audit import record_local
    from common.errors import RadassistError

    try:
        account = change()
    except RadassistError:
        record_local(url, action=action, target=name, result="failure", detail=dict(detail))
        raise
    record_local(url, action=action, target=account.identifier, detail=dict(detail))
    return account


def cmd_add(args: argparse.Namespace) -> int:
    from agent.ui.auth import add_user, check_identifier, check_password_strength

    check_identifier(args.name)
    password = _read_password(args)
    check_password_strength(password, args.name)  # before touching the database
    url = _database_url()
    account = _audited(
        url, "users.add", args.name, lambda: add_user(url, args.name, password, args.role), role=args.role
    )
    print(f"added {account.identifier} ({account.role})")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from agent.ui.auth import list_users

    accounts = list_users(_database_url())
    if not accounts:
        print("no accounts yet: create one with `radassist users add NAME --role admin`")
        return 0
    width = max(len(a.identifier) for a in accounts)
    for account in accounts:
        status = "disabled" if account.disabled else "active"
        created = account.created_at.strftime("%Y-%m-%d")
        print(f"{account.identifier:<{width}}  {account.role:<9}  {status:<8}  {created}")
    return 0


def cmd_disable(args: argparse.Namespace) -> int:
    from agent.ui.auth import disable_user

    url = _database_url()
    account = _audited(url, "users.disable", args.name, lambda: disable_user(url, args.name))
    print(f"disabled {account.identifier}")
    return 0


def cmd_passwd(args: argparse.Namespace) -> int:
    from agent.ui.auth import check_password_strength, set_password

    password = _read_password(args)
    check_password_strength(password, args.name)
    url = _database_url()
    account = _audited(url, "users.passwd", args.name, lambda: set_password(url, args.name, password))
    print(f"password set for {account.identifier}")
    return 0
