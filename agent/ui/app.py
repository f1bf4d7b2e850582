"""Chainlit app: the clinician's chat, a thin adapter over `agent.assistant.Assistant`.

Each graph event becomes something visible: the gate, every tool call, the retrieval and the
verification are collapsible steps; draft tokens stream into the answer, which is then replaced by
the verified answer with its sources as side elements. The LangGraph thread is Chainlit's thread
id, so a resumed conversation keeps its memory.
"""

from __future__ import annotations

import json
import logging
import re
from contextlib import AsyncExitStack
from typing import Any

from common import offline

offline.apply()  # Chainlit runs this file as the app: an entry point, set before the libraries load

import chainlit as cl
import chainlit.server
from chainlit.input_widget import InputWidget, Select
from chainlit.types import ThreadDict

import agent.ui.evaluation  # noqa: F401  (the admins' Evaluation page)
from agent import capabilities
from agent.api import routes as api  # the OpenAI-compatible API under /v1
from agent.assistant import Assistant, open_assistant, prepare_drafting_experts
from agent.db import release_embedded
from agent.gateway import record_egress
from agent.gateway.phi import EgressDecision
from agent.live import LiveAssistant, describe, serve_reloads
from agent.runtime import Runtime, open_runtime
from agent.ui import export, security  # login, sessions, persistence, isolation, origins, headers
from agent.ui.draft_filter import DraftFilter
from agent.ui.page import add_before_page
from agent.ui.render import (
    gate_markdown,
    retrieval_markdown,
    source_elements,
    verification_line,
    verification_markdown,
)

log = logging.getLogger(__name__)

AUTOMATIC = "automatic (gate)"
DEFAULT_MODEL = "each expert's own alias"
_state: dict[str, Any] = {}


add_before_page(chainlit.server.app, api.route())
add_before_page(chainlit.server.app, export.route(security.data_layer(), security.record))  # type: ignore[arg-type]


@cl.on_app_startup
async def startup() -> None:
    stack = AsyncExitStack()
    runtime: Runtime = await stack.enter_async_context(open_runtime())
    security.use_pool(runtime.pool)  # one pool per process: the chat history uses the runtime's
    assistant: Assistant = await stack.enter_async_context(open_assistant(runtime))
    runtime.gateway.warm("default")
    prepare_drafting_experts(runtime.gateway, assistant.context)  # in the background, on the model's thread
    live = LiveAssistant(runtime, assistant)  # `radassist models reload` or a file change swaps it
    await stack.enter_async_context(serve_reloads(live, watch=runtime.settings.models_watch))
    api.serve(live, security.PUBLIC)
    _state.update(stack=stack, runtime=runtime, live=live)
    config = runtime.gateway.config
    await security.record(
        "models.loaded",
        actor="system",
        target=str(config.source or ""),
        detail={
            "sha256": config.sha256,
            "remote_aliases": [a for a in config.aliases() if config.leaves_machine(a)],
            "phi_allowed": [a for a in config.aliases() if config.leaves_machine(a) and config.allows_phi(a)],
        },
    )


@cl.on_app_shutdown
async def shutdown() -> None:
    stack = _state.pop("stack", None)
    if stack is not None:
        await stack.aclose()
    release_embedded()  # Chainlit exits with os._exit(): stop the embedded PostgreSQL if we were its last user


def _live() -> LiveAssistant:
    return _state["live"]  # type: ignore[no-any-return]


def _assistant() -> Assistant:
    """The assistant of the configuration in force (a turn keeps its own: `_live().turn()`)."""
    return _live().current.assistant


@cl.set_starters
async def starters(user: cl.User | None = None, language: str | None = None) -> list[cl.Starter]:
    context = _assistant().context
    pairs = capabilities.starters(context.registry, context.experts)
    return [cl.Starter(label=f"{label}: {text[:48]}…", message=text) for label, text in pairs]


async def _send_settings() -> None:
    assistant = _assistant()
    experts = [AUTOMATIC, *assistant.context.experts]
    models = [DEFAULT_MODEL, *assistant.chat_aliases()]
    widgets: list[InputWidget] = [
        Select(
            id="expert",
            label="Expert",
            values=experts,
            initial_index=0,
            description="Automatic lets the gate weigh every expert; choose one to override it.",
        ),
        Select(
            id="model",
            label="Model alias (models.yaml)",
            values=models,
            initial_index=0,
            description="The model that drafts the commentary; classifications never depend on it.",
        ),
    ]
    settings = await cl.ChatSettings(widgets).send()
    cl.user_session.set("settings", settings)


async def _show_models_to_admins() -> None:
    """Admins see the models configuration in force and its hash (and every app process's) in the sidebar."""
    user = cl.user_session.get("user")
    account = await security.data_layer().get_user(user.identifier) if user else None
    if account is None or (account.metadata or {}).get("role") != "admin":
        return
    await cl.ElementSidebar.set_title("Models configuration")
    content = await describe(_live())
    await cl.ElementSidebar.set_elements(
        [cl.Text(name="models.yaml", content=content)], key=_live().current.sha256
    )


@cl.on_chat_start
async def chat_start() -> None:
    await _send_settings()
    notice = _assistant().notice
    if notice:  # once per chat, and not stored as a message of the thread
        await cl.context.emitter.send_toast(notice, "info")
    await _show_models_to_admins()


@cl.on_chat_resume
async def chat_resume(thread: ThreadDict) -> None:
    """History is shown from the data layer; the agent's memory comes from the LangGraph checkpoint."""
    user = cl.user_session.get("user")
    await security.record(
        "thread.read", actor=user.identifier if user else "", target=str(thread.get("id", ""))
    )
    await _send_settings()
    await _show_models_to_admins()


@cl.action_callback("export_thread")
async def export_thread(action: cl.Action) -> None:
    """Links to download this conversation; the route checks the login session and the owner."""
    thread_id = cl.context.session.thread_id
    md, js = export.link(thread_id, "md"), export.link(thread_id, "json")
    await cl.Message(content=f"Download this conversation: [Markdown]({md}) · [JSON]({js})").send()


@cl.on_settings_update
async def settings_update(settings: dict[str, Any]) -> None:
    cl.user_session.set("settings", settings)


def _choice(settings: dict[str, Any], key: str, automatic: str) -> str | None:
    value = settings.get(key)
    return None if value in (None, automatic) else str(value)


class TurnView:
    """Turns the agent's events into Chainlit steps and a streaming answer message.

    The answer streams what is known before any model runs (tool results, cited passages); the
    model's draft streams into its own step, because unverified text is never shown as the answer.
    The verified answer then replaces the message's content.
    """

    def __init__(self, answer: cl.Message, active_model: str, prompts: dict[str, str]) -> None:
        self.answer = answer
        self.active_model = active_model
        self.prompts = prompts  # each expert's system prompt, which its draft must not repeat
        self.draft: cl.Step | None = None
        self.filter: tuple[str, DraftFilter] | None = None  # the expert whose draft is streaming, its filter
        self.model_errors: list[str] = []

    async def on_event(self, event: dict[str, Any]) -> None:
        kind = event["event"]
        if kind == "preview":
            for piece in re.findall(r"\S+\s*", event["text"]):
                await self.answer.stream_token(piece)
        elif kind == "token":
            if self.draft is None:
                label = "revision" if event.get("revision") else "draft"
                self.draft = cl.Step(name=f"Model {label} ({event['expert']}), being verified", type="llm")
                await self.draft.send()
            if self.filter is None or self.filter[0] != event["expert"]:
                await self.flush_filter()
                self.filter = (event["expert"], DraftFilter([self.prompts.get(event["expert"], "")]))
            if shown := self.filter[1].feed(event["text"]):  # no links, images or prompt echo reach the page
                await self.draft.stream_token(shown)
        elif kind == "model_error":
            self.model_errors.append(event["error"])
        elif kind == "step":
            await self.close_draft()
            await self.step(event["name"], event["data"])

    async def flush_filter(self) -> None:
        if self.filter is not None and self.draft is not None and (rest := self.filter[1].flush()):
            await self.draft.stream_token(rest)
        self.filter = None

    async def close_draft(self) -> None:
        if self.draft is not None:
            await self.flush_filter()
            await self.draft.update()
            self.draft = None

    async def step(self, name: str, data: dict[str, Any]) -> None:
        if name == "gate":
            async with cl.Step(name="Expert gate", type="tool", default_open=False) as step:
                step.output = gate_markdown(data, self.active_model)
        elif name.startswith("tool:"):
            async with cl.Step(name=f"Tool: {name[5:]}", type="tool", show_input="json") as step:
                step.input = json.dumps(data["input"], indent=2, default=str)
                step.output = "```json\n" + json.dumps(data["output"], indent=2, default=str) + "\n```"
        elif name == "retrieval":
            async with cl.Step(name="Guideline retrieval", type="retrieval") as step:
                step.input = data["query"]
                step.output = retrieval_markdown(data)
        elif name == "verification":
            async with cl.Step(name=f"Verification (round {data['round']})", type="tool") as step:
                step.output = verification_markdown(data)


@cl.on_message
async def on_message(message: cl.Message) -> None:
    settings = cl.user_session.get("settings") or {}
    expert = _choice(settings, "expert", AUTOMATIC)
    model = _choice(settings, "model", DEFAULT_MODEL)
    answer = cl.Message(content="")
    try:
        async with _live().turn() as config:  # the turn keeps this models configuration to its end
            assistant = config.assistant
            prompts = {n: e.prompt for n, e in assistant.context.experts.items()}
            view = TurnView(answer, model or DEFAULT_MODEL, prompts)
            with record_egress() as egress:
                result = await assistant.ask(
                    message.content,
                    thread_id=cl.context.session.thread_id,
                    expert=expert,
                    model=model,
                    on_event=view.on_event,
                    message_id=answer.id,
                )
            await view.close_draft()
    except ValueError as exc:  # input the user can fix (empty, too long, unknown expert)
        await cl.ErrorMessage(content=f"Could not answer: {exc}").send()
        return
    except Exception as exc:  # the app stays up; the next message tries again
        log.error("turn failed: %s", type(exc).__name__)
        await cl.ErrorMessage(content=_failure_text(exc)).send()
        return
    content = result.answer
    await _audit_egress(egress)
    if notice := egress_notice(egress):
        content = f"{notice}\n\n{content}"
    elif view.model_errors:
        content = (
            "⚠ The language model did not respond, so this answer comes only from the classification tools and "
            f"the guideline library.\n\n{content}"
        )
    models = result.provenance["models"]
    drafting = sorted({model or e["model"] for e in result.provenance["experts"]})
    demo = assistant.context.demo_aliases
    shown = ", ".join(
        f"{alias} ({models.get(alias, {}).get('model', '?')}{', demo model' if alias in demo else ''})"
        for alias in drafting
    )
    content += f"\n\n*Verification: {verification_line(result.verification)} · model: {shown}*"
    answer.content = content
    answer.elements = source_elements(result.citations)
    answer.actions = [
        cl.Action(name="export_thread", payload={}, label="Export conversation", icon="download")
    ]
    await answer.send()


def egress_notice(decisions: list[EgressDecision]) -> str | None:
    """What the clinician is told when patient identifiers kept a remote model out of the turn."""
    withheld = [d for d in decisions if d.action in ("fallback", "blocked")]
    if not withheld:
        return None
    kinds = ", ".join(sorted({k.replace("_", " ") for d in withheld for k in d.kinds}))
    remote = ", ".join(sorted({d.requested for d in withheld}))
    local = sorted({d.sent_to for d in withheld if d.sent_to})
    instead = (
        f"the local model alias {', '.join(local)} answered instead"
        if local and not any(d.action == "blocked" for d in withheld)
        else "no model saw it: this answer comes from the classification tools and the guideline library"
    )
    return (
        f"⚠ This conversation contains what looks like patient identifiers ({kinds}), and model alias {remote} "
        f"sends data off this machine, so {instead}."
    )


async def _audit_egress(decisions: list[EgressDecision]) -> None:
    """Record each remote-model decision of the turn (alias, outcome, identifier kinds and counts)."""
    user = cl.user_session.get("user")
    for d in decisions:
        await security.record(
            "model.phi_guard",
            actor=user.identifier if user else "",
            target=d.requested,
            result="success" if d.action in ("allowed", "clean") else "denied",
            detail={"action": d.action, "sent_to": d.sent_to, "identifiers": d.kinds},
        )


def _failure_text(exc: Exception) -> str:
    name = type(exc).__name__
    if "Operational" in name or "Pool" in name or "Connection" in name:
        return "The database is unavailable right now. Nothing was lost; please try again in a moment."
    if "Timeout" in name:
        return "The model backend timed out. Please try again; the app is still running."
    return f"Something went wrong ({name}). Please try again; the app is still running."
