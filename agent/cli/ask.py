"""`radassist ask` (one message) and `radassist chat` (a terminal chat with streaming and follow-ups)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

USER_HELP = (
    "the account the conversation belongs to; it appears in that account's chat UI sidebar "
    "(default: the account named like the operating-system user)"
)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ask = sub.add_parser("ask", help="ask one question (add --thread to follow up)")
    ask.add_argument("message")
    ask.add_argument("--thread", help="continue this conversation (thread id printed by earlier answers)")
    ask.add_argument("--expert", help="answer as this expert instead of letting the gate choose")
    ask.add_argument("--user", help=USER_HELP)
    ask.add_argument(
        "--json", action="store_true", help="print the answer, experts, tool calls, citations as JSON"
    )
    ask.set_defaults(func=cmd_ask)
    chat = sub.add_parser("chat", help="terminal chat with streaming and follow-ups")
    chat.add_argument("--thread", help="resume this conversation")
    chat.add_argument("--expert", help="always answer as this expert")
    chat.add_argument("--user", help=USER_HELP)
    chat.set_defaults(func=cmd_chat)


def cmd_ask(args: argparse.Namespace) -> int:
    return asyncio.run(_ask(args))


def _say_notice(notice: str | None) -> None:
    if notice:
        print(f"radassist: note: {notice}", file=sys.stderr, flush=True)


def cli_account(url: str, name: str | None) -> str:
    """The account a command-line conversation belongs to: `--user`, else the operating-system user's."""
    import getpass

    from agent.db import connect
    from common.errors import RadassistError

    given = name is not None
    if name is None:
        try:
            name = getpass.getuser()
        except Exception:  # no user name in the environment or the password database
            raise RadassistError(
                "cannot tell who you are: pass --user NAME (an account of `radassist users list`)"
            ) from None
    with connect(url) as conn:
        row = conn.execute(
            "SELECT identifier, disabled FROM users WHERE lower(identifier) = lower(%s)", (name,)
        ).fetchone()
    if row is None:
        hint = "" if given else " (the operating-system user); pass --user NAME"
        raise RadassistError(
            f"no account named {name!r}{hint}, or create it with `radassist users add {name}` "
            "(conversations belong to an account and appear in its chat UI sidebar)"
        )
    if row[1]:
        raise RadassistError(f"account {row[0]!r} is disabled")
    return str(row[0])


class _Conversation:
    """One command-line conversation: its account, thread and chat history."""

    def __init__(self, runtime: Any, owner: str, thread: str | None) -> None:
        import uuid

        from agent.history import History

        self.runtime, self.owner = runtime, owner
        self.thread, self.new = thread or str(uuid.uuid4()), thread is None
        self.history = History(runtime.pool)

    async def check(self) -> _Conversation:
        """Refuse, before anything runs, a --thread that belongs to another account."""
        from agent.history import check_thread

        if not self.new:
            self.new = not await check_thread(self.runtime.pool, self.thread, self.owner)
        return self

    async def ask(self, assistant: Any, message: str, expert: str | None, on_event: Any = None) -> Any:
        import uuid

        from agent.history import Message

        question = Message("user", message)
        answer_id = str(uuid.uuid4())
        result = await assistant.ask(
            message, thread_id=self.thread, expert=expert, on_event=on_event, message_id=answer_id
        )
        answer = Message("assistant", result.answer, id=answer_id)
        await self.history.record(self.thread, self.owner, [question, answer], new=self.new)
        self.new = False
        return result


async def _ask(args: argparse.Namespace) -> int:
    from agent.answer import verdict_text
    from agent.assistant import open_assistant
    from agent.progress import ready
    from agent.runtime import open_runtime
    from common.errors import RadassistError

    async with open_runtime() as runtime:
        owner = cli_account(runtime.database_url, args.user)
        conversation = await _Conversation(runtime, owner, args.thread).check()
        async with open_assistant(runtime) as assistant:
            _say_notice(assistant.notice)
            ready()
            try:
                result = await conversation.ask(assistant, args.message, args.expert)
            except ValueError as exc:
                raise RadassistError(str(exc)) from exc
    if args.json:
        print(json.dumps(result.as_json(), indent=2, default=str))
    else:
        print(result.answer)
        experts = ", ".join(f"{e['name']} {e['weight']:.2f}" for e in result.experts[:3])
        print(
            f"\nVerification ({result.verification['verdict']}): {verdict_text(result.verification['verdict'])}"
        )
        print(f"[experts: {experts}; thread {result.thread_id}]")
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    return asyncio.run(_chat(args))


class _ChatView:
    """While a turn runs, a transient live view (what is known so far, the draft being verified);
    then the verified answer, printed once, rendered from Markdown."""

    def __init__(self, console: Any) -> None:
        self.console = console
        self.known = ""
        self.draft = ""
        self.stage = "routing"
        self.live: Any = None

    def __enter__(self) -> _ChatView:
        from rich.live import Live

        if not self.console.is_terminal:  # piped: only the answer is printed
            return self
        self.live = Live(self._render(), console=self.console, transient=True, refresh_per_second=8)
        self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.__exit__(*exc)

    def _render(self) -> Any:
        from rich.console import Group
        from rich.markdown import Markdown
        from rich.text import Text

        parts: list[Any] = [Text(f"... {self.stage}", style="dim")]
        if self.known:
            parts.append(Markdown(self.known))
        if self.draft:
            parts.append(Text(f"model draft, being verified: {self.draft}", style="dim italic"))
        return Group(*parts)

    async def on_event(self, event: dict[str, Any]) -> None:
        kind = event["event"]
        if kind == "preview":
            self.known = event["text"]
        elif kind == "token":
            self.stage = "drafting"
            self.draft += event["text"]
        elif kind == "step":
            self.stage = {"gate": "gathering tools and guidelines", "verification": "finishing"}.get(
                event["name"], self.stage
            )
            if event["name"] == "gate":
                self.stage += f" (expert: {', '.join(event['data']['chosen'])})"
        if self.live is not None:
            self.live.update(self._render())


def _hard_breaks(text: str) -> str:
    """Keep the answer's line structure (Markdown would join "Management:" onto the heading line)."""
    lines = text.split("\n")
    out = []
    for line, following in zip(lines, [*lines[1:], ""], strict=True):
        joins = line.strip() and following.strip() and not following.lstrip().startswith(("-", "*", "|"))
        out.append(line + "  " if joins else line)
    return "\n".join(out)


async def _chat(args: argparse.Namespace) -> int:
    from rich.console import Console

    from agent.assistant import open_assistant
    from agent.runtime import open_runtime

    console = Console()
    async with open_runtime() as runtime:
        owner = cli_account(runtime.database_url, args.user)
        conversation = await _Conversation(runtime, owner, args.thread).check()
        async with open_assistant(runtime) as assistant:
            await _chat_loop(console, assistant, conversation, args.expert)
    return 0


async def _chat_loop(console: Any, assistant: Any, conversation: _Conversation, expert: str | None) -> None:
    from rich.markdown import Markdown

    from agent.answer import verdict_text

    _say_notice(assistant.notice)
    console.print("radassist chat: type a question, empty line or Ctrl-D to quit.", style="dim")
    while True:
        try:
            message = await asyncio.to_thread(input, "\n> ")
        except EOFError:
            break
        if not message.strip():
            break
        try:
            with _ChatView(console) as view:
                result = await conversation.ask(assistant, message, expert, view.on_event)
        except ValueError as exc:
            console.print(f"radassist: {exc}", style="red")
            continue
        console.print(Markdown(_hard_breaks(result.answer)))
        verdict = result.verification["verdict"]
        console.print(f"Verification ({verdict}): {verdict_text(verdict)}", style="dim", markup=False)
        console.print(f"[thread {result.thread_id}]", style="dim", markup=False)
