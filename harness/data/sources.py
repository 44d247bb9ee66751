"""Data sources -> one training mixture, with a report of what each source really contributed.

A source is a built-in generator, a local file (jsonl, json, parquet, csv) or a hub dataset. Its rows
are column-mapped, checked and put in the canonical format of the recipe's mode (`formats.py`).
Malformed rows are counted per reason with their row numbers and skipped, or abort the run when the
recipe says `on_error: abort`. Sizing (`samples` / `weight`) is documented on `SourceSettings`.
"""

from __future__ import annotations

import csv
import json
import logging
import random
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from harness.data import builtin
from harness.data.formats import RowError, canonical_row, conversation_of, tools_of
from harness.recipe import Recipe, SourceSettings

log = logging.getLogger(__name__)
DEFAULT_BUILTIN_SAMPLES = 2000
FILE_FORMATS = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv"}
SHOWN_ROWS_PER_REASON = 10
SFT_MAX_LENGTH = 1024  # trl.SFTConfig's default max_length


class DataError(ValueError):
    """A source that cannot be read, or a malformed row under `on_error: abort`."""


@dataclass
class SourceReport:
    source: str
    rows_read: int = 0
    rows_valid: int = 0
    rows_used: int = 0
    bad_rows: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    # `task` / `source` tags of the rows (a built-in row's meta, or columns of a file), for the held-out guard
    tasks: set[str] = field(default_factory=set)
    task_sources: set[str] = field(default_factory=set)

    @property
    def bad_count(self) -> int:
        return sum(len(rows) for rows in self.bad_rows.values())

    def as_dict(self) -> dict:
        return {
            "source": self.source, "rows_read": self.rows_read, "rows_valid": self.rows_valid,
            "rows_used": self.rows_used, "rows_bad": self.bad_count,
            "bad_rows": {reason: {"count": len(rows), "rows": rows[:SHOWN_ROWS_PER_REASON]}
                         for reason, rows in self.bad_rows.items()},
        }  # fmt: skip


def read_source(source: SourceSettings, recipe: Recipe, split: str | None = None) -> tuple[list, SourceReport]:
    """Raw rows of one source (before checking), each a dict or whatever the file held."""
    split = split or source.split
    report = SourceReport(source=source.label)
    if source.builtin:
        count = source.samples or DEFAULT_BUILTIN_SAMPLES
        try:
            rows = builtin.generate(source.builtin, split, count, recipe.seed, **source.options)
        except (TypeError, ValueError) as error:
            raise DataError(f"{source.label}: {error}") from None
    elif source.path:
        rows = _read_file(recipe.resolve(source.path), report)
    else:
        rows = _read_hub(source, split)
    return _map_columns(rows, source), report


def _read_file(path: Path, report: SourceReport) -> list:
    if not path.exists():
        raise DataError(f"{path}: no such data file")
    kind = FILE_FORMATS.get(path.suffix.lower())
    if kind is None:
        raise DataError(f"{path}: unknown file type {path.suffix!r}; expected one of {sorted(FILE_FORMATS)}")
    if path.suffix.lower() == ".jsonl" or (kind == "json" and not path.read_text(encoding="utf-8").lstrip().startswith("[")):
        rows = []
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as error:
                rows.append(RowError(f"line {number} is not valid JSON ({error.msg})"))
        return rows
    if kind == "json":
        try:
            rows = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise DataError(f"{path}: not valid JSON ({error})") from None
        if not isinstance(rows, list):
            raise DataError(f"{path}: a .json data file holds a list of rows")
        return rows
    if kind == "csv":  # every cell a string: CSV has no types, and guessing turns "7" answers into ints
        with path.open(newline="", encoding="utf-8") as stream:
            return list(csv.DictReader(stream))
    import datasets

    return datasets.load_dataset(kind, data_files=str(path), split="train").to_list()


def _read_hub(source: SourceSettings, split: str) -> list:
    import datasets

    try:
        dataset = datasets.load_dataset(source.hub, source.subset, split=split)
    except Exception as error:  # noqa: BLE001 - datasets raises many types; the message says what to fix
        raise DataError(f"hub:{source.hub} (split {split!r}) could not be loaded: {error}. Offline? "
                        "Download it where there is internet, or point `path:` at a local copy.") from None  # fmt: skip
    return dataset.to_list()


def _map_columns(rows: list, source: SourceSettings) -> list:
    if not source.columns:
        return rows
    mapped = []
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            mapped.append(row)
            continue
        missing = [column for column in source.columns.values() if column not in row]
        if missing and index == 0:
            raise DataError(f"{source.label}: column(s) {missing} not found; the rows have {sorted(row)}")
        renamed = {source.columns.get(key, key): key for key in source.columns.values()}
        new = {key: value for key, value in row.items() if key not in renamed}
        new.update({target: row.get(column) for target, column in source.columns.items()})
        mapped.append(new)
    return mapped


def rendered_lengths(rows: list[dict], tokenizer, max_length: int) -> tuple[dict[int, str], set[int]]:
    """({row index: why the chat template cannot render it}, indices of rows longer than `max_length`
    tokens once rendered, which the trainer would cut silently). A text of at most max_length UTF-8
    bytes cannot be longer (a token covers at least one byte), so only longer texts are tokenized."""
    from jinja2 import TemplateError

    failed, texts = {}, {}
    for index, row in enumerate(rows):
        try:
            texts[index] = tokenizer.apply_chat_template(conversation_of(row), tools=tools_of(row), tokenize=False)
        except TemplateError as error:
            failed[index] = f"the chat template fails on it: {type(error).__name__}: {error}"
    candidates = [i for i, text in texts.items() if len(text.encode()) > max_length]
    if not candidates:
        return failed, set()
    lengths = tokenizer([texts[i] for i in candidates], add_special_tokens=False, return_length=True)["length"]
    return failed, {i for i, length in zip(candidates, lengths) if length > max_length}


def check_rows(rows: list, mode: str, report: SourceReport, on_error: str, tokenizer=None,
               max_length: int | None = None) -> list[dict]:  # fmt: skip
    """Canonical rows; malformed ones (and, given the tokenizer, rows longer than `max_length`) are
    counted per reason with their row numbers, or abort."""
    valid, numbers = [], []
    for index, row in enumerate(rows):
        if isinstance(row, dict):
            tags = {**row, **(row.get("meta") if isinstance(row.get("meta"), dict) else {})}
            if isinstance(tags.get("task"), str) and not (isinstance(tags.get("seen"), bool) and tags["seen"]):
                report.tasks.add(tags["task"])
            if isinstance(tags.get("source"), str):
                report.task_sources.add(tags["source"])
        try:
            if isinstance(row, RowError):
                raise row
            valid.append(canonical_row(row, mode))
            numbers.append(index)
        except RowError as error:
            if on_error == "abort":
                raise DataError(f"{report.source}: row {index}: {error}") from None
            report.bad_rows[str(error) if isinstance(row, RowError) else _reason(error)].append(index)
    if tokenizer is not None and max_length and valid:
        failed, overlong = rendered_lengths(valid, tokenizer, max_length)
        too_long = f"longer than train.max_length ({max_length} tokens): the trainer would cut it"
        problems = sorted({**failed, **{i: too_long for i in overlong}}.items())
        if problems and on_error == "abort":
            index, reason = problems[0]
            raise DataError(f"{report.source}: row {numbers[index]}: {reason}")
        for index, reason in problems:
            report.bad_rows[reason].append(numbers[index])
        valid = [row for i, row in enumerate(valid) if i not in failed and i not in overlong]
        report.bad_rows = defaultdict(list, {reason: sorted(rows) for reason, rows in report.bad_rows.items()})
    report.rows_read, report.rows_valid = len(rows), len(valid)
    if report.bad_count:
        log.warning("%s: skipped %d malformed row(s): %s", report.source, report.bad_count,
                    "; ".join(f"{reason} x{len(r)} (rows {r[:5]})" for reason, r in report.bad_rows.items()))  # fmt: skip
    return valid


def _reason(error: RowError) -> str:
    """Group by reason: message positions like `messages[3]` vary per row and would split the count."""
    return re.sub(r"\[\d+\]", "[i]", str(error))


def size_rows(rows: list[dict], source: SourceSettings, rng: random.Random) -> list[dict]:
    if source.samples is not None and not source.builtin:
        if source.samples > len(rows):
            log.warning("%s: asked for %d rows, it has %d valid: using all", source.label, source.samples, len(rows))
        return rng.sample(rows, min(source.samples, len(rows)))
    if source.weight is not None:
        whole, fraction = divmod(source.weight, 1)
        return rows * int(whole) + rng.sample(rows, round(fraction * len(rows)))
    return list(rows)


def build_mixture(recipe: Recipe, sources: list[SourceSettings], split: str | None = None, tokenizer=None):
    """(datasets.Dataset, [SourceReport]) for the given sources of the recipe. Given the tokenizer, rows
    longer than the recipe's `train.max_length` count as malformed instead of being truncated."""
    import datasets

    rng = random.Random(recipe.seed)
    mixed, reports = [], []
    max_length = recipe.train.get("max_length", SFT_MAX_LENGTH)
    for source in sources:
        rows, report = read_source(source, recipe, split)
        valid = check_rows(rows, recipe.mode, report, recipe.data.on_error, tokenizer, max_length)
        used = size_rows(valid, source, rng)
        report.rows_used = len(used)
        if not used:
            reasons = "; ".join(f"{reason} (x{len(rows)})" for reason, rows in report.bad_rows.items())
            raise DataError(f"{source.label}: no usable rows ({report.bad_count} malformed of {report.rows_read}: {reasons})")
        log.info("%s: %d rows read, %d valid, %d used", source.label, report.rows_read, report.rows_valid, len(used))
        mixed += used
        reports.append(report)
    if recipe.data.shuffle:
        rng.shuffle(mixed)
    return datasets.Dataset.from_list(mixed), reports
