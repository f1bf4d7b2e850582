"""`radassist eval`: measure a deployment (its tools, gate, retrieval and models) on known cases.

One module per concern: `cases` (the JSONL case format and its validation, the shipped suites in
`data/`), `suites` (running one case of each kind), `metrics` (scores, the answer metrics, comparison
with a baseline), `report` (the self-contained HTML report) and `run` (opening the deployment, progress,
results.json, partial results on interruption). The command itself is `agent/cli/eval.py`.
"""
