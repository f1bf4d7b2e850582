"""The tool registry: one decorator for in-repo tools, one entry-point group for outside packages.

A tool is a typed function `f(inp: InputModel[, ctx: ToolContext]) -> OutputModel` (sync or async)
registered with `@tool(name=..., description=..., version=...)`. The agent, the CLI and the UI find
tools only here, so adding a module under `tools/` (or an installed plugin) is all it takes.

A classification tool (`kind="classification"`, returning `tools.classify.base.ClassificationResult`)
declares everything else the application needs about its system in the same decorator:

- `extractor`: free text -> `Extraction`, so the agent classifies findings without a model;
- `triggers`: regexes whose presence in a message suggests the system (routing, system inference);
- `exclusive_groups`: input keys that describe one thing in alternative ways (a follow-up giving one
  replaces the group);
- `categories`: a `CategorySpelling`, how prose writes the system's categories ("Lung-RADS 4A",
  "TR5", "Bosniak II-F") and how to bring a mention to the tool's own spelling. Verification
  (`agent/verify.py`) reads a model's category claims with it and holds no per-system patterns;
  a system without one gets no category check, so its claims must be supported like any statement;
- `title` and `example`: the short name and a sample question the chat UI and the help texts show.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import pkgutil
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, get_type_hints

from pydantic import BaseModel, ValidationError

if TYPE_CHECKING:
    from tools.classify.base import Extraction

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "radassist.tools"


class ToolInputError(ValueError):
    """Tool input that is impossible or outside the system's lexicon; names each field and what is allowed."""

    def __init__(self, tool: str, problems: list[str]):
        self.tool = tool
        self.problems = problems
        super().__init__(f"{tool}: " + "; ".join(problems))


@dataclass
class ToolContext:
    """Shared resources a tool may ask for by taking a second parameter.

    `pool` is the application's psycopg AsyncConnectionPool (pgvector registered), `gateway` the
    model gateway (`agent.gateway.Gateway`: chat, JSON and embeddings by alias), `settings` the
    deployment settings. `cache` lets tools keep per-process objects (an embedder wrapper, ...).
    """

    pool: Any = None
    gateway: Any = None
    settings: Any = None
    cache: dict[str, Any] = field(default_factory=dict)


def as_written(category: str) -> str:
    """The default normaliser: a mention, upper-cased without spaces, is already the tool's spelling."""
    return category


@dataclass(frozen=True)
class CategorySpelling:
    """How prose writes a classification system's categories, and the tool's own spelling of each.

    `pattern` (matched case-insensitively) finds a mention; its first non-empty group is the category
    as written. That text, upper-cased and without spaces, goes through `normalise`, which returns the
    spelling the tool puts in `ClassificationResult.category` (e.g. "5" -> "TR5" for TI-RADS).
    """

    pattern: str
    normalise: Callable[[str], str] = as_written

    def mentions(self, text: str) -> list[tuple[int, str]]:
        """Each category the text mentions, in the tool's spelling, with where the mention starts."""
        found = []
        for m in _compiled(self.pattern).finditer(text):
            written = next(g for g in m.groups() if g)
            found.append((m.start(), self.normalise(written.upper().replace(" ", ""))))
        return found


@cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


@dataclass(frozen=True)
class Tool:
    """A registered tool with its schema, version and (for classification systems) its text extractor."""

    name: str
    description: str
    version: str
    func: Callable[..., Any]
    input_model: type[BaseModel]
    output_model: type[BaseModel]
    kind: str = "other"
    extractor: Callable[[str], Extraction] | None = None
    triggers: tuple[str, ...] = ()
    exclusive_groups: tuple[tuple[str, ...], ...] = ()
    categories: CategorySpelling | None = None
    title: str = ""
    example: str | None = None
    wants_context: bool = False

    @property
    def label(self) -> str:
        """The tool's short name for people: its title, or its name."""
        return self.title or self.name

    def input_schema(self) -> dict[str, Any]:
        """Return the JSON schema of the input, as shown to models and by `radassist tools schema`."""
        return self.input_model.model_json_schema()

    def validate_input(self, args: dict[str, Any] | BaseModel) -> BaseModel:
        """Validate raw arguments, turning pydantic errors into a ToolInputError that names each field."""
        if isinstance(args, self.input_model):
            return args
        try:
            return self.input_model.model_validate(args)
        except ValidationError as exc:
            raise ToolInputError(self.name, describe_validation_error(exc)) from exc

    async def arun(self, args: dict[str, Any] | BaseModel, ctx: ToolContext | None = None) -> BaseModel:
        """Validate and call the tool; sync tools run inline (they are pure and fast)."""
        inp = self.validate_input(args)
        call_args = (inp, ctx or ToolContext()) if self.wants_context else (inp,)
        result = self.func(*call_args)
        if inspect.isawaitable(result):
            result = await result
        return self._check_output(result)

    def run(self, args: dict[str, Any] | BaseModel, ctx: ToolContext | None = None) -> BaseModel:
        """Validate and call a synchronous tool."""
        if inspect.iscoroutinefunction(self.func):
            raise TypeError(f"tool {self.name!r} is async; use arun()")
        inp = self.validate_input(args)
        call_args = (inp, ctx or ToolContext()) if self.wants_context else (inp,)
        return self._check_output(self.func(*call_args))

    def _check_output(self, result: Any) -> BaseModel:
        if not isinstance(result, self.output_model):
            raise TypeError(
                f"tool {self.name!r} returned {type(result).__name__}, not {self.output_model.__name__}"
            )
        return result


def describe_validation_error(exc: ValidationError) -> list[str]:
    """Render pydantic errors as 'field: problem' lines, keeping the allowed values pydantic lists."""
    problems = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(p) for p in err["loc"]) or "input"
        problems.append(f"{where}: {err['msg']}")
    return problems


class ToolRegistry:
    """Name -> Tool. Duplicate names are an error, so a plugin cannot silently replace a built-in."""

    def __init__(self) -> None:
        self._tools: dict[str, Tool] = {}

    def register(self, t: Tool) -> Tool:
        existing = self._tools.get(t.name)
        if existing is not None and existing.func is not t.func:
            raise ValueError(f"tool name {t.name!r} is already registered by {existing.func.__module__}")
        self._tools[t.name] = t
        return t

    def get(self, name: str) -> Tool:
        try:
            return self._tools[name]
        except KeyError:
            raise KeyError(f"unknown tool {name!r}; registered tools: {', '.join(self.names())}") from None

    def names(self) -> list[str]:
        return sorted(self._tools)

    def all(self) -> list[Tool]:
        return [self._tools[n] for n in self.names()]

    def of_kind(self, kind: str) -> list[Tool]:
        return [t for t in self.all() if t.kind == kind]

    def category_spellings(self) -> dict[str, CategorySpelling]:
        """Per classification system that declares one, how its categories are written (for verification)."""
        return {t.name: t.categories for t in self.of_kind("classification") if t.categories is not None}

    def __contains__(self, name: object) -> bool:
        return name in self._tools


REGISTRY = ToolRegistry()


def tool(
    *,
    name: str,
    description: str,
    version: str,
    kind: str = "other",
    extractor: Callable[[str], Extraction] | None = None,
    triggers: tuple[str, ...] = (),
    exclusive_groups: tuple[tuple[str, ...], ...] = (),
    categories: CategorySpelling | None = None,
    title: str = "",
    example: str | None = None,
    registry: ToolRegistry | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a typed function as a tool; input and output models come from its type hints.

    Classification tools also pass `extractor`, `triggers`, `categories`, `title` and `example`, and
    may declare `exclusive_groups` (see the module docstring for what each is for).
    """

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        hints = get_type_hints(func)
        params = list(inspect.signature(func).parameters)
        if not params or params[0] not in hints or "return" not in hints:
            raise TypeError(f"tool {name!r}: annotate the input model parameter and the return type")
        input_model, output_model = hints[params[0]], hints["return"]
        if not (issubclass(input_model, BaseModel) and issubclass(output_model, BaseModel)):
            raise TypeError(f"tool {name!r}: input and output must be pydantic models")
        (registry or REGISTRY).register(
            Tool(
                name=name,
                description=description,
                version=version,
                func=func,
                input_model=input_model,
                output_model=output_model,
                kind=kind,
                extractor=extractor,
                triggers=triggers,
                exclusive_groups=exclusive_groups,
                categories=categories,
                title=title,
                example=example,
                wants_context=len(params) > 1,
            )
        )
        return func

    return decorate


def _import_builtin_modules() -> None:
    import tools

    for info in pkgutil.walk_packages(tools.__path__, prefix="tools."):
        if not info.name.rsplit(".", 1)[-1].startswith("_"):
            importlib.import_module(info.name)


def load_tools(plugins: str = "") -> ToolRegistry:
    """Import every built-in tool module, then the allowed entry-point plugins, and return the registry.

    `plugins` is the admin's allow-list (RADASSIST_PLUGINS): comma-separated entry-point names, or '*'.
    An installed but not allowed plugin is logged, never silently loaded.
    """
    _import_builtin_modules()
    allowed = {p.strip() for p in plugins.split(",") if p.strip()}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if "*" in allowed or ep.name in allowed:
            ep.load()  # the plugin module registers its tools with @tool on import
        else:
            log.info("tool plugin %r is installed but not enabled (RADASSIST_PLUGINS)", ep.name)
    return REGISTRY
