"""GSM8K's test set as it is published (question, answer ending in `#### N`), scored like the reasoning suite."""

from __future__ import annotations

from pathlib import Path

from harness.evaluate.scorers import reasoning
from harness.evaluate.suites import Item, SuiteKind, json_lines
from harness.evaluate.suites.builtin import reasoning_metrics

SHIPPED = Path(__file__).parents[1] / "data" / "gsm8k" / "test.jsonl"  # evaluate/data/README.md: license


def _gsm8k(settings, options, seed, path):
    items = [
        Item(
            f"gsm8k-{line:05d}",
            [{"role": "user", "content": row["question"]}],
            row["answer"],
            None,
            {"task": "gsm8k", "cluster": "math"},
        )
        for line, row in json_lines(path)
    ]
    return items, reasoning.score


KIND = SuiteKind("gsm8k", _gsm8k, reasoning_metrics, shipped_data=SHIPPED, pass_at_k=True)
