"""A suite = items (prompt conversation, tools, reference, metadata) + a scorer + a summary.

Each kind of suite is a `SuiteKind` in a module of this package: how it builds its items and scorer,
the options it takes, its own metrics, its headline metric. `kinds()` registers them: the built-in
generators (`builtin.py`: reasoning, tools, chat, instruct, their test split by default), the real public
sets read as they are (`gsm8k.py`, `bfcl.py`: the copies shipped in `evaluate/data/`, or `path`), and
`lm_eval.py`, which runs lm-evaluation-harness instead of building items. A new kind is one module and one
line in `kinds()`, or, from a project's own code, one `register(SuiteKind(...))` call; a kind whose metrics
have their own breakdown gives the report's table for it as its `report_part`, so the report names no suite.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from harness.evaluate.episodes import Episode
from harness.evaluate.scorers import Verdict
from harness.files import FileReadError, read_jsonl
from harness.recipe import SuiteSettings

Scorer = Callable[[str, Any, dict], Verdict]


@dataclass
class Item:
    id: str
    messages: list[dict]
    reference: Any
    tools: list[dict] | None = None
    meta: dict = field(default_factory=dict)
    episode: Episode | None = None  # answered by a conversation with tools, played in its environment


@dataclass
class Suite:
    name: str
    kind: str
    items: list[Item]
    scorer: Scorer
    skipped: dict[str, list[int]] = field(default_factory=dict)  # data rows that made no item: reason -> rows

    def score(self, prediction: str, item: Item) -> Verdict:
        try:
            return self.scorer(prediction, item.reference, {**item.meta, "tools": item.tools})
        except Exception as error:  # one broken sample is a failure with its reason, never a crash
            return Verdict(False, 0.0, f"scorer error: {type(error).__name__}: {error}")


class SuiteError(ValueError):
    pass


class NoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class ReportPart:
    """A kind's own table in the Markdown report, one row per model and suite of the kind: the report renders it
    from these columns and so never names a suite. A column is (header, group, key): the value
    `details[group][key]` of the suite's result (its metrics less the headline), shown in %, – where absent."""

    title: str  # the line above the table
    columns: list[tuple[str, str, str]]
    note: str = ""  # the line below it


@dataclass(frozen=True)
class SuiteKind:
    """Everything the harness knows about one kind of suite."""

    name: str
    # (settings, options, seed, data path) -> (items, scorer) or (items, scorer, {reason: rows skipped});
    # None for a kind that runs itself (lm_eval).
    build: Callable[[SuiteSettings, Any, int, Path | None], tuple[list[Item], Scorer]] | None
    metrics: Callable[[list[dict]], dict] = lambda records: {}  # beyond accuracy, score, truncation and errors
    headline: str = "accuracy"  # the leaderboard's column
    options: type[BaseModel] = NoOptions  # what `options:` takes, checked when the suite is built
    shipped_data: Path | None = None  # the data read when the recipe gives no `path:`
    pass_at_k: bool = False  # pass@k when n samples are drawn (pass/fail suites)
    # A kind that runs by itself instead of building items (lm_eval): (model, model path, settings, backend
    # name, out dir, seed, dtype, reproduce) -> the summary, of the same shape as every suite's.
    run: Callable[..., dict] | None = None
    report_part: ReportPart | None = None  # the kind's own breakdown table in the report, if it has one


@functools.cache
def kinds() -> dict[str, SuiteKind]:
    """Every registered kind of suite, by name: the shipped ones, and those added with `register`."""
    from harness.evaluate.suites import bfcl, builtin, file, gsm8k, lm_eval

    return {kind.name: kind for kind in (*builtin.KINDS, gsm8k.KIND, bfcl.KIND, file.KIND, lm_eval.KIND)}


def register(kind: SuiteKind) -> SuiteKind:
    """Add a kind of suite (from a project's own code, before it evaluates); a name is registered once."""
    if kind.name in kinds():
        raise SuiteError(f"a suite kind named {kind.name!r} is already registered")
    kinds()[kind.name] = kind
    return kind


def suite_kind(name: str) -> SuiteKind:
    registered = kinds()
    if name not in registered:
        raise SuiteError(f"unknown suite {name!r}; expected one of {sorted(registered)}")
    return registered[name]


def check_options(settings: SuiteSettings) -> BaseModel:
    """The suite's `options:` read by its kind's schema; a wrong one is an error naming the option."""
    kind = suite_kind(settings.suite)
    try:
        return kind.options.model_validate(settings.options)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in e['loc']) or 'options'}: {e['msg']}" for e in error.errors()
        )
        raise SuiteError(f"suite {settings.name or settings.suite}: options: {problems}") from None


def build_suite(settings: SuiteSettings, seed: int = 0) -> Suite:
    """The suite's items and scorer; a relative `path` is taken as given (a loaded recipe's are absolute)."""
    kind = suite_kind(settings.suite)
    if kind.build is None:
        raise SuiteError(f"suite {settings.suite} runs by itself and has no items to build")
    options = check_options(settings)
    path = kind.shipped_data
    if settings.path:
        path = Path(settings.path)
        if not path.exists():
            raise SuiteError(f"suite {settings.suite}: {path}: no such file or folder")
    items, scorer, *skipped = kind.build(settings, options, seed, path)
    if settings.samples:
        items = items[: settings.samples]
    return Suite(settings.name or settings.suite, settings.suite, items, scorer, skipped[0] if skipped else {})


def json_lines(path: Path) -> list[tuple[int, dict]]:
    """(0-based line index, row) for each non-blank line of a suite's data; a line that cannot be read is an
    error naming it (a suite's data is whole or not used)."""
    try:
        read = read_jsonl(path)
    except FileReadError as error:
        raise SuiteError(str(error)) from None
    if read.bad:
        number, problem = read.bad[0]
        raise SuiteError(f"{path}: line {number}: {problem}")
    return [(number - 1, row) for number, row in read.rows]


# --- summaries ----------------------------------------------------------------------------------


def mean(values) -> float | None:
    values = list(values)
    return round(sum(values) / len(values), 4) if values else None


def summarize(suite: Suite, records: list[dict]) -> dict:
    """Metrics from per-sample records (see runner.py). Accuracy is pass@1 averaged over the n samples."""
    kind = suite_kind(suite.kind)
    scored = [r for r in records if r["verdicts"]]
    metrics: dict[str, Any] = {
        "accuracy": mean(mean(v["correct"] for v in r["verdicts"]) for r in scored),
        "score": mean(mean(v["score"] for v in r["verdicts"]) for r in scored),
        "truncation_rate": mean(g == "length" for r in scored for g in r["finish_reasons"]),
        "error_rate": mean(g == "error" for r in scored for g in r["finish_reasons"]),
    }
    metrics.update(kind.metrics(scored))
    samples = min((len(r["verdicts"]) for r in scored), default=1)
    if samples > 1 and kind.pass_at_k:
        for k in sorted({1, samples}):
            metrics[f"pass@{k}"] = mean(
                pass_at_k(len(r["verdicts"]), sum(v["correct"] for v in r["verdicts"]), k) for r in scored
            )
    return metrics


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples of which c are correct (Chen et al. 2021, as lighteval and open-r1
    compute it): 1 - C(n-c, k) / C(n, k), as a stable product."""
    if n - c < k:
        return 1.0
    product = 1.0
    for i in range(n - c + 1, n + 1):
        product *= 1.0 - k / i
    return 1.0 - product


def first_verdict(record: dict) -> dict:
    return record["verdicts"][0]
