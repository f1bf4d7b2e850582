"""Negation in radiology text, NegEx/ConText style: trigger terms, pseudo-triggers and scope terminators.

A mention is negated when a pre-negation trigger ("no", "without", "negative for") stands before it in
the same scope, or a post-negation trigger ("is not seen", "has resolved") follows it. Pseudo-triggers
contain a negation word but negate nothing ("no change in washout", "not only ... but", "cannot exclude")
and are masked before triggers are looked for. A scope ends at a terminator ("but", "however", "except")
or at the end of the clause.

Trigger lists are ported, in radiology-relevant subsets, from:
* NegEx: Chapman WW, Bridewell W, Hanbury P, Cooper GF, Buchanan BG. A simple algorithm for identifying
  negated findings and diseases in discharge summaries. J Biomed Inform 2001;34(5):301-310, and the trigger
  file distributed with NegEx (negex_triggers.txt: [PSEU] pseudo, [PREN] pre-negation, [POST]
  post-negation, [CONJ] termination);
* ConText: Harkema H, Dowling JN, Thornblade T, Chapman WW. ConText: an algorithm for determining negation,
  experiencer, and temporal status from clinical reports. J Biomed Inform 2009;42(5):839-851 (possibility
  terms such as "cannot exclude" are not negations; termination terms).
Additions for radiology wording are marked "radiology" below. spaCy is not used: plain regular expressions.
"""

from __future__ import annotations

import re
from functools import lru_cache

# [PSEU] NegEx pseudo-negations, plus ConText "possible existence" phrases that contain a negation word.
PSEUDO: tuple[str, ...] = (
    "no increase",
    "no suspicious change",
    "no significant change",
    "no change",
    "no interval change",
    "no definite change",
    "no significant interval change",
    "not extend",
    "not cause",
    "not drain",
    "not certain if",
    "not certain whether",
    "not necessarily",
    "not only",
    "without difficulty",
    # ConText: uncertainty, not negation
    "cannot exclude",
    "cannot be excluded",
    "can not be excluded",
    "cannot rule out",
    "cannot be ruled out",
    "not excluded",
    "not ruled out",
    "not been ruled out",
    "did not rule out",
    # radiology: comparisons and unchanged findings
    # a finding "not seen on the prior" is new, not absent (the post-negation "not seen" must not fire)
    "not seen on the prior",
    "not seen on prior",
    "not seen on the previous",
    "not seen on previous",
    "not seen previously",
    "not previously seen",
    "not seen before",
    "not present on the prior",
    "not present on prior",
    "not present previously",
    "not identified on the prior",
    "not identified on prior",
    "not present last year",  # radiology: "a new 7 mm solid nodule that was not present last year"
    "not present a year ago",
    "not present on the last",
    "not seen last year",
    "not seen a year ago",
    "not seen on the last",
    "without interval change",
    "without significant change",
    "without change",
    "no interval growth",
    "no significant growth",
    "not significantly changed",
    "no longer than",
    "no more than",
    "not more than",
    "not less than",
    "no less than",
)

# [PREN] NegEx pre-negations (subset that occurs in imaging reports), plus radiology additions.
PRE_NEGATION: tuple[str, ...] = (
    "absence of",
    "absent",
    "fails to reveal",
    "free of",
    "negative for",
    "no",
    "no evidence",
    "no evidence of",
    "no new",
    "no other",
    "no sign of",
    "no signs of",
    "no significant",
    "no suggestion of",
    "no suspicious",
    "no abnormal",
    "not",
    "not appear",
    "not demonstrate",
    "not reveal",
    "not see",
    "rather than",
    "resolution of",  # radiology ("resolved" is a NegEx [PREN]; reports write "resolution of")
    "unremarkable for",
    "with no",
    "without",
    "without evidence of",
    "without any evidence of",
    "without sign of",
    "nor",
    "neither",  # radiology: "neither washout nor capsule"
    "non",  # radassist's earlier list: "non-smoker"; extractors rewrite "non-enhancing" before matching
    "none",
    "never",
    "denies",
    "denied",
    "lack of",
    "lacks",
    "ruled out",
    "rules out",
)

# [POST] NegEx post-negations, plus radiology wording for absent or resolved findings.
POST_NEGATION: tuple[str, ...] = (
    "unlikely",
    "was ruled out",
    "is ruled out",
    "are ruled out",
    "has been ruled out",
    "have been ruled out",
    "not seen",
    "not identified",
    "not visualized",
    "not visualised",
    "not present",
    "not appreciated",
    "no longer seen",
    "no longer visible",
    "no longer identified",
    "no longer visualized",
    "no longer present",
    "is absent",
    "are absent",
    "has resolved",
    "have resolved",
    "resolved",
)

# [CONJ] NegEx termination terms (subset), plus ConText terminators.
TERMINATION: tuple[str, ...] = (
    "but",
    "however",
    "nevertheless",
    "yet",
    "though",
    "although",
    "still",
    "aside from",
    "except",
    "apart from",
    "secondary to",
    "which",
    "whereas",
    "while",
)

_CLAUSE_END = re.compile(r"\.(?!\d)|[;:!?\n]")


def _alternation(terms: tuple[str, ...]) -> str:
    longest_first = sorted(terms, key=len, reverse=True)
    return "|".join(r"\s+".join(map(re.escape, t.split())) for t in longest_first)


_PSEUDO = re.compile(rf"\b(?:{_alternation(PSEUDO)})\b", re.IGNORECASE)
_PRE = re.compile(rf"\b(?:{_alternation(PRE_NEGATION)})\b", re.IGNORECASE)
_POST = re.compile(rf"\b(?:{_alternation(POST_NEGATION)})\b", re.IGNORECASE)
_TERMINATION = re.compile(rf"\b(?:{_alternation(TERMINATION)})\b|,|\bwith\b|\band\b", re.IGNORECASE)
# A post-negation reaches back over the mention's own clause, but not past a clause break.
_POST_SCOPE_BREAK = re.compile(rf"\b(?:{_alternation(TERMINATION)})\b|,", re.IGNORECASE)


# A coordinated list under one negation: "no A, B or C", "without A, B, or C", "neither A nor B", and
# "A, B or C is not seen". Commas end a scope (NegEx), but not inside such a list: the list is closed by
# "or"/"nor" (a disjunction under a negation negates every member) and its items are short noun phrases
# (no verb, terminator or other trigger), so "no washout, capsule present" or "no washout, but capsule or
# growth" stay as they were. "no A, B and C" is not widened: "and" may start a new clause.
_ITEM_STOP_WORDS: tuple[str, ...] = (
    "is", "are", "was", "were", "be", "been", "has", "have", "had", "seen", "noted", "present",
    "identified", "demonstrated", "shows", "showing", "measures", "measuring", "with", "and", "or",
    "nor", "no", "not", "without", "neither", "none", "then", "there",
)  # fmt: skip
_ITEM_STOP = _alternation((*TERMINATION, *_ITEM_STOP_WORDS))
_WORD = rf"(?!(?:{_ITEM_STOP})\b)[\w/-]+"
# A list item is a bare noun phrase: an article or a number starts a new subject ("Without prior imaging,
# a 6 mm nodule or mass ..."), not another listed feature.
_ITEM_WORD = rf"(?!(?:{_ITEM_STOP}|a|an|the|this|these|that|those|it)\b)(?!\d)[\w/-]+"
_ITEM = rf"{_ITEM_WORD}(?:[ \t]+{_ITEM_WORD}){{0,3}}(?![\w/-])"


def _list(conjunctions: str) -> str:
    return rf"(?P<items>{_ITEM}(?:[ \t]*,[ \t]*{_ITEM})*[ \t]*,?[ \t]*\b(?:{conjunctions})[ \t]+{_ITEM})"


_PRE_LIST = re.compile(rf"\b(?P<t>{_alternation(PRE_NEGATION)})[ \t]+{_list('and/or|or|nor')}", re.IGNORECASE)
# "no A and B": B may be negated ("no washout and capsule") or stated ("no washout and capsule present" is
# not a list, but "and" may begin a new clause); neither reading is safe, so callers can leave it open.
_PRE_AND_LIST = re.compile(
    rf"\b(?P<t>{_alternation(PRE_NEGATION)})[ \t]+{_list('and')}"
    r"(?![ \t]+(?:is|are|was|were|present|seen|noted|identified|demonstrated|shows|showing|has|have)\b)",
    re.IGNORECASE,
)
# After the list, "and" is safe too: "washout and capsule are not seen".
_POST_LIST = re.compile(
    rf"(?<![\w/-]){_list('and/or|and|or|nor')}[ \t]+(?:(?:is|are|was|were)[ \t]+)?(?P<t>{_alternation(POST_NEGATION)})\b",
    re.IGNORECASE,
)


def _list_trigger(text: str, start: int, post: bool, pattern: re.Pattern[str] | None = None) -> str | None:
    """The trigger of a negated coordinated list that `start` lies in, within start's clause."""
    masked = _masked_cached(text) if len(text) < 20000 else _masked(text)
    ends = [m.end() for m in _CLAUSE_END.finditer(masked, max(0, start - 200), start)]
    lo = ends[-1] if ends else max(0, start - 200)
    stop = _CLAUSE_END.search(masked, start, start + 200)
    hi = stop.start() if stop else min(len(masked), start + 200)
    if pattern is None:
        pattern = _POST_LIST if post else _PRE_LIST
    pos = lo
    while pos < hi:
        m = pattern.search(masked, pos, hi)
        if m is None:
            return None
        if m.start("items") <= start < m.end("items"):
            return text[m.start("t") : m.end("t")]
        pos = m.start() + 1
    return None


def _masked(text: str) -> str:
    """The text with pseudo-triggers blanked out (same length, so offsets stay valid)."""
    return _PSEUDO.sub(lambda m: " " * len(m.group(0)), text)


@lru_cache(maxsize=4096)
def _masked_cached(text: str) -> str:
    return _masked(text)


def pre_negated(text: str, start: int, window: int = 40) -> bool:
    """A pre-negation trigger in the scope before `start` (same clause, not past a terminator)."""
    lo = max(0, start - window)
    before = _masked_cached(text)[lo:start] if len(text) < 20000 else _masked(text[lo:start])
    breaks = list(_CLAUSE_END.finditer(before)) + list(_TERMINATION.finditer(before))
    cut = max((m.end() for m in breaks), default=0)
    return bool(_PRE.search(before, cut)) or _list_trigger(text, start, post=False) is not None


def post_negated(text: str, end: int, window: int = 40) -> bool:
    """A post-negation trigger right after the mention, in the same clause ("cyst has resolved")."""
    after = text[end : end + window]
    stop = _CLAUSE_END.search(after)
    scope = after[: stop.start()] if stop else after
    m = _POST.search(scope)
    return m is not None and not _POST_SCOPE_BREAK.search(scope, 0, m.start())


def is_negated_span(text: str, start: int, end: int) -> bool:
    """Whether the mention text[start:end] is negated before or after it (or as a member of a negated list)."""
    return (
        pre_negated(text, start)
        or post_negated(text, end)
        or _list_trigger(text, start, post=True) is not None
    )


_POST_CLOSE = re.compile(
    rf"[ \t]+(?:{_WORD}[ \t]+){{0,3}}?(?:(?:is|are|was|were)[ \t]+)?(?:{_alternation(POST_NEGATION)})\b",
    re.IGNORECASE,
)


# Structured reports: "Washout: absent", "Capsule: no".
_COLON_NEGATIVE = re.compile(
    r"[ \t]*:[ \t]*(?:absent|none|no|not\s+(?:seen|present|identified|visualized)|negative)\b(?![ \t]*[\w-])",
    re.IGNORECASE,
)


def negation_ambiguous(text: str, start: int) -> bool:
    """The mention is a later member of "no A and B": negated or stated, the text does not settle which."""
    if pre_negated(text, start):
        return False
    return _list_trigger(text, start, post=False, pattern=_PRE_AND_LIST) is not None


def negated_mention(text: str, start: int, end: int) -> bool:
    """Pre-negated, or closely post-negated ("capsule is not seen", "washout, capsule or growth not seen").

    Stricter than `post_negated`: only a few modifier words and a copula may stand between the mention and
    the post-negation, so "washout present and capsule not seen" does not negate washout.
    """
    if pre_negated(text, start):
        return True
    masked = _masked_cached(text) if len(text) < 20000 else _masked(text)
    return (
        _POST_CLOSE.match(masked, end) is not None
        or _COLON_NEGATIVE.match(masked, end) is not None
        or _list_trigger(text, start, post=True) is not None
    )


def negation_trigger(text: str, start: int, end: int) -> str | None:
    """The trigger words that negate text[start:end], for explaining why a finding was not classified."""
    lo = max(0, start - 40)
    before = _masked(text[lo:start])
    breaks = list(_CLAUSE_END.finditer(before)) + list(_TERMINATION.finditer(before))
    cut = max((m.end() for m in breaks), default=0)
    pre = list(_PRE.finditer(before, cut))
    if pre:
        return pre[-1].group(0)
    listed = _list_trigger(text, start, post=False)
    if listed is not None:
        return listed
    after = text[end : end + 40]
    stop = _CLAUSE_END.search(after)
    scope = after[: stop.start()] if stop else after
    m = _POST.search(scope)
    if m and not _POST_SCOPE_BREAK.search(scope, 0, m.start()):
        return m.group(0)
    return _list_trigger(text, start, post=True)
