"""Experts are data: one Markdown file per expert, YAML front matter plus the system prompt as body.

Radiologists edit these files without touching Python, so every mistake is caught at start-up and
reported as one line naming the file and the problem, never discovered mid-conversation.
Files whose name starts with `_` and README.md are ignored (drafts, documentation).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator

from common.errors import RadassistError

log = logging.getLogger(__name__)

FALLBACK_ALIAS = "default"

# The gate matches keywords literally on word boundaries, so they must be plain lowercase text.
_KEYWORD = re.compile(r"[a-z0-9](?:[a-z0-9 '\-/.]*[a-z0-9])?")
_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)^---[ \t]*\r?$\n?(.*)\Z", re.DOTALL | re.MULTILINE)


class Expert(BaseModel, extra="forbid", frozen=True, str_strip_whitespace=True):
    """One specialist: what it covers (for routing), what it may use, and how it is told to answer."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="snake-case id, unique")
    title: str = Field(min_length=1)
    # Descriptions and examples are embedded for routing; the embedder truncates long inputs silently.
    description: str = Field(min_length=1, max_length=500)
    examples: list[str] = Field(min_length=1)
    keywords: list[str] = Field(default_factory=list)
    tools: list[str] = Field(default_factory=list)
    model: str = Field(min_length=1, description="an alias defined in models.yaml")
    version: str = Field(pattern=r"^\d+(\.\d+)*$")
    prompt: str = Field(min_length=1, description="the Markdown body: the expert's system prompt")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="of the whole file, for provenance")
    path: Path

    @field_validator("examples", "keywords", "tools")
    @classmethod
    def _non_empty_unique(cls, items: list[str]) -> list[str]:
        items = [i.strip() for i in items]
        if any(not i for i in items):
            raise ValueError("entries must not be empty")
        duplicates = sorted({i for i in items if items.count(i) > 1})
        if duplicates:
            raise ValueError(f"listed more than once: {', '.join(duplicates)}")
        if any(len(i) > 300 for i in items):
            raise ValueError("entries must be at most 300 characters")
        return items

    @field_validator("keywords")
    @classmethod
    def _plain_keywords(cls, items: list[str]) -> list[str]:
        bad = [k for k in items if not _KEYWORD.fullmatch(k)]
        if bad:
            raise ValueError(f"use plain lowercase words or phrases, not {', '.join(map(repr, bad))}")
        return items


AUTHORED_KEYS = tuple(k for k in Expert.model_fields if k not in ("prompt", "sha256", "path"))


class ModelAliases(Protocol):
    """What the loader needs to know of models.yaml (agent.gateway.ModelsConfig): its aliases, its path."""

    @property
    def source(self) -> Path | None: ...

    def aliases(self) -> list[str]: ...


def load_experts(
    directory: Path,
    *,
    tool_names: Iterable[str] | None = None,
    models: ModelAliases | None = None,
) -> dict[str, Expert]:
    """Read every expert file in `directory`, ordered by name; check tools and aliases when given.

    An expert whose model alias is not in models.yaml answers with the `default` alias (one warning
    line says so), so a new expert file works before anyone edits models.yaml.
    """
    if not directory.is_dir():
        raise RadassistError(f"{directory}: experts directory not found (RADASSIST_EXPERTS_DIR)")
    known_tools = None if tool_names is None else set(tool_names)
    experts: dict[str, Expert] = {}
    for path in sorted(directory.glob("*.md")):
        if path.name.startswith("_") or path.stem.upper() == "README":
            continue
        expert = parse_expert(path)
        if expert.name in experts:
            raise RadassistError(
                f"{path}: name {expert.name!r} is already used by {experts[expert.name].path}"
            )
        if known_tools is not None:
            unknown = [t for t in expert.tools if t not in known_tools]
            if unknown:
                raise RadassistError(
                    f"{path}: tools: unknown tool {', '.join(map(repr, unknown))} "
                    f"(registered: {', '.join(sorted(known_tools))})"
                )
        if models is not None and expert.model not in models.aliases():
            expert = _with_fallback_model(expert, models)
        experts[expert.name] = expert
    if not experts:
        raise RadassistError(f"{directory}: no expert files (*.md) found")
    return dict(sorted(experts.items()))


def _with_fallback_model(expert: Expert, models: ModelAliases) -> Expert:
    source = models.source or "models.yaml"
    if FALLBACK_ALIAS not in models.aliases():
        raise RadassistError(
            f"{expert.path}: model: alias {expert.model!r} is not defined in {source}, nor is the fallback "
            f"{FALLBACK_ALIAS!r} (defined: {', '.join(models.aliases())})"
        )
    log.warning(
        "%s: model alias %r is not defined in %s; the expert uses %r until it is added there",
        expert.path, expert.model, source, FALLBACK_ALIAS,
    )  # fmt: skip
    return expert.model_copy(update={"model": FALLBACK_ALIAS})


def parse_expert(path: Path) -> Expert:
    """Parse one expert file; raise RadassistError naming the file and every problem found."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise RadassistError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    match = _FRONT_MATTER.match(text)
    if match is None:
        raise RadassistError(
            f"{path}: missing front matter (the file must start with a '---' line, then YAML, then '---')"
        )
    try:
        front: Any = yaml.safe_load(match.group(1))
    except yaml.YAMLError as exc:
        raise RadassistError(f"{path}: front matter is not valid YAML: {exc}".replace("\n", " ")) from None
    if not isinstance(front, dict):
        raise RadassistError(f"{path}: front matter must be a YAML mapping of {', '.join(AUTHORED_KEYS)}")
    unknown = sorted(str(k) for k in front if k not in AUTHORED_KEYS)
    if unknown:
        raise RadassistError(
            f"{path}: unknown key {', '.join(map(repr, unknown))} (allowed: {', '.join(AUTHORED_KEYS)})"
        )
    if isinstance(front.get("version"), int | float):
        raise RadassistError(
            f'{path}: version: quote it, e.g. version: "1.0" (YAML reads 1.10 as the number 1.1)'
        )
    if not match.group(2).strip():
        raise RadassistError(
            f"{path}: prompt is empty: write the expert's instructions after the closing '---'"
        )
    try:
        return Expert(**front, prompt=match.group(2), sha256=hashlib.sha256(raw).hexdigest(), path=path)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(map(str, e['loc'])) or 'front matter'}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors(include_url=False)
        ]
        raise RadassistError(f"{path}: " + "; ".join(problems)) from None
