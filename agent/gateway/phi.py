"""No patient identifiers to a model whose calls leave this machine: the gateway's egress guard.

Every chat, JSON, tool-choice and embedding call goes through `Gateway`, which asks `decide()` before
anything is sent. For an alias whose calls stay on this machine (or the hospital's network) nothing
changes. For an alias that leaves the machine (a remote deployment anywhere in its litellm fallback
chain) the call goes ahead only when:
- models.yaml marks every such deployment `model_info: {allow_phi: true}` (say, a provider under a
  business associate agreement), or
- the texts pass the identifier scan below: nothing in them looks like a patient identifier.
Otherwise the call goes to the alias's local fallback (`model_info: {phi_fallback: ALIAS}`, else
`default` when that alias is local), or, with no local fallback, it is refused with `PhiWithheld`,
which the agent treats like a model that did not answer (the turn answers from the classification
tools and the guideline passages). Each decision other than "local" is recorded for the caller
(`record_egress`), which lets the chat UI say what happened. Decisions name identifier kinds and
counts, never the matched text; nothing here logs message content.

The scan is pattern-based, so it fails closed only for what it recognises: names after an honorific
or a label ("Mr. Smith", "Patient name: ..."), signatures ("Dictated by ..."), medical record and
other long identifier numbers, accession numbers, dates of birth and other full dates, phone numbers,
street addresses, e-mail addresses, social security numbers and DICOM UIDs. A bare name without any
cue ("John Smith, 6 mm nodule") is not recognised: that is why remote models are off by default.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Literal

log = logging.getLogger(__name__)

_MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
    r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
)
_DAY_DATE = (
    r"(?:\d{1,2}[/.]\d{1,2}[/.](?:\d{4}|\d{2})"  # 03/14/1962, 14.3.62
    r"|\d{1,2}-\d{1,2}-\d{4}"  # 3-14-1962 (a two-digit year would match intervals like 6-12-24)
    r"|(?:19|20)\d{2}[/.-]\d{1,2}[/.-]\d{1,2}"  # 1962-03-14
    rf"|\d{{1,2}}(?:st|nd|rd|th)?\s+{_MONTH}\.?,?\s+\d{{2,4}}"  # 14 March 1962
    rf"|{_MONTH}\.?\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{2,4}})"  # March 14, 1962
)
_HONORIFIC = r"(?:Mr|Mrs|Ms|Mx|Miss|Dr|Prof|Sr|Sra|Srta|Mme|Mlle|Herr|Frau)"
_NAME = r"[A-Z][A-Za-z'’-]+"
_STREET_WORD = (
    r"(?i:street|avenue|road|boulevard|lane|drive|court|place|terrace|parkway|highway|circle|square)"
)
_STREET_ABBR = r"(?:St|Ave|Rd|Blvd|Ln|Dr|Ct|Pl|Pkwy|Hwy|Sq)\.?"

PATTERNS: dict[str, re.Pattern[str]] = {
    "name": re.compile(
        rf"\b{_HONORIFIC}\.?\s+(?:[A-Z]\.\s*)*{_NAME}(?:\s+{_NAME})?"
        rf"|(?i:\b(?:patient(?:'s)?\s+name|pt\.?\s+name|name\s+of\s+patient|patient|name))\s*[:=]\s*{_NAME}"
        rf"|(?i:\b(?:dictated|signed|electronically\s+signed|read|reported|referred|verified)\s+by)\s*:?\s*"
        rf"(?:{_HONORIFIC}\.?\s+)?{_NAME}"
    ),
    "mrn": re.compile(
        r"(?i:\b(?:MRN|MR\s*(?:#|No\.?|num(?:ber)?)|medical\s+record(?:\s+(?:number|no\.?|num|#))?|"
        r"patient\s+(?:id|number|no\.?|#)|hospital\s+(?:number|no\.?|#)|chart\s+(?:number|no\.?|#)|"
        r"NHS\s+(?:number|no\.?)|UR\s+(?:number|no\.?)))\s*[:#=]?\s*[A-Z]{0,4}[-\s]?\d[\d\s-]{2,}\d"
    ),
    "accession": re.compile(
        r"(?i:\b(?:accession|acc)\b\.?\s*(?:number|num|no\.?|#)?)\s*[:#=]?\s*(?=[A-Z0-9-]*\d)[A-Z0-9][A-Z0-9-]{3,}",
        re.IGNORECASE,
    ),
    "dob": re.compile(
        r"(?i:\bDOB\b|\bD\.O\.B\.?|\bdate\s+of\s+birth\b|\bbirth\s*date\b|\bborn(?:\s+on)?\b)\s*[:=-]?\s*"
        rf"(?:{_DAY_DATE}|\d{{4}})",
    ),
    "date": re.compile(rf"(?<![\d.])(?:{_DAY_DATE})(?![\d])", re.IGNORECASE),
    "phone": re.compile(
        r"(?<![\d.])(?:\+?1[\s.-]?)?(?:\(\d{3}\)\s?|\d{3}[\s.-])\d{3}[\s.-]\d{4}(?!\d)"
        r"|\+\d{1,3}[\s.-]?\d{2,4}[\s.-]?\d{3,4}[\s.-]?\d{3,4}(?!\d)"
        r"|(?i:\b(?:tel|phone|ph|mobile|cell|fax)\b\.?)\s*[:#]?\s*\+?\d[\d\s().-]{5,}\d"
    ),
    "address": re.compile(
        rf"\b\d{{1,6}}\s+(?:[A-Za-z][a-z]+\.?\s+){{1,4}}(?:{_STREET_WORD}\b|{_STREET_ABBR}(?!\w))"
        r"|(?i:\bP\.?\s*O\.?\s*Box\s+\d+)"
        r"|\b[A-Z]{2}\s+\d{5}(?:-\d{4})?\b"
        r"|(?i:\b(?:home\s+)?address\s*[:=])\s*\S+"
    ),
    "email": re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b"),
    "ssn": re.compile(r"(?i:\bSSN\b\s*[:#]?\s*)?\b\d{3}-\d{2}-\d{4}\b"),
    "uid": re.compile(r"(?<![\d.])[0-2](?:\.\d+){4,}(?!\d|\.\d)"),
    "id_number": re.compile(r"(?<![\w.,/])[A-Za-z]{0,3}-?\d{7,}(?!\d|[.,]\d)"),
}


@dataclass(frozen=True)
class Scan:
    """Identifier kinds found in some texts, with counts; never the matched text."""

    kinds: dict[str, int] = field(default_factory=dict)

    @property
    def found(self) -> bool:
        return bool(self.kinds)


def scan(texts: Iterable[str]) -> Scan:
    """Count what looks like a patient identifier, per kind."""
    counts: Counter[str] = Counter()
    for text in texts:
        for kind, pattern in PATTERNS.items():
            counts[kind] += sum(1 for _ in pattern.finditer(text))
    return Scan({k: n for k, n in counts.items() if n})


def redact(text: str) -> str:
    """The text with every recognised identifier replaced by its kind, e.g. "[MRN]"."""
    for kind, pattern in PATTERNS.items():
        text = pattern.sub(f"[{kind.upper()}]", text)
    return text


def message_texts(messages: list[dict[str, Any]]) -> list[str]:
    """The text of chat messages (plain strings and OpenAI-style text parts)."""
    texts: list[str] = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts.extend(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return texts


Action = Literal["local", "allowed", "clean", "fallback", "blocked"]


@dataclass(frozen=True)
class EgressDecision:
    """What the guard did with one call: where it went (None: nowhere) and why."""

    requested: str
    sent_to: str | None
    action: Action
    kinds: dict[str, int] = field(default_factory=dict)

    def describe(self) -> str:
        found = ", ".join(sorted(self.kinds)) or "none"
        return f"{self.requested} -> {self.sent_to or 'not sent'} ({self.action}; identifiers: {found})"


class PhiWithheld(Exception):
    """A call was not sent: its text has patient identifiers and the alias has no local fallback."""

    def __init__(self, decision: EgressDecision) -> None:
        kinds = ", ".join(sorted(decision.kinds))
        super().__init__(
            f"not sent to model alias {decision.requested!r}, whose calls leave this machine: the text "
            f"contains patient identifiers ({kinds}) and the alias has no local fallback"
        )
        self.decision = decision


_decisions: ContextVar[list[EgressDecision] | None] = ContextVar("radassist_egress", default=None)


@contextmanager
def record_egress() -> Iterator[list[EgressDecision]]:
    """Collect the guard's decisions about remote aliases made in this context (a turn)."""
    decisions: list[EgressDecision] = []
    token = _decisions.set(decisions)
    try:
        yield decisions
    finally:
        _decisions.reset(token)


def decide(config: Any, alias: str, texts: list[str], *, may_fall_back: bool = True) -> EgressDecision:
    """Where a call with these texts may go (see the module docstring). `config` is a ModelsConfig."""
    if not config.leaves_machine(alias):
        return EgressDecision(alias, alias, "local")
    if config.allows_phi(alias):
        decision = EgressDecision(alias, alias, "allowed")
    else:
        found = scan(texts)
        fallback = config.phi_fallback(alias) if may_fall_back else None
        if not found.found:
            decision = EgressDecision(alias, alias, "clean")
        elif fallback is not None:
            decision = EgressDecision(alias, fallback, "fallback", found.kinds)
        else:
            decision = EgressDecision(alias, None, "blocked", found.kinds)
    log.info("egress guard: %s", decision.describe())
    if (decisions := _decisions.get()) is not None:
        decisions.append(decision)
    return decision
