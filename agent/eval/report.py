"""report.html: one self-contained file (inline CSS, plots as inline PNG), readable offline and under a strict CSP.

Sections: the deployment (models with their GGUF sha256 or Ollama digest, expert versions), a summary
table per suite, the answer metrics per model and RAG mode, the comparison with a baseline, the plots
(accuracy per system, routing confusion matrix, latency distribution, RAG on vs off, baseline vs
current), and every failure linking to its trace further down the same file. Every text from a case
or a model is HTML-escaped; nothing is fetched from anywhere.
"""

from __future__ import annotations

import base64
import html
import io
import json
import re
from typing import Any

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;max-width:1180px;padding:24px;color:#1d2430;background:#fff}
h1{font-size:24px;margin:0 0 4px}h2{font-size:19px;margin:32px 0 8px;border-bottom:1px solid #d8dee8;padding-bottom:4px}
h3{font-size:15px;margin:18px 0 6px}.meta{color:#556;margin:0 0 12px}
table{border-collapse:collapse;margin:8px 0 16px;font-size:13px}th,td{border:1px solid #d8dee8;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f3f6fa}td.n{text-align:right;font-variant-numeric:tabular-nums}
.bad{color:#a61b1b;font-weight:600}.good{color:#17683a;font-weight:600}.warn{background:#fff6db;border:1px solid #f0d98c;padding:8px 12px;border-radius:4px}
figure{margin:12px 0 20px}figure img{max-width:100%;border:1px solid #e3e8ef}figcaption{color:#556;font-size:12px}
pre{background:#f6f8fa;border:1px solid #e3e8ef;padding:8px;overflow-x:auto;font-size:12px;white-space:pre-wrap;word-break:break-word}
article{border-top:1px solid #e3e8ef;padding-top:6px;margin-top:14px}article:target{background:#fffbe6}
code{font-size:12px}.small{font-size:12px;color:#556}ol li{margin:3px 0}
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value / 1000:.2f} s" if value >= 1000 else f"{value:.0f} ms"


def anchor(key: str) -> str:
    """An HTML id for a case's trace: letters, digits and '-' kept, anything else as _hex (one id per key)."""
    return "trace-" + re.sub(r"[^A-Za-z0-9-]", lambda m: f"_{ord(m.group()):x}", key)


def _table(headers: list[str], rows: list[list[str]], numeric: set[int] | None = None) -> str:
    numeric = numeric or set()
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(f"<td{' class=n' if i in numeric else ''}>{c}</td>" for i, c in enumerate(row))
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


# --- plots ---------------------------------------------------------------------------------------


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=96, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _figure(fig: Any, alt: str, caption: str) -> str:
    return (
        f'<figure><img alt="{_e(alt)}" src="data:image/png;base64,{_png(fig)}">'
        f"<figcaption>{_e(caption)}</figcaption></figure>"
    )


def _plots(summary: dict[str, Any], outcomes: list[dict[str, Any]], comparison: dict[str, Any] | None) -> str:
    import matplotlib

    matplotlib.use("Agg")  # headless: no display, no GUI toolkit
    import matplotlib.pyplot as plt

    suites = summary["suites"]
    parts = []

    per_system = [
        (s, suites[s]["by_system"])
        for s in ("classification", "findings")
        if suites.get(s, {}).get("by_system")
    ]
    if per_system:
        fig, axes = plt.subplots(
            1,
            len(per_system),
            figsize=(6 * len(per_system), 0.35 * max(len(b) for _, b in per_system) + 1.4),
            squeeze=False,
            layout="constrained",  # long system names would otherwise run into the plot on their left
        )
        for ax, (suite, by_system) in zip(axes[0], per_system, strict=True):
            names = list(by_system)[::-1]
            values = [by_system[n]["accuracy"] * 100 for n in names]
            ax.barh(names, values, color="#3b6fb6")
            for y, n in enumerate(names):
                ax.text(
                    min(values[y] + 1, 101),
                    y,
                    f"{by_system[n]['passed']}/{by_system[n]['cases']}",
                    va="center",
                    fontsize=8,
                )
            ax.set_xlim(0, 112)
            ax.set_xlabel("accuracy (%)")
            ax.set_title(f"{suite}: accuracy per system" + (" (per finding)" if suite == "findings" else ""))
        parts.append(
            _figure(
                fig,
                "accuracy per system",
                "Share of cases (findings: of expected findings) judged correct, per classification system.",
            )
        )

    confusion = suites.get("routing", {}).get("confusion")
    if confusion:
        labels = sorted(set(confusion) | {g for row in confusion.values() for g in row})
        matrix = [[confusion.get(e, {}).get(g, 0) for g in labels] for e in labels]
        fig, ax = plt.subplots(figsize=(1 + 0.7 * len(labels), 0.8 + 0.6 * len(labels)))
        ax.imshow(matrix, cmap="Blues")
        ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
        ax.set_yticks(range(len(labels)), labels)
        ax.set_xlabel("routed to (top expert)")
        ax.set_ylabel("expected expert")
        top = max(max(r) for r in matrix) or 1
        for i, row in enumerate(matrix):
            for j, count in enumerate(row):
                if count:
                    ax.text(
                        j,
                        i,
                        str(count),
                        ha="center",
                        va="center",
                        color="white" if count > top / 2 else "black",
                        fontsize=9,
                    )
        ax.set_title("routing: confusion matrix")
        parts.append(
            _figure(
                fig,
                "routing confusion matrix",
                "Rows: the expert each question should reach; columns: the gate's top expert.",
            )
        )

    runs = suites.get("answers", {}).get("runs", [])
    answers = [o for o in outcomes if o["suite"] == "answers" and o.get("error") is None]
    if answers:
        labels, turn, ttft = [], [], []
        for run in runs:
            rows = [o["measures"] for o in answers if o["model"] == run["model"] and o["rag"] == run["rag"]]
            labels.append(f"{run['model']}\nRAG {run['rag']}")
            turn.append([m["turn_ms"] / 1000 for m in rows if m.get("turn_ms") is not None] or [0])
            ttft.append([m["ttft_ms"] / 1000 for m in rows if m.get("ttft_ms") is not None] or [0])
        fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
        axes[0].boxplot(turn, showfliers=True)
        axes[0].set_xticks(range(1, len(labels) + 1), labels, fontsize=8)
        axes[0].set_ylabel("seconds")
        axes[0].set_title("time per turn")
        axes[1].boxplot(ttft, showfliers=True)
        axes[1].set_xticks(range(1, len(labels) + 1), labels, fontsize=8)
        axes[1].set_title("time to first token (drafting call)")
        parts.append(
            _figure(
                fig,
                "latency distribution",
                "Box: quartiles; whiskers: 1.5 IQR; points: outliers. Turns without a draft have no first token.",
            )
        )

    models = sorted({r["model"] for r in runs})
    if any(r["rag"] == "on" for r in runs) and any(r["rag"] == "off" for r in runs):
        metrics_shown = [("accuracy", "accuracy"), ("groundedness", "groundedness"),
                         ("high_risk_error_rate", "high-risk errors"), ("correct_refusal_rate", "correct refusals")]  # fmt: skip
        fig, axes = plt.subplots(1, len(models), figsize=(6 * len(models), 3.4), squeeze=False)
        for ax, model in zip(axes[0], models, strict=True):
            by_rag = {r["rag"]: r for r in runs if r["model"] == model}
            xs = range(len(metrics_shown))
            for offset, rag, color in ((-0.2, "on", "#3b6fb6"), (0.2, "off", "#c9893a")):
                values = [(by_rag.get(rag, {}).get(k) or 0) * 100 for k, _ in metrics_shown]
                ax.bar([x + offset for x in xs], values, width=0.4, label=f"RAG {rag}", color=color)
            ax.set_xticks(list(xs), [label for _, label in metrics_shown], fontsize=8)
            ax.set_ylim(0, 105)
            ax.set_ylabel("%")
            ax.set_title(f"RAG on vs off: {model}")
            ax.legend(fontsize=8)
        parts.append(
            _figure(fig, "RAG on vs off", "The same answer cases with and without guideline retrieval.")
        )

    if comparison and comparison["rows"]:
        rows = [r for r in comparison["rows"] if r["baseline"] is not None and r["current"] is not None]
        names = [f"{r['suite']}{' ' + r['run'] if r['run'] else ''}\n{r['metric']}" for r in rows]
        fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(rows)), 3.8))
        xs = range(len(rows))
        ax.bar(
            [x - 0.2 for x in xs],
            [r["baseline"] * 100 for r in rows],
            width=0.4,
            label="baseline",
            color="#9aa7b8",
        )
        ax.bar([x + 0.2 for x in xs], [r["current"] * 100 for r in rows], width=0.4, label="current",
               color=["#c23b3b" if r["regression"] else "#3b6fb6" for r in rows])  # fmt: skip
        ax.set_xticks(list(xs), names, rotation=60, ha="right", fontsize=7)
        ax.set_ylabel("%")
        ax.set_title("baseline vs current (red: regression)")
        ax.legend(fontsize=8)
        parts.append(_figure(fig, "baseline vs current", "Computed on the cases both runs share."))
    return "\n".join(parts)


# --- sections ------------------------------------------------------------------------------------


def _deployment(results: dict[str, Any]) -> str:
    models = results.get("models", {})
    rows = []
    for alias, info in sorted(models.items()):
        resolved = info.get("sha256") or info.get("digest") or info.get("api_base") or ""
        rows.append([_e(alias), _e(info.get("model")), "yes" if info.get("local") else '<span class="bad">REMOTE</span>',
                     f"<code>{_e(resolved)}</code>", _e(info.get("error") or "")])  # fmt: skip
    experts = [
        [_e(x["name"]), _e(x["version"]), _e(x["model"]), f"<code>{_e(x['sha256'][:16])}</code>"]
        for x in results.get("experts", [])
    ]
    options = results.get("options", {})
    return (
        "<h2 id=deployment>Deployment</h2>"
        + _table(["alias", "model", "local", "resolved (GGUF sha256 / Ollama digest)", "note"], rows)
        + _table(["expert", "version", "alias", "file sha256"], experts)
        + f"<p class=small>Options: <code>{_e(json.dumps(options))}</code></p>"
    )


def _summary_table(summary: dict[str, Any]) -> str:
    rows = []
    for suite, s in summary["suites"].items():
        extra = []
        if suite == "findings":
            extra.append(
                f"finding recall {_pct(s.get('finding_recall'))} ({s.get('findings_matched')}/{s.get('findings')})"
            )
        if suite == "routing":
            extra.append(f"expected expert among the chosen {_pct(s.get('in_chosen'))}")
        if suite == "retrieval":
            extra.append(
                f"hit@1 {_pct(s.get('hit_at_1'))}, MRR {s.get('mrr')}, kept as evidence {_pct(s.get('evidence'))}"
            )
        if suite == "answers":
            extra.append(f"{len(s.get('runs', []))} model × RAG runs (below)")
        rows.append([f'<a href="#suite-{_e(suite)}">{_e(suite)}</a>', str(s["cases"]), str(s["passed"]),
                     _pct(s["accuracy"]), str(s["errors"]), "; ".join(extra)])  # fmt: skip
    return "<h2 id=summary>Summary</h2>" + _table(
        ["suite", "cases", "passed", "accuracy", "errors", "more"], rows, numeric={1, 2, 3, 4}
    )


def _answers_table(summary: dict[str, Any]) -> str:
    runs = summary["suites"].get("answers", {}).get("runs", [])
    if not runs:
        return ""
    rows = []
    for r in runs:
        rows.append([
            _e(r["model"]), _e(r["rag"]), str(r["cases"]),
            f'{r["drafted"]} / <span class="{"bad" if r.get("model_errors") else "good"}">{r.get("model_errors", 0)}</span>',
            _pct(r["accuracy"]), _pct(r["groundedness"]),
            f'<span class="{"bad" if r["high_risk_errors"] else "good"}">{_pct(r["high_risk_error_rate"])}</span>',
            _pct(r["delivered_high_risk_error_rate"]),
            f"{_pct(r['correct_refusal_rate'])} of {r['unanswerable']}", f"{_pct(r['false_refusal_rate'])} of {r['answerable']}",
            f"{_ms(r['ttft_ms']['p50'])} / {_ms(r['ttft_ms']['p95'])}", f"{_ms(r['turn_ms']['p50'])} / {_ms(r['turn_ms']['p95'])}",
            "–" if r["tokens_per_s"] is None else f"{r['tokens_per_s']:.1f}",
        ])  # fmt: skip
    out = "<h3>Answer metrics per model and RAG mode</h3>" + _table(
        ["model", "RAG", "cases", "drafted / model errors", "accuracy", "groundedness", "high-risk errors",
         "…in the delivered answer", "correct refusals", "false refusals", "first token p50 / p95",
         "turn p50 / p95", "tokens/s"],
        rows, numeric=set(range(2, 13)),
    )  # fmt: skip
    for r in runs:
        if r.get("by_alias"):
            alias_rows = [[_e(a), str(v["cases"]), _pct(v["accuracy"]), _pct(v["groundedness"]), _pct(v["high_risk_error_rate"])]
                          for a, v in r["by_alias"].items()]  # fmt: skip
            out += f"<p class=small>{_e(r['model'])}, RAG {_e(r['rag'])}, by drafting alias:</p>" + _table(
                ["alias", "cases", "accuracy", "groundedness", "high-risk errors"],
                alias_rows,
                numeric={1, 2, 3, 4},
            )
    return out


def _suite_details(summary: dict[str, Any]) -> str:
    out = []
    for suite, s in summary["suites"].items():
        out.append(f"<h3 id=suite-{_e(suite)}>{_e(suite)}</h3>")
        if s.get("by_system"):
            rows = [
                [_e(k), str(v["cases"]), str(v["passed"]), _pct(v["accuracy"])]
                for k, v in s["by_system"].items()
            ]
            out.append(
                _table(
                    ["system", "cases" if suite != "findings" else "findings", "correct", "accuracy"],
                    rows,
                    {1, 2, 3},
                )
            )
        if suite == "answers":
            out.append(_answers_table(summary))
    return "".join(out)


def _comparison(comparison: dict[str, Any] | None) -> str:
    if not comparison:
        return ""
    rows = [
        [_e(r["suite"]), _e(r["run"] or ""), _e(r["metric"]), _pct(r["baseline"]), _pct(r["current"]),
         "–" if r["delta"] is None else f"{r['delta'] * 100:+.1f} pt", str(r["cases"]),
         '<span class="bad">regression</span>' if r["regression"] else ""]
        for r in comparison["rows"]
    ]  # fmt: skip
    verdict = (
        '<p class="bad">Regressions: ' + "; ".join(_e(x) for x in comparison["regressions"]) + "</p>"
        if comparison["regressions"]
        else '<p class="good">No regression.</p>'
    )
    return (
        "<h2 id=comparison>Baseline vs current</h2>"
        + f"<p class=small>Baseline: {_e(comparison.get('baseline_file'))}; accuracy margin "
        + f"{comparison['margin'] * 100:g} pt, high-risk error margin {comparison['risk_margin'] * 100:g} pt; "
        + "computed on the cases both runs share.</p>"
        + verdict
        + _table(["suite", "run", "metric", "baseline", "current", "change", "cases", ""], rows, {3, 4, 5, 6})
    )


def _failures(outcomes: list[dict[str, Any]]) -> tuple[str, str]:
    failed = [o for o in outcomes if not o["passed"]]
    items, traces = [], []
    for o in failed:
        target = anchor(o["key"])
        why = "; ".join(o["reasons"]) or "failed"
        items.append(f'<li><a href="#{target}">{_e(o["key"])}</a>: {_e(why)}</li>')
        trace = {
            k: o.get(k)
            for k in ("input", "expected", "note", "output", "reasons", "measures", "trace", "error")
            if o.get(k)
        }
        where = f"{o['file']}, line {o['line']}"
        traces.append(
            f'<article id="{target}"><h3>{_e(o["key"])}</h3><p class=small>{_e(where)}</p>'
            f"<pre>{_e(json.dumps(trace, indent=2, ensure_ascii=False, default=str))}</pre></article>"
        )
    listing = (
        f"<section id=failures><h2>Failures ({len(failed)})</h2>"
        + ("<ol>" + "".join(items) + "</ol>" if items else "<p class=good>None.</p>")
        + "</section>"
    )
    return listing, ("<h2 id=traces>Traces of the failures</h2>" + "".join(traces)) if traces else ""


def _case_errors(results: dict[str, Any]) -> str:
    errors = results.get("case_errors", [])
    if not errors:
        return ""
    rows = [[_e(e["file"]), str(e["line"]), _e(e["field"]), _e(e["message"])] for e in errors]
    return "<h2 id=case-errors>Case lines not run</h2>" + _table(
        ["file", "line", "field", "problem"], rows, {1}
    )


def render(results: dict[str, Any]) -> str:
    """The whole report as one HTML document."""
    summary = results["summary"]
    outcomes = results["cases"]
    comparison = results.get("comparison")
    status = (
        '<p class="warn">This run was interrupted: the figures cover the cases that finished.</p>'
        if not results.get("complete")
        else ""
    )
    project = results.get("project", {})
    meta = (
        f"radassist {_e(project.get('version'))}"
        + (f" (commit {_e(project.get('commit', '')[:12])})" if project.get("commit") else "")
        + f" · started {_e(results.get('started_at'))} · finished {_e(results.get('finished_at'))}"
        + f" · {summary['cases']} cases, {summary['passed']} passed"
    )
    failures, traces = _failures(outcomes)
    body = "".join([
        "<h1>radassist evaluation</h1>", f"<p class=meta>{meta}</p>", status,
        f"<p>{_e(results.get('drafting', ''))}</p>",
        _summary_table(summary), _comparison(comparison), _case_errors(results),
        "<h2 id=plots>Plots</h2>", _plots(summary, outcomes, comparison),
        "<h2 id=suites>Per suite</h2>", _suite_details(summary),
        _deployment(results), failures, traces,
    ])  # fmt: skip
    title = f"radassist evaluation {results.get('started_at', '')}"
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body>{body}</body></html>\n"
    )
