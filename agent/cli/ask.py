"""`radassist ask` (one message) and `radassist chat` (a terminal chat with streaming and follow-ups)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ask = sub.add_parser("ask", help="ask one question (add --thread to follow up)")
    ask.add_argument("message")
    ask.add_argument("--thread", help="continue this conversation (thread id printed by earlier answers)")
    ask.add_argument("--expert", help="answer as this expert instead of letting the gate choose")
    ask.add_argument(
        "--json", action="store_true", help="print the answer, experts, tool calls, citations as JSON"
    )
    ask.set_defaults(func=cmd_ask)
    chat = sub.add_parser("chat", help="terminal chat with streaming and follow-ups")
    chat.add_argument("--thread", help="resume this conversation")
    chat.add_argument("--expert", help="always answer as this expert")
    chat.set_defaults(func=cmd_chat)


def cmd_ask(args: argparse.Namespace) -> int:
    return asyncio.run(_ask(args))


async def _ask(args: argparse.Namespace) -> int:
    from agent.assistant import open_assistant
    from agent.runtime import open_runtime
    from common.errors import RadassistError

    async with open_runtime() as runtime, open_assistant(runtime) as assistant:
        try:
            result = await assistant.ask(args.message, thread_id=args.thread, expert=args.expert)
        except ValueError as exc:
            raise RadassistError(str(exc)) from exc
    if args.json:
        print(json.dumps(result.as_json(), indent=2, default=str))
    else:
        print(result.answer)
        experts = ", ".join(f"{e['name']} {e['weight']:.2f}" for e in result.experts[:3])
        print(f"\n[{result.verification['verdict']}; experts: {experts}; thread {result.thread_id}]")
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    return asyncio.run(_chat(args))


async def _chat(args: argparse.Namespace) -> int:
    from agent.assistant import open_assistant
    from agent.runtime import open_runtime

    drafting = False

    async def show(event: dict[str, Any]) -> None:
        nonlocal drafting
        if event["event"] == "preview":
            print(f"{event['text']}\n", flush=True)
        elif event["event"] == "token":
            if not drafting:
                drafting = True
                print("[model draft, being verified] ", end="")
            sys.stdout.write(event["text"])
            sys.stdout.flush()
        elif event["event"] == "step" and event["name"] == "gate":
            chosen = ", ".join(event["data"]["chosen"])
            print(f"[gate: {chosen}]", flush=True)
        elif event["event"] == "step" and event["name"] == "verification":
            drafting = False

    thread = args.thread
    async with open_runtime() as runtime, open_assistant(runtime) as assistant:
        print("radassist chat: type a question, empty line or Ctrl-D to quit.")
        while True:
            try:
                message = await asyncio.to_thread(input, "\n> ")
            except EOFError:
                break
            if not message.strip():
                break
            try:
                result = await assistant.ask(message, thread_id=thread, expert=args.expert, on_event=show)
            except ValueError as exc:
                print(f"radassist: {exc}")
                continue
            thread = result.thread_id
            print(
                f"\n\n=== verified answer ===\n{result.answer}\n[{result.verification['verdict']}; thread {thread}]"
            )
    return 0
