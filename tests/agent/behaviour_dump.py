"""Dump what the agent and every extractor/classifier produce for thousands of generated inputs.

Not part of the suite (the file name does not start with `test_`): a refactoring that must not change
behaviour runs it on the old commit and on the new code, then compares the dumps byte for byte:

    python tests/agent/behaviour_dump.py corpus --seed-dir OLD_CHECKOUT --out /tmp/corpus.json
    BEHAVIOUR_CORPUS=/tmp/corpus.json BEHAVIOUR_OUT=/tmp/dump-new \\
        python -m pytest -p no:cacheprovider tests/agent/behaviour_dump.py [-m "not postgres"]
    (the same in the old checkout, with PYTHONPATH pointing at it and BEHAVIOUR_OUT=/tmp/dump-old)
    python tests/agent/behaviour_dump.py compare /tmp/dump-old /tmp/dump-new [--drop KEY[@MARKER],...]

The corpus is built once (from the old checkout's test strings, routing questions and expert examples,
recombined and re-measured with a fixed seed), so both runs read exactly the same inputs. Parts:

- `classify.jsonl`: per text, every classification tool's extraction and result, the system ranking,
  `classify_text`, and verify's readings (categories, intervals, sizes, claims, claim checks);
- `agent.jsonl`: conversations of one to three turns on the fast fakes (hashing gate, fake retrieval,
  a scripted model whose drafts, verdicts and gap-filling answers derive from a hash of its prompt),
  with every streamed event and the result (thread ids, timestamps and timings removed);
- `conversations.jsonl` and `routing.jsonl` (marked postgres): the 39 scripted conversations on the real
  runtime, and the real MiniLM gate's decision for every routing question and expert example.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import json
import os
import random
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

CORPUS = os.environ.get("BEHAVIOUR_CORPUS", "")
OUT = os.environ.get("BEHAVIOUR_OUT", "")
VOLATILE = {"thread_id", "created_at", "timings_ms", "model_calls", "ms"}

pytestmark = pytest.mark.skipif(not (CORPUS and OUT), reason="run explicitly with BEHAVIOUR_CORPUS/OUT")


# --- the corpus ------------------------------------------------------------------------------------------

_NUMBER = re.compile(r"\d+(?:\.\d+)?")
FOLLOW_UPS = (
    "and if it were {n} mm?",
    "What if it measured {n} mm?",
    "what if it were {c} cm instead?",
    "and the management?",
    "What if DCE were negative?",
    "and if the patient were a smoker?",
    "what about {n} HU?",
    "and if it grew to {n} mm?",
    "ok thanks",
)


def _strings(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value.strip()
            if 6 <= len(text) <= 400 and " " in text and "\n" not in text and not text.startswith(("{", "%")):
                out.append(text)
    return out


def harvest(seed_dir: Path) -> list[str]:
    import yaml

    texts: list[str] = []
    for pattern in ("tests/classify/*.py", "tests/agent/test_*.py"):
        for path in sorted(seed_dir.glob(pattern)):
            texts += _strings(path)
    routing = yaml.safe_load((seed_dir / "tests/data/routing_questions.yaml").read_text(encoding="utf-8"))
    texts += [r["question"] for r in routing]
    for path in sorted((seed_dir / "experts").glob("*.md")):
        front = path.read_text(encoding="utf-8").split("---")[1]
        texts += yaml.safe_load(front).get("examples", [])
    return sorted(set(texts))


def _remeasure(text: str, rng: random.Random) -> str:
    def swap(m: re.Match[str]) -> str:
        value = float(m.group())
        new = max(0.1, value * rng.choice((0.5, 0.8, 1.0, 1.25, 1.5, 2.0)) + rng.choice((-1, 0, 1)))
        return f"{new:.1f}" if "." in m.group() or rng.random() < 0.2 else str(round(new))

    return _NUMBER.sub(swap, text) if rng.random() < 0.6 else text


def make_corpus(seed_dir: Path, n_texts: int, n_conversations: int, seed: int = 20250101) -> dict[str, Any]:
    rng = random.Random(seed)
    base = harvest(seed_dir)
    texts = list(base)
    while len(texts) < n_texts:
        k = rng.choice((1, 1, 2, 2, 3))
        parts = [_remeasure(rng.choice(base), rng) for _ in range(k)]
        joiner = rng.choice((" ", ", ", ". ", "; "))
        texts.append(joiner.join(parts))
    conversations = []
    for _ in range(n_conversations):
        turns = [_remeasure(rng.choice(base), rng)]
        for _ in range(rng.choice((0, 0, 1, 1, 2))):
            turns.append(
                rng.choice(FOLLOW_UPS).format(
                    n=rng.choice((3, 5, 6, 8, 10, 12, 25, 40)), c=rng.choice((1, 2.5))
                )
                if rng.random() < 0.7
                else _remeasure(rng.choice(base), rng)
            )
        expert = rng.choice((None,) * 8 + ("chest", "neuro", "abdominal", "breast", "msk", "gu", "general"))
        conversations.append({"turns": turns, "expert": expert, "seed": rng.randrange(1 << 30)})
    return {"texts": texts, "conversations": conversations}


# --- writing and comparing ----------------------------------------------------------------------------


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, float):
        return round(value, 9)
    if isinstance(value, str) and os.environ.get("RADASSIST_HOME"):  # each session has its own home
        return value.replace(os.environ["RADASSIST_HOME"], "$RADASSIST_HOME")
    return value


class Dump:
    def __init__(self, part: str) -> None:
        Path(OUT).mkdir(parents=True, exist_ok=True)
        self.file = open(Path(OUT) / f"{part}.jsonl", "w", encoding="utf-8")

    def write(self, key: Any, value: Any) -> None:
        line = json.dumps(
            {"key": key, "value": _clean(value)}, sort_keys=True, default=str, ensure_ascii=False
        )
        self.file.write(line + "\n")

    def close(self) -> None:
        self.file.close()


def _corpus() -> dict[str, Any]:
    return json.loads(Path(CORPUS).read_text(encoding="utf-8"))


def _call(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call with only the keyword arguments the function (old or new) accepts."""
    params = inspect.signature(func).parameters
    return func(*args, **{k: v for k, v in kwargs.items() if k in params})


def _safe(func: Callable[[], Any]) -> Any:
    try:
        return func()
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}


# --- part 1: extractors, classifiers, verify's readers -------------------------------------------------


def _spellings() -> Any:
    """The category spellings verify reads: the registry's on the new code (none to pass on the old)."""
    from tools.registry import REGISTRY, load_tools

    load_tools()
    return REGISTRY.category_spellings() if hasattr(REGISTRY, "category_spellings") else None


EVIDENCE_RESULTS = [
    {"system": "lung_rads", "guideline": "ACR Lung-RADS v2022", "category": "4A", "management": "LDCT in 3 months",
     "rationale": ["Solid nodule 8 to <15 mm at baseline."], "inputs": {"mean_diameter_mm": 9}},
    {"system": "ti_rads", "guideline": "ACR TI-RADS 2017", "category": "TR3", "risk": "4.8%",
     "management": "No FNA; follow-up ultrasound at 1, 3 and 5 years", "rationale": [], "inputs": {}},
    {"system": "bosniak", "guideline": "Bosniak v2019", "category": "IIF", "management": "CT or MRI at 6 months, 12 months, then annually for 5 years"},
    {"system": "li_rads", "guideline": "LI-RADS v2018", "category": "LR-5", "management": "Multidisciplinary discussion"},
]  # fmt: skip
PASSAGES = [
    "Lung-RADS 4A: probably suspicious; LDCT at 3 months. Lung-RADS category 3: LDCT at 6 months.",
    "TI-RADS TR4 nodules: FNA at 1.5 cm or more; follow-up at 1 cm, at 1, 2, 3 and 5 years.",
    "Bosniak II-F masses are followed at 6 months and 12 months, then annually for 5 years.",
    "BI-RADS 4B means moderate suspicion; PI-RADS 3 is equivocal; O-RADS 4 is intermediate risk.",
]


def _classify_row(text: str, systems: list[Any], evidence: Any, spellings: Any) -> dict[str, Any]:
    from agent import verify as v
    from tools.classify import findings

    row: dict[str, Any] = {}
    for t in systems:
        extraction = _safe(lambda t=t: t.extractor(text))
        row[t.name] = (
            extraction
            if isinstance(extraction, dict)
            else {
                "extraction": extraction.model_dump(),
                "result": _safe(
                    lambda t=t, e=extraction: findings.classify_inputs(t, dict(e.inputs), e).model_dump()
                ),
            }
        )
    row["rank"] = _safe(lambda: findings.rank_systems(text))
    row["infer"] = _safe(lambda: findings.infer_system(text))
    row["classify_text"] = _safe(lambda: [x.model_dump() for x in findings.classify_text(text)])
    row["categories"] = _safe(
        lambda: {k: sorted(s) for k, s in _call(v.categories, text, spellings=spellings).items()}
    )
    row["intervals"] = sorted(v.intervals(text))
    row["sizes"] = sorted(v.sizes_mm(text))
    claims = v.split_claims(text)
    row["claims"] = claims
    row["checks"] = [
        _safe(lambda c=c: vars(_call(v.check_claim, c, evidence, spellings=spellings))) for c in claims
    ]
    return row


@pytest.mark.filterwarnings("ignore")
def test_dump_classification() -> None:
    from agent import verify as v
    from tools.registry import REGISTRY, load_tools

    load_tools()
    systems = REGISTRY.of_kind("classification")
    dump = Dump("classify")
    spellings = _spellings()
    try:
        evidence = _call(v.Evidence, tool_results=EVIDENCE_RESULTS, passages=PASSAGES, spellings=spellings)
        for i, text in enumerate(_corpus()["texts"]):
            dump.write(i, _classify_row(text, systems, evidence, spellings))
    finally:
        dump.close()


# --- part 2: the agent on fakes ------------------------------------------------------------------------

_WRONG = (
    "CT at {n} months is needed.",
    "A PET/CT at {n} weeks is recommended [1].",
    "The threshold is {n} mm.",
    "This is Lung-RADS 4B and BI-RADS 3.",
    "TI-RADS TR{k} applies here.",
    "It is LI-RADS {k} [2].",
    "Bosniak {roman} class, follow-up in {n} years.",
    "PI-RADS {k} lesion; O-RADS {k} [1].",
    "The nodule is benign and needs nothing.",
    "See reference [7] for details.",
    "Annual follow-up is advised.",
)


def _rng(messages: list[dict[str, Any]], salt: int) -> random.Random:
    digest = hashlib.sha256((str(salt) + json.dumps(messages, sort_keys=True)).encode()).hexdigest()
    return random.Random(int(digest[:16], 16))


PROMPT_LINES = ("Question", "Earlier", "Your previous", "Answer in", "Tool results", "Guideline")


def scripted_draft(salt: int) -> Callable[[list[dict[str, Any]]], str]:
    def draft(messages: list[dict[str, Any]]) -> str:
        rng = _rng(messages, salt)
        content = messages[-1]["content"]
        if rng.random() < 0.1:
            return ""
        sentences = []
        for line in content.splitlines():
            if line.startswith("**") and rng.random() < 0.8:
                sentences.append(line.strip("*").rstrip(".") + ".")
            elif line.startswith(("Management:", "Risk:")) and rng.random() < 0.7:
                sentences.append(line.rstrip(".") + (" [1]." if rng.random() < 0.3 else "."))
            elif re.match(r"^[A-Z].{40,}", line) and not line.startswith(PROMPT_LINES) and rng.random() < 0.7:
                cite = 1 if rng.random() < 0.8 else rng.randint(1, 3)
                sentences.append(line.split(". ")[0].rstrip(".") + f" [{cite}].")
        for _ in range(rng.choice((0, 0, 0, 1, 2))):
            sentences.insert(
                rng.randrange(len(sentences) + 1),
                rng.choice(_WRONG).format(
                    n=rng.choice((1, 3, 6, 9, 12, 18, 24)),
                    k=rng.randint(1, 5),
                    roman=rng.choice(("II", "IIF", "III")),
                ),
            )
        if "previous answer had unsupported" in content and rng.random() < 0.5:
            sentences = sentences[:1]
        return " ".join(sentences)

    return draft


def scripted_json(salt: int) -> Callable[[list[dict[str, Any]], dict[str, Any]], dict[str, Any]]:
    def reply(messages: list[dict[str, Any]], schema: dict[str, Any]) -> dict[str, Any]:
        rng = _rng(messages, salt + 1)
        props = schema.get("properties", {})
        if "verdicts" in props:
            return {
                "verdicts": [rng.choice(("yes", "yes", "no")) for _ in range(props["verdicts"]["minItems"])]
            }
        numbers = [
            float(n)
            for n in _NUMBER.findall(
                messages[-1]["content"].split('"""')[-2] if '"""' in messages[-1]["content"] else ""
            )
        ]
        out: dict[str, Any] = {}
        for name, prop in props.items():
            if rng.random() < 0.5:
                continue
            enum = prop.get("enum") or [x.get("const") for x in prop.get("anyOf", []) if "const" in x]
            if enum:
                out[name] = rng.choice(enum)
            elif prop.get("type") in ("number", "integer") or "anyOf" in prop:
                out[name] = rng.choice(numbers or [7.0]) if rng.random() < 0.8 else 42
            elif prop.get("type") == "boolean":
                out[name] = rng.random() < 0.5
        return out

    return reply


def _result_dump(result: Any) -> dict[str, Any]:
    return {"json": result.as_json(), "provenance": result.provenance}


@pytest.mark.filterwarnings("ignore")
async def test_dump_agent_on_fakes(make_assistant: Callable[..., Any]) -> None:
    from tests.agent.fakes import ScriptedLLM

    dump = Dump("agent")
    try:
        for i, conversation in enumerate(_corpus()["conversations"]):
            salt = conversation["seed"]
            llm = ScriptedLLM(scripted_draft(salt), json_reply=scripted_json(salt))
            assistant = make_assistant(llm)
            thread = f"conversation-{i}"
            turns = []
            for message in conversation["turns"]:
                events: list[dict[str, Any]] = []

                async def record(event: dict[str, Any], events: list[dict[str, Any]] = events) -> None:
                    events.append(event)

                try:
                    result = await assistant.ask(
                        message, thread_id=thread, expert=conversation["expert"], on_event=record
                    )
                    turns.append({"events": events, **_result_dump(result)})
                except Exception as exc:
                    turns.append({"events": events, "error": f"{type(exc).__name__}: {exc}"})
            dump.write(i, {"turns": turns, "calls": llm.calls})
    finally:
        dump.close()


# --- part 3: real parts (39 scripted conversations, routing) ---------------------------------------------


@pytest.mark.postgres
@pytest.mark.filterwarnings("ignore")
async def test_dump_conversations(scripted_assistant: Callable[..., Any]) -> None:
    from tests.agent.test_conversations import CONVERSATIONS, scripted_model

    dump = Dump("conversations")
    try:
        for conversation in CONVERSATIONS:
            assistant = scripted_assistant(scripted_model(conversation))
            thread = None
            for n, turn in enumerate(conversation.turns):
                result = await assistant.ask(turn.message, thread_id=thread)
                thread = result.thread_id
                dump.write([conversation.name, n], _result_dump(result))
    finally:
        dump.close()


@pytest.fixture
def real_gate_context(request: pytest.FixtureRequest) -> Any:
    try:
        return request.getfixturevalue("real_context")
    except pytest.FixtureLookupError:  # the code before AgentContext named it real_deps
        return request.getfixturevalue("real_deps")


@pytest.mark.postgres
@pytest.mark.filterwarnings("ignore")
async def test_dump_routing(real_gate_context: Any) -> None:
    import yaml

    from agent.settings import REPO_ROOT

    real_deps = real_gate_context

    routing = yaml.safe_load((REPO_ROOT / "tests/data/routing_questions.yaml").read_text(encoding="utf-8"))
    questions = [r["question"] for r in routing]
    questions += [x for e in real_deps.experts.values() for x in e.examples]
    dump = Dump("routing")
    try:
        for q in questions:
            decision = await real_deps.gate.route(q)
            dump.write(q, decision.as_dict() if hasattr(decision, "as_dict") else decision.model_dump())
    finally:
        dump.close()


# --- command line ---------------------------------------------------------------------------------------


def say(text: str) -> None:
    sys.stdout.write(text + "\n")


def _lines(path: Path) -> Iterator[str]:
    with path.open(encoding="utf-8") as f:
        yield from f


def _without(value: Any, keys: set[str]) -> Any:
    """Drop `key`s, or with `key@marker` only from the dicts that have a `marker` key too."""
    if isinstance(value, dict):
        gone = {k for k in keys if "@" not in k}
        gone |= {k.split("@")[0] for k in keys if "@" in k and k.split("@")[1] in value}
        return {k: _without(v, keys) for k, v in value.items() if k not in gone}
    if isinstance(value, list):
        return [_without(v, keys) for v in value]
    return value


def _dropping(lines: list[str], keys: set[str]) -> list[str]:
    return [
        json.dumps(_without(json.loads(line), keys), sort_keys=True, ensure_ascii=False) for line in lines
    ]


def compare(old: Path, new: Path, drop: set[str] | None = None) -> int:
    """Print, per part, how many records there are and how many differ; exit 1 on any difference.

    `drop` names keys removed from both sides first (a field added on purpose, compared separately).
    """
    differing = 0
    summary = {}
    for part in sorted({p.name for p in old.glob("*.jsonl")} | {p.name for p in new.glob("*.jsonl")}):
        a, b = old / part, new / part
        if not (a.exists() and b.exists()):
            say(f"{part}: only in {'old' if a.exists() else 'new'}")
            differing += 1
            continue
        la, lb = list(_lines(a)), list(_lines(b))
        if drop:
            la, lb = _dropping(la, drop), _dropping(lb, drop)
        diff = [i for i, (x, y) in enumerate(zip(la, lb, strict=False)) if x != y]
        same_bytes = la == lb if drop else a.read_bytes() == b.read_bytes()
        summary[part] = {
            "records": len(la),
            "differing": len(diff) + abs(len(la) - len(lb)),
            "identical": same_bytes,
        }
        say(f"{part}: {len(la)} vs {len(lb)} records, {len(diff)} differ, byte-identical: {same_bytes}")
        for i in diff[:3]:
            say(f"  first difference at record {i}:\n    old {la[i][:600]}\n    new {lb[i][:600]}")
        differing += len(diff) + abs(len(la) - len(lb))
    say(json.dumps(summary))
    return 1 if differing else 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["corpus"]:
        seed_dir = Path(argv[argv.index("--seed-dir") + 1])
        out = Path(argv[argv.index("--out") + 1])
        corpus = make_corpus(seed_dir, n_texts=4000, n_conversations=600)
        out.write_text(json.dumps(corpus, ensure_ascii=False), encoding="utf-8")
        say(f"{len(corpus['texts'])} texts, {len(corpus['conversations'])} conversations -> {out}")
        return 0
    if argv[:1] == ["compare"]:
        drop = set(argv[argv.index("--drop") + 1].split(",")) if "--drop" in argv else None
        return compare(Path(argv[1]), Path(argv[2]), drop)
    say(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
