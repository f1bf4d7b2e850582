"""`radassist models list|test|reload`: what each alias resolves to, a live check of one alias, and a
validated models.yaml swapped into every running server without a restart (agent/live.py)."""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import datetime


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    models = sub.add_parser("models", help="inspect and test the models in models.yaml")
    models_sub = models.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    models_sub.add_parser("list", help="list aliases and what they resolve to").set_defaults(func=cmd_list)
    test = models_sub.add_parser("test", help="send one short request through an alias")
    test.add_argument("alias")
    test.add_argument("--prompt", default="Name one imaging modality that uses ionising radiation.")
    test.set_defaults(func=cmd_test)
    reload = models_sub.add_parser(
        "reload",
        help="validate models.yaml and make every running server use it, without a restart",
        description="Validate models.yaml here, then signal every radassist server on this database "
        "(PostgreSQL NOTIFY). Each server validates its own copy of the file and swaps it in: turns in "
        "flight finish on the old configuration, new turns use the new one. A file a server refuses "
        "leaves it on its old configuration. Waits for each server to answer.",
    )
    reload.add_argument(
        "--wait", type=float, default=60.0, metavar="SECONDS", help="how long to wait (default 60)"
    )
    reload.set_defaults(func=cmd_reload)


def cmd_list(args: argparse.Namespace) -> int:
    from agent.gateway import load_models_config
    from agent.settings import get_settings

    settings = get_settings()
    config = load_models_config(settings.models_file, model_dir=settings.model_dir)
    print(f"models file: {settings.models_file}")
    for entry in config.model_list:
        params = entry.litellm_params
        where = "local" if entry.is_local else "REMOTE (data leaves this machine)"
        mode = entry.model_info.get("mode", "chat")
        demo = "  (demo model: proves the path, not the quality)" if entry.is_demo else ""
        print(f"{entry.model_name:<20} {mode:<10} {where:<8}  {params.model}{demo}")
    for alias in config.aliases():
        if config.leaves_machine(alias):
            if config.allows_phi(alias):
                policy = "receives patient identifiers (allow_phi: true)"
            elif fallback := config.phi_fallback(alias):
                policy = f"text with patient identifiers goes to {fallback} instead"
            else:
                policy = "text with patient identifiers is not sent (no local fallback)"
            print(f"{alias}: {policy}")
    return 0


def cmd_test(args: argparse.Namespace) -> int:
    from agent.gateway import Gateway
    from agent.settings import get_settings

    settings = get_settings()
    gateway = Gateway.from_file(settings.models_file, model_dir=settings.model_dir)
    entry = gateway.config.entry(args.alias)
    start = time.perf_counter()
    if entry.model_info.get("mode") == "embedding":
        vectors = asyncio.run(gateway.aembed(args.alias, [args.prompt]))
        print(
            f"{args.alias}: embedding of dimension {len(vectors[0])} in {time.perf_counter() - start:.2f} s"
        )
    else:
        messages = [{"role": "user", "content": args.prompt}]
        text = asyncio.run(gateway.acomplete(args.alias, messages, max_tokens=32))
        print(f"{args.alias}: {text.strip()!r} ({time.perf_counter() - start:.2f} s)")
    print(f"resolved: {gateway.describe(args.alias)}")
    if entry.is_demo:
        print(
            f"note: {args.alias} is marked as a demo model (model_info.demo in {settings.models_file}): "
            "expect weak text; bind a capable model there for useful commentary."
        )
    from agent.db import database_url, migrate
    from agent.security.audit import record_local

    try:
        url = database_url(settings)
        migrate(url)
        record_local(
            url,
            action="models.test",
            target=args.alias,
            detail={"remote": gateway.config.leaves_machine(args.alias)},
        )
    except Exception as exc:  # the database is not needed to test a model; say so, do not fail
        print(f"(not recorded in the audit trail: {type(exc).__name__})")
    return 0


def cmd_reload(args: argparse.Namespace) -> int:
    from agent.db import connect, database_url, migrate
    from agent.gateway import load_models_config
    from agent.live import ALIVE_SECONDS, CHANNEL, notify_payload
    from agent.security.audit import cli_actor, record_local
    from agent.settings import get_settings
    from common.errors import RadassistError

    settings = get_settings()
    url = database_url(settings)
    migrate(url)
    try:
        config = load_models_config(settings.models_file, model_dir=settings.model_dir)
    except RadassistError as exc:
        record_local(url, action="models.reload", target=str(settings.models_file), result="failure",
                     detail={"error": str(exc)[:200], "trigger": "command"})  # fmt: skip
        raise
    sha = config.sha256 or ""

    def notify() -> datetime:
        with connect(url, autocommit=True) as conn:
            conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, notify_payload(sha, cli_actor())))
            return conn.execute("SELECT now()").fetchone()[0]  # type: ignore[index,no-any-return]

    sent = notify()
    record_local(url, action="models.reload", target=str(settings.models_file),
                 detail={"sha256": sha, "trigger": "command"})  # fmt: skip
    print(f"{settings.models_file} is valid (sha256 {sha[:12]}); asked every running server to use it")
    last_sent = time.monotonic()
    deadline = last_sent + args.wait
    while True:
        with connect(url) as conn:
            rows = conn.execute(
                "SELECT id, models_sha256, reload_error, reload_error_sha256, reload_error_at FROM app_instances"
                " WHERE seen_at > now() - make_interval(secs => %s) ORDER BY id",
                (ALIVE_SECONDS,),
            ).fetchall()
        done = {r[0]: r for r in rows if r[1] == sha or (r[3] == sha and r[4] is not None and r[4] >= sent)}
        if len(done) == len(rows) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
        if time.monotonic() - last_sent > 5:  # a server that was (re)connecting did not hear it
            notify()
            last_sent = time.monotonic()
    if not rows:
        print("no running server on this database: servers started from now on use this file")
        return 0
    status = 0
    for instance, serving, error, _, _ in rows:
        if serving == sha:
            print(f"  {instance}: serving {sha[:12]}")
        elif instance in done:
            print(f"  {instance}: refused it, still serving {serving[:12]}: {error}")
            status = 1
        else:
            print(f"  {instance}: no answer within {args.wait:g} s (still serving {serving[:12]})")
            status = 1
    return status
