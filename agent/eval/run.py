"""One evaluation run: open the deployment, run the selected suites, write results.json and report.html.

results.json is rewritten (atomically) after every suite and every few seconds, and once more when the
run is interrupted (Ctrl-C cancels the run): an interrupted run leaves a valid, partial results.json
(`"complete": false`) covering the cases that finished. Only a complete run writes report.html and
becomes the latest report the chat UI shows to admins (`$RADASSIST_HOME/eval/latest.json`).

The answers suite drafts with every alias under test, demo aliases included (the run forces
`draft_with_demo_models` on): an evaluation measures the model, not only the tools around it.
Turns are checkpointed in memory and not stored as answers (nothing is added to answer_provenance).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from agent.eval import metrics, suites
from agent.eval.cases import SUITES, CaseError, Loaded, Vocabulary, check_references, load_file, shipped
from agent.settings import REPO_ROOT, Settings, get_settings
from common.errors import RadassistError

if TYPE_CHECKING:
    from agent.context import AgentContext
    from agent.runtime import Runtime

SAVE_EVERY_SECONDS = 10.0
RAG_MODES = {"on": (True,), "off": (False,), "both": (True, False)}


@dataclass
class Options:
    suites: list[str] = field(default_factory=list)
    """Suites to run; empty: all."""
    case_files: list[Path] = field(default_factory=list)
    """User case files; when given, they run instead of the shipped suites."""
    aliases: list[str] = field(default_factory=list)
    """Models under test for the answers suite; empty: each expert's own alias ('configured')."""
    rag: Literal["on", "off", "both"] = "on"
    limit: int | None = None
    out: Path | None = None
    compare: Path | None = None
    margin: float = metrics.DEFAULT_MARGIN
    risk_margin: float = metrics.DEFAULT_RISK_MARGIN


class Progress(Protocol):
    def start(self, name: str, total: int) -> None: ...
    def advance(self, name: str) -> None: ...


class _Silent:
    def start(self, name: str, total: int) -> None:
        pass

    def advance(self, name: str) -> None:
        pass


def eval_home(settings: Settings) -> Path:
    return settings.home / "eval"


def default_out_dir(settings: Settings) -> Path:
    """$RADASSIST_HOME/eval/<UTC start time>/, one directory per run."""
    return eval_home(settings) / datetime.now(UTC).strftime("%Y%m%d-%H%M%SZ")


def latest_report(settings: Settings) -> Path | None:
    """The report.html of the latest complete run, if it still exists."""
    try:
        pointer = json.loads((eval_home(settings) / "latest.json").read_text(encoding="utf-8"))
        path = Path(pointer["report"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return path if path.is_file() else None


def write_atomic(path: Path, text: str) -> None:
    """Write a whole file or nothing: a reader never sees half of it."""
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def select_cases(options: Options) -> tuple[list[Loaded], list[CaseError]]:
    """The user's case files (filtered by --suite) or the shipped suites; bad lines as errors."""
    for name in options.suites:
        if name not in SUITES:
            raise RadassistError(f"unknown suite {name!r}; suites: {', '.join(SUITES)}")
    wanted = options.suites or list(SUITES)
    if not options.case_files:
        return [c for s in wanted for c in shipped(s)], []
    cases: list[Loaded] = []
    errors: list[CaseError] = []
    for path in options.case_files:
        found, bad = load_file(path)
        cases += [c for c in found if c.suite in wanted]
        errors += bad
    return cases, errors


def load_baseline(path: Path) -> dict[str, Any]:
    """A previous results.json; anything else is refused before the run starts."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RadassistError(f"cannot read baseline {path}: {exc.strerror or type(exc).__name__}") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise RadassistError(f"baseline {path} is not JSON: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("cases"), list):
        raise RadassistError(f"baseline {path} is not a results.json of `radassist eval` (no 'cases' list)")
    return data


def project_info() -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    try:
        info: dict[str, Any] = {"version": version("radassist")}
    except PackageNotFoundError:
        info = {"version": "unknown"}
    try:
        commit = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
        if commit.returncode == 0:
            info["commit"] = commit.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass  # an installed copy without git: the version is what there is
    return info


class Results:
    """results.json as it grows: the header, every outcome, and the summary of what finished."""

    def __init__(self, path: Path, header: dict[str, Any], baseline: dict[str, Any] | None, options: Options):
        self.path = path
        self.data: dict[str, Any] = {**header, "complete": False, "cases": []}
        self.baseline = baseline
        self.options = options
        self.saved_at = time.monotonic()

    def add(self, outcome: suites.Outcome) -> None:
        self.data["cases"].append(outcome.as_json())
        if time.monotonic() - self.saved_at > SAVE_EVERY_SECONDS:
            self.save()

    def save(self, *, complete: bool = False) -> None:
        self.data["complete"] = complete
        self.data["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        self.data["summary"] = metrics.summarize(self.data["cases"])
        if self.baseline is not None:
            comparison = metrics.compare(
                self.baseline["cases"],
                self.data["cases"],
                margin=self.options.margin,
                risk_margin=self.options.risk_margin,
            )
            self.data["comparison"] = {"baseline_file": str(self.options.compare), **comparison}
        write_atomic(self.path, json.dumps(self.data, indent=1, ensure_ascii=False, default=str) + "\n")
        self.saved_at = time.monotonic()


async def _sources(pool: Any) -> frozenset[str]:
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT slug FROM kb_sources")
        return frozenset(row[0] for row in await cur.fetchall())


def _describe(gateway: Any, alias: str) -> dict[str, Any]:
    try:
        return dict(gateway.describe(alias))
    except Exception as exc:  # a model that cannot be resolved is reported, and its turns will say why
        return {"alias": alias, "error": f"{type(exc).__name__}: {exc}"}


async def run(
    options: Options,
    *,
    settings: Settings | None = None,
    progress: Progress | None = None,
    on_case_error: Callable[[CaseError], None] = lambda e: None,
) -> dict[str, Any]:
    """Run the evaluation; return results.json's content (also written to the output directory)."""
    from langgraph.checkpoint.memory import InMemorySaver

    from agent.assistant import Assistant, build_context
    from agent.eval import report
    from agent.graph import build_graph
    from agent.runtime import open_runtime

    settings = settings or get_settings()
    progress = progress or _Silent()
    if options.limit is not None and options.limit < 1:
        raise RadassistError("--limit must be at least 1")
    cases, case_errors = select_cases(options)
    baseline = load_baseline(options.compare) if options.compare else None
    started = datetime.now(UTC)
    out_dir = options.out or default_out_dir(settings)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RadassistError(f"cannot create output directory {out_dir}: {exc.strerror}") from exc

    async with open_runtime(settings) as runtime:
        context = await build_context(runtime)
        config = runtime.gateway.config
        chat_aliases = [
            a for a in config.aliases() if config.entry(a).model_info.get("mode", "chat") == "chat"
        ]
        for alias in options.aliases:
            if alias not in chat_aliases:
                raise RadassistError(
                    f"--alias {alias!r} is not a chat alias in {config.source or 'models.yaml'} "
                    f"(chat aliases: {', '.join(chat_aliases)})"
                )
        vocab = Vocabulary(
            systems=frozenset(t.name for t in runtime.registry.of_kind("classification")),
            experts=frozenset(context.experts),
            sources=await _sources(runtime.pool),
        )
        cases, reference_errors = check_references(cases, vocab)
        case_errors += reference_errors
        for error in case_errors:
            on_case_error(error)
        selected = [s for s in SUITES if any(c.suite == s for c in cases)]
        answering = "answers" in selected
        under_test = options.aliases or sorted({e.model for e in context.experts.values()})
        involved = {"embedder"}  # routing and retrieval embed; only answers use chat models
        if answering:
            involved |= {
                *under_test,
                context.verifier_alias,
                *([context.router_alias] if context.router_alias else []),
            }
        demo = sorted(set(under_test) & context.demo_aliases)
        header = {
            "format": 1,
            "started_at": started.isoformat(timespec="seconds"),
            "project": project_info(),
            "options": {
                "suites": selected, "case_files": [str(p) for p in options.case_files],
                "aliases": options.aliases or ["configured"], "rag": options.rag, "limit": options.limit,
            },
            "models": {a: _describe(runtime.gateway, a) for a in sorted(involved)},
            "experts": [{"name": e.name, "version": e.version, "sha256": e.sha256, "model": e.model}
                        for e in context.experts.values()],
            "drafting": (
                "Answers were drafted by the models under test ("
                + ", ".join(under_test) + "), with drafting forced on for this run"
                + (f" (demo aliases, which draft nothing in normal use: {', '.join(demo)})" if demo else "")
                + "; verification used the alias " + context.verifier_alias + "."
            ) if answering else "No answers suite in this run: no model drafted.",
            "case_errors": [e.as_json() for e in case_errors],
        }  # fmt: skip
        results = Results(out_dir / "results.json", header, baseline, options)
        complete = False
        try:
            for suite in selected:
                items = [c for c in cases if c.suite == suite][: options.limit]
                if suite == "answers":
                    for alias in sorted({*under_test, context.verifier_alias}):  # load time is not turn time
                        with contextlib.suppress(
                            Exception
                        ):  # a model that cannot load fails its turns, each saying why
                            await asyncio.to_thread(runtime.gateway.warm, alias)
                    recorder = suites.DraftRecorder(context.llm, context.experts)
                    base = replace(context, draft_with_demo_models=True, llm=recorder)
                    graph = build_graph(checkpointer=InMemorySaver())
                    assistants = {
                        rag: Assistant(replace(base, retrieval=rag), graph) for rag in RAG_MODES[options.rag]
                    }
                    models: list[str | None] = list(options.aliases) or [None]
                    progress.start(suite, len(items) * len(models) * len(assistants))
                    for item in items:
                        for model in models:
                            for rag, assistant in assistants.items():
                                results.add(await suites.answer(item, assistant, model, rag))
                                progress.advance(suite)
                else:
                    progress.start(suite, len(items))
                    for item in items:
                        results.add(await _one(suite, item, context, runtime))
                        progress.advance(suite)
                results.save()
            complete = True
        finally:
            results.save(complete=complete)  # also when interrupted: the cases that finished are kept
    write_atomic(out_dir / "report.html", report.render(results.data))
    home = eval_home(settings)
    home.mkdir(parents=True, exist_ok=True)
    pointer = {"report": str((out_dir / "report.html").resolve()), "results": str(results.path.resolve()),
               "finished_at": results.data["finished_at"]}  # fmt: skip
    write_atomic(home / "latest.json", json.dumps(pointer, indent=1) + "\n")
    return results.data


async def _one(suite: str, item: Loaded, context: AgentContext, runtime: Runtime) -> suites.Outcome:
    started = time.perf_counter()
    try:
        if suite == "classification":
            outcome = suites.classification(item, runtime.registry)
        elif suite == "findings":
            outcome = suites.findings(item, runtime.registry)
        elif suite == "routing":
            outcome = await suites.routing(item, context.gate)
        else:
            outcome = await suites.retrieval(item, runtime.registry, runtime.tool_context)
    except Exception as exc:  # one case's failure, recorded; the run goes on
        outcome = suites.Outcome(
            suite=suite, id=item.case.id, file=item.file, line=item.line,
            input=item.case.model_dump(include={"text", "question"}),
            expected=item.case.expected.model_dump(exclude_none=True),
        )  # fmt: skip
        outcome.error = f"{type(exc).__name__}: {exc}"
        outcome.reasons = [f"error: {outcome.error}"]
    outcome.seconds = round(time.perf_counter() - started, 4)
    await asyncio.sleep(0)  # let an interruption (Ctrl-C cancels the run) take effect between cases
    return outcome
