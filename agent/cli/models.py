"""`radassist models list|test`: what each alias resolves to, and a live check of one alias."""

from __future__ import annotations

import argparse
import asyncio
import time


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    models = sub.add_parser("models", help="inspect and test the models in models.yaml")
    models_sub = models.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    models_sub.add_parser("list", help="list aliases and what they resolve to").set_defaults(func=cmd_list)
    test = models_sub.add_parser("test", help="send one short request through an alias")
    test.add_argument("alias")
    test.add_argument("--prompt", default="Name one imaging modality that uses ionising radiation.")
    test.set_defaults(func=cmd_test)


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
