"""`radassist serve`: start the chat UI on http://127.0.0.1:8000 with the embedded defaults."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

APP = Path(__file__).resolve().parents[1] / "ui" / "app.py"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = sub.add_parser("serve", help="start the chat UI")
    serve.add_argument("--host", help="interface to bind (default 127.0.0.1; RADASSIST_HOST)")
    serve.add_argument("--port", type=int, help="port (default 8000; RADASSIST_PORT)")
    serve.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    from agent.gateway import load_models_config
    from agent.runtime import prepare_database
    from agent.settings import REPO_ROOT, get_settings
    from agent.ui.auth import ensure_auth_secret, ensure_first_account

    settings = get_settings()
    ensure_auth_secret(settings)  # before Chainlit is imported: it signs the login cookies
    load_models_config(settings.models_file, model_dir=settings.model_dir)  # fail fast, before the web server
    url = prepare_database(settings)
    first = ensure_first_account(url, settings)
    if first:
        print(f"radassist: first start: created the account 'admin'; its password is in {first}", flush=True)
        print(
            "radassist: add accounts with `radassist users add NAME`, change it with `radassist users passwd admin`"
        )
    host, port = args.host or settings.host, args.port or settings.port
    os.environ.update(CHAINLIT_APP_ROOT=str(REPO_ROOT), CHAINLIT_HOST=host, CHAINLIT_PORT=str(port))

    import chainlit.config
    from chainlit.cli import run_chainlit
    from chainlit.config import config

    # Chainlit keeps session files in APP_ROOT/.files and deletes that folder on shutdown: give each
    # server process its own, so stopping one server cannot break another one running beside it.
    files = settings.home / "chainlit-files" / str(os.getpid())
    files.mkdir(parents=True, exist_ok=True)
    chainlit.config.FILES_DIRECTORY = files
    config.run.headless = True
    print(f"radassist: chat UI on http://{host}:{port}", flush=True)
    run_chainlit(str(APP))
    return 0
