"""The current figure of each benchmark, generated from its result JSON.

docs/results.md opens with one table per benchmark and the README's "Results" holds the
BabiLong one; both are written here from the result files that `CURRENT` names (each
benchmark's newest run of the default), so a figure has one source. Each generated
block sits between `<!-- results_table.py: NAME -->` and `<!-- /results_table.py -->`
in its file; the text around it is prose and history.

    .venv/bin/python benchmarks/results_table.py           # print every table
    .venv/bin/python benchmarks/results_table.py --write   # rewrite the blocks in place
    .venv/bin/python benchmarks/results_table.py --check   # exit 1 where a block disagrees

`tests/test_results_table.py` runs the check, so a README or results.md edited by hand
away from the JSON fails the suite.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
README = ROOT / "README.md"
RESULTS_MD = ROOT / "docs" / "results.md"

CURRENT = {
    "one_model": ["one_model_online_160u.json"],
    "one_model_before_labels": ["one_model_lexical025.json", "one_model_lexical_babilong_long.json"],
    "hotpotqa": ["evaluate_hotpotqa_label_frozen.json"],
    "label_ablation_qa2": ["label_ablation_qa2.json"],
    "label_ablation_qa3": ["label_ablation_qa3.json"],
    "label_ablation_thirteen": ["label_ablation_thirteen.json", "label_thirteen_online.json"],
}
"""Each result's JSON files (later files add rows: the longer lengths of a run split in
two), in benchmarks/results/. A new run of a benchmark's default replaces its entry."""

BABILONG_LENGTHS = ("1k", "32k", "128k", "1M", "10M")
RULER_LENGTHS = ("4k", "32k", "128k", "1M")
BLOCK = re.compile(
    r"(<!-- results_table\.py: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /results_table\.py -->)", re.S
)


def load(name: str) -> list[dict[str, Any]]:
    """The JSON reports of result `name`, in `CURRENT`'s order."""
    return [json.loads((RESULTS / file).read_text()) for file in CURRENT[name]]


def q_rag_rows(reports: Sequence[dict[str, Any]], benchmark: str) -> list[dict[str, Any]]:
    return [
        row
        for report in reports
        for row in report["metrics"]
        if row["method"] == "q_rag" and row["benchmark"] == benchmark
    ]


def cell(rows: Sequence[dict[str, Any]], task: str, length: str, column: str) -> float | None:
    """`column` of the row of `task` at `length`; None where there is none (or NaN)."""
    found = [r[column] for r in rows if r["task"] == task and r["length_bucket"] == length]
    return found[0] if found and not math.isnan(found[0]) else None


def figure(value: float | None, decimals: int = 2) -> str:
    return "–" if value is None else f"{value:.{decimals}f}"


def markdown(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows]) + "\n"


def source(reports: Sequence[dict[str, Any]], names: Sequence[str]) -> str:
    """Where a table's figures come from: files, command and machine."""
    files = ", ".join(f"`benchmarks/results/{n}`" for n in names)
    commands = "; ".join(f"`{r['command']}`" for r in reports)
    return f"From {files} ({commands}; {reports[0]['machine']})."


def babilong_table() -> str:
    """Fact EM@4 per task and length, the default model's, the previous default's in
    brackets."""
    now = q_rag_rows(load("one_model"), "babilong")
    before = q_rag_rows(load("one_model_before_labels"), "babilong")
    rows = []
    for task in ("qa1", "qa2", "qa3", "qa4", "qa5"):
        cells = []
        for length in BABILONG_LENGTHS:
            value = cell(now, task, length, "fact_em@T=4")
            previous = cell(before, task, length, "fact_em@T=4")
            cells.append("–" if value is None else f"{figure(value)} ({figure(previous)})")
        rows.append([task, *cells])
    return markdown(["task", *BABILONG_LENGTHS], rows)


def babilong_detail_table() -> str:
    """The default model's other BabiLong figures: rule-reader accuracy, learned-stop F1."""
    reports = load("one_model")
    now = q_rag_rows(reports, "babilong")
    rows = []
    for task in ("qa1", "qa2", "qa3", "qa4", "qa5"):
        for column, label in (
            ("answer_accuracy_rule_reader@T=4", "rule-reader accuracy"),
            ("fact_f1@learned", "F1, learned stop"),
        ):
            rows.append([task, label, *(figure(cell(now, task, n, column)) for n in BABILONG_LENGTHS)])
    return (
        markdown(["task", "figure", *BABILONG_LENGTHS], rows)
        + "\n"
        + source(reports, CURRENT["one_model"])
        + "\n"
    )


def ruler_table() -> str:
    reports = load("one_model")
    averages = {
        row["length_bucket"]: row["niah_values@T=4"]
        for row in reports[0]["ruler_average_over_tasks"]
        if row["method"] == "q_rag"
    }
    row = ["eight-task average, niah_values@4", *(figure(averages.get(n), 3) for n in RULER_LENGTHS)]
    return (
        markdown(["RULER NIAH", *RULER_LENGTHS], [row]) + "\n" + source(reports, CURRENT["one_model"]) + "\n"
    )


def hotpotqa_table() -> str:
    reports = load("hotpotqa")
    metrics = reports[0]["metrics"]
    rows = []
    for method in ("q_rag", "multistep_dense", "dense", "tfidf"):
        found = {r["benchmark"]: r for r in metrics if r["method"] == method}
        rows.append(
            [
                method,
                figure(found["hotpotqa"]["fact_em@T=2"], 3),
                figure(found["hotpotqa"]["fact_f1@T=2"], 3),
                figure(found["musique"]["fact_em@T=4"], 3),
                figure(found["musique"]["fact_f1@T=4"], 3),
            ]
        )
    header = ["method", "HotpotQA EM@2", "HotpotQA F1@2", "MuSiQue EM@4", "MuSiQue F1@4"]
    return markdown(header, rows) + "\n" + source(reports, CURRENT["hotpotqa"]) + "\n"


def ablation_table() -> str:
    """Each learner's test fact EM@4 in the three label-term ablations (a learner with
    online targets named so; the others use the target network)."""
    rows, names = [], []
    for name, trained_on in (
        ("label_ablation_qa2", "qa2"),
        ("label_ablation_qa3", "qa3"),
        ("label_ablation_thirteen", "thirteen tasks"),
    ):
        names.append(name)
        for report in load(name):
            targets = report.get("learning", {}).get("targets", "target_network")
            for learner, run in report["runs"].items():
                label = learner if targets == "target_network" else f"{learner}, {targets} targets"
                scores = run["fact_em"]
                by_task = (
                    scores if isinstance(next(iter(scores.values())), dict) else {report["task"]: scores}
                )
                for task, lengths in by_task.items():
                    rows.append(
                        [
                            trained_on,
                            label,
                            str(run["updates"]),
                            task,
                            *(figure(v, 3) for v in lengths.values()),
                        ]
                    )
    header = ["trained on", "learner", "updates", "scored on", "1k", "32k"]
    files = ", ".join(f"`benchmarks/results/{file}`" for n in names for file in CURRENT[n])
    return markdown(header, rows) + f"\nFrom {files}; each file holds its command and machine.\n"


TABLES: dict[str, Callable[[], str]] = {
    "babilong": babilong_table,
    "babilong-detail": babilong_detail_table,
    "ruler": ruler_table,
    "hotpotqa": hotpotqa_table,
    "label-ablation": ablation_table,
}


def rewritten(text: str) -> str:
    """`text` with every generated block replaced by its table now."""

    def fill(match: re.Match[str]) -> str:
        name = match["name"]
        if name not in TABLES:
            raise SystemExit(f"unknown results table {name!r} in a block. Fix: use one of {sorted(TABLES)}.")
        return match[1] + TABLES[name]() + match[4]

    return BLOCK.sub(fill, text)


def stale_files(files: Sequence[Path]) -> list[Path]:
    """The files whose generated blocks differ from the tables now."""
    return [path for path in files if rewritten(path.read_text()) != path.read_text()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--write", action="store_true", help="rewrite the blocks of README.md and docs/results.md"
    )
    parser.add_argument("--check", action="store_true", help="exit 1 where a block disagrees with the JSON")
    args = parser.parse_args()
    files = [README, RESULTS_MD]
    if args.check:
        stale = stale_files(files)
        for path in stale:
            fix = "Fix: .venv/bin/python benchmarks/results_table.py --write"
            print(f"{path.relative_to(ROOT)} disagrees with the result JSON. {fix}")
        sys.exit(1 if stale else 0)
    if args.write:
        for path in files:
            path.write_text(rewritten(path.read_text()))
        return
    for name, table in TABLES.items():
        print(f"## {name}\n\n{table()}")


if __name__ == "__main__":
    main()
