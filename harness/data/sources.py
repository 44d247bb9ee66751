"""Data sources -> one training mixture, with a report of what each source really contributed.

A source is a built-in generator, a local file (jsonl, json, parquet, csv) or a hub dataset. Its rows
are column-mapped, converted from their layout (`layouts.py`: ShareGPT, Alpaca, xLAM, ...), checked and
put in the canonical format of the recipe's mode (`formats.py`). Malformed rows are counted per reason
with their row numbers and skipped, or abort the run when the recipe says `on_error: abort`; columns no
layout reads are reported with their counts. Sizing (`samples` / `weight`) is documented on `SourceSettings`.
"""

from __future__ import annotations

import csv
import itertools
import json
import logging
import random
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness.data import builtin, layouts
from harness.data.formats import (
    RENDER_ERRORS,
    RowError,
    canonical_row,
    conversation_of,
    dataset_features,
    fold_reasoning,
    tools_of,
)
from harness.recipe import Recipe, SourceSettings

log = logging.getLogger(__name__)
DEFAULT_BUILTIN_SAMPLES = 2000
FILE_FORMATS = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv"}
SHOWN_ROWS_PER_REASON = 10
SFT_MAX_LENGTH = 1024  # trl.SFTConfig's default max_length
# A row's provenance: seen by the mixture checks (`inspect`), never trained on, so not reported as unused.
PROVENANCE_COLUMNS = ("task", "source", "seen", "meta")


class DataError(ValueError):
    """A source that cannot be read, or a malformed row under `on_error: abort`."""


@dataclass
class SourceReport:
    source: str
    layout: str = ""
    rows_read: int = 0
    rows_valid: int = 0
    rows_used: int = 0
    bad_rows: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    unused_columns: dict[str, int] = field(default_factory=dict)  # non-empty source columns no layout reads

    @property
    def bad_count(self) -> int:
        return sum(len(rows) for rows in self.bad_rows.values())

    def as_dict(self) -> dict:
        return {
            "source": self.source,
            "layout": self.layout,
            "rows_read": self.rows_read,
            "rows_valid": self.rows_valid,
            "rows_used": self.rows_used,
            "rows_bad": self.bad_count,
            "bad_rows": {
                reason: {"count": len(rows), "rows": rows[:SHOWN_ROWS_PER_REASON]}
                for reason, rows in self.bad_rows.items()
            },
            "unused_columns": self.unused_columns,
        }

    def reasons(self) -> str:
        return "; ".join(f"{reason} (x{len(rows)}, rows {rows[:5]})" for reason, rows in self.bad_rows.items())


def read_source(
    source: SourceSettings,
    recipe: Recipe,
    split: str | None = None,
    limit: int | None = None,
    inspect: Callable[[str, dict], None] | None = None,
) -> tuple[list, SourceReport]:
    """Rows of one source in TRL's formats (before checking), each a dict, or a RowError saying why not.
    `limit` reads only the first rows (what `harness validate` looks at). `inspect(source label, row)` sees
    every row as read, with all its columns, before conversion keeps only what training reads."""
    split = split or source.split
    report = SourceReport(source=source.label)
    if source.builtin:
        count = min(source.samples or DEFAULT_BUILTIN_SAMPLES, limit or DEFAULT_BUILTIN_SAMPLES * 1000)
        try:
            rows = builtin.generate(source.builtin, split, count, recipe.seed, **source.options)
        except (TypeError, ValueError) as error:
            raise DataError(f"{source.label}: {error}") from None
        _inspect_rows(rows, source, inspect)
        report.layout = "messages" if rows and "messages" in rows[0] else "prompt_completion"
        return rows, report
    raw = _read_file(Path(source.path), limit) if source.path else _read_hub(source, split, limit)
    mapped = _map_columns(raw, source)
    _inspect_rows(mapped, source, inspect)
    rows = _convert(mapped, source, report)
    if source.chat_template_kwargs:
        rows = [
            {**row, "chat_template_kwargs": source.chat_template_kwargs} if isinstance(row, dict) else row
            for row in rows
        ]
    return rows, report


def _inspect_rows(rows: list, source: SourceSettings, inspect: Callable[[str, dict], None] | None) -> None:
    if inspect:
        for row in rows:
            if isinstance(row, dict):
                inspect(source.label, row)


# --- reading ---------------------------------------------------------------------------------------------


def _read_file(path: Path, limit: int | None = None) -> list:
    if not path.exists():
        raise DataError(f"{path}: no such data file")
    if not path.is_file():
        raise DataError(f"{path}: not a file")
    kind = FILE_FORMATS.get(path.suffix.lower())
    if kind is None:
        raise DataError(f"{path}: unknown file type {path.suffix!r}; expected one of {sorted(FILE_FORMATS)}")
    if kind == "json":
        with path.open("rb") as stream:
            is_array = stream.read(4096).lstrip().startswith(b"[")
        return _read_json_array(path) if is_array else _read_json_lines(path, limit)
    if kind == "csv":  # every cell a string: CSV has no types, and guessing turns "7" answers into ints
        csv.field_size_limit(1 << 30)
        try:
            with path.open(newline="", encoding="utf-8") as stream:
                return list(itertools.islice(csv.DictReader(stream), limit))
        except UnicodeDecodeError as error:
            raise DataError(f"{path}: not UTF-8 text (byte {error.start}); save it as UTF-8") from None
        except csv.Error as error:
            raise DataError(f"{path}: not a readable CSV file ({error})") from None
    import datasets

    try:
        dataset = datasets.load_dataset(kind, data_files=str(path), split="train")
    except Exception as error:  # arrow raises many types for a broken file; the message names it
        raise DataError(f"{path}: not a readable {kind} file ({type(error).__name__}: {error})") from None
    return dataset.select(range(min(limit, len(dataset)))).to_list() if limit else dataset.to_list()


def _read_json_lines(path: Path, limit: int | None) -> list:
    """One row per line; a line that is not UTF-8 or not JSON becomes a RowError naming it."""
    rows = []
    with path.open("rb") as stream:
        for number, line in enumerate(stream, start=1):
            if limit is not None and len(rows) >= limit:
                break
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line.decode("utf-8")))
            except UnicodeDecodeError as error:
                rows.append(RowError(f"line {number} is not UTF-8 text (byte {error.start})"))
            except json.JSONDecodeError as error:
                rows.append(RowError(f"line {number} is not valid JSON ({error.msg})"))
            except RecursionError:
                rows.append(RowError(f"line {number} is nested too deeply"))
    return rows


def _read_json_array(path: Path) -> list:
    try:
        rows = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as error:
        raise DataError(f"{path}: not UTF-8 text (byte {error.start})") from None
    except json.JSONDecodeError as error:
        raise DataError(f"{path}: not valid JSON ({error})") from None
    except RecursionError:
        raise DataError(f"{path}: nested too deeply to be data") from None
    if not isinstance(rows, list):
        raise DataError(f"{path}: a .json data file holds a list of rows")
    return rows


def _read_hub(source: SourceSettings, split: str, limit: int | None = None) -> list:
    import datasets

    try:
        if limit:
            stream = datasets.load_dataset(source.hub, source.subset, split=split, streaming=True)
            return list(stream.take(limit))
        dataset = datasets.load_dataset(source.hub, source.subset, split=split)
    except Exception as error:  # datasets raises many types; the message says what to fix
        raise DataError(
            f"hub:{source.hub} (split {split!r}) could not be loaded: {error}. Offline? "
            "Download it where there is internet, or point `path:` at a local copy."
        ) from None
    return dataset.to_list()


# --- columns and layouts ---------------------------------------------------------------------------------


def _map_columns(rows: list, source: SourceSettings) -> list:
    """`columns: {target: source column}`; a list of source columns is joined with a blank line."""
    if not source.columns:
        return rows
    wanted = {c for value in source.columns.values() for c in ([value] if isinstance(value, str) else value)}
    first = next((row for row in rows if isinstance(row, dict)), None)
    missing = sorted(wanted - set(first)) if first is not None else []
    if missing:
        raise DataError(f"{source.label}: columns: {missing} not found; the rows have {sorted(first)}")
    mapped = []
    for row in rows:
        if not isinstance(row, dict):
            mapped.append(row)
            continue
        new = {key: value for key, value in row.items() if key not in wanted}
        for target, column in source.columns.items():
            if isinstance(column, str):
                new[target] = row.get(column)
            else:
                new[target] = "\n\n".join(str(row[c]).strip() for c in column if row.get(c) not in (None, ""))
        mapped.append(new)
    return mapped


def _convert(rows: list, source: SourceSettings, report: SourceReport) -> list:
    """Rows in the source's layout -> rows in TRL's formats, with the unused columns counted."""
    first = next((row for row in rows if isinstance(row, dict)), None)
    if source.layout:
        layout = layouts.LAYOUTS.get(source.layout)
        if layout is None:
            raise DataError(f"{source.label}: layout: unknown {source.layout!r}; known: {sorted(layouts.LAYOUTS)}")
    else:
        layout = layouts.detect(first)
        if layout is None:
            if first is None:
                return rows  # no object row at all: each is counted as malformed
            raise DataError(
                f"{source.label}: no known layout for rows with columns {sorted(first)}; known layouts: "
                f"{', '.join(f'{name} ({lay.description})' for name, lay in layouts.LAYOUTS.items())}. Map the "
                "columns with `columns:` (e.g. {prompt: question, completion: answer}) or name one with `layout:`."
            )
    if layout.refusal:
        raise DataError(f"{source.label}: {layout.refusal}")
    report.layout = layout.name
    mapping = f", columns {dict(source.columns)}" if source.columns else ""
    log.info("%s: layout %s (%s)%s", source.label, layout.name, layout.description, mapping)
    unused: dict[str, int] = defaultdict(int)
    read = set(layout.columns) | set(source.columns) | set(PROVENANCE_COLUMNS)
    converted = []
    for row in rows:
        if not isinstance(row, dict):
            converted.append(row)
            continue
        for key, value in row.items():
            if key not in read and value not in (None, "", [], {}):
                unused[key] += 1
        try:
            converted.append(layout.convert(row))
        except RowError as error:
            converted.append(error)
        except (KeyError, TypeError, AttributeError) as error:
            converted.append(RowError(f"not a {layout.name} row ({type(error).__name__}: {error})"))
    report.unused_columns = dict(sorted(unused.items()))
    if unused:
        log.warning(
            "%s: column(s) no layout reads, left out of training: %s (non-empty rows). Map them with "
            "`columns:` if they matter.",
            source.label,
            report.unused_columns,
        )
    return converted


# --- checking ------------------------------------------------------------------------------------------


def max_chars(tokenizer, max_length: int) -> int:
    """No text longer than this can fit in `max_length` tokens: a token spells at most the longest
    string of the vocabulary. Longer rows are rejected without rendering or tokenizing them."""
    longest = max((len(token) for token in tokenizer.get_vocab()), default=1)
    return max_length * max(longest, 1)


def _row_chars(row: dict) -> int:
    values = [value for message in conversation_of(row) for value in message.values()] + [row.get("tools")]
    return sum(len(value) if isinstance(value, str) else len(json.dumps(value, default=str)) for value in values)


def rendered_lengths(
    rows: list[dict], tokenizer, max_length: int, template: str | None = None
) -> tuple[dict[int, str], set[int]]:
    """({row index: why the chat template cannot render it}, indices of rows longer than `max_length`
    tokens once rendered, which the trainer would cut silently). A text of at most max_length UTF-8
    bytes cannot be longer (a token covers at least one byte), so only longer texts are tokenized;
    a row longer than `max_chars` is over-long without rendering."""
    failed, texts, overlong = {}, {}, set()
    limit = max_chars(tokenizer, max_length)
    for index, row in enumerate(rows):
        if _row_chars(row) > limit:
            overlong.add(index)
            continue
        try:
            texts[index] = tokenizer.apply_chat_template(
                conversation_of(row),
                tools=tools_of(row),
                tokenize=False,
                chat_template=template,
                **(row.get("chat_template_kwargs") or {}),
            )
        except RENDER_ERRORS as error:
            failed[index] = f"the chat template fails on it: {type(error).__name__}: {error}"
    candidates = [i for i, text in texts.items() if len(text.encode()) > max_length]
    lengths = token_counts(tokenizer, [texts[i] for i in candidates])
    overlong |= {i for i, length in zip(candidates, lengths, strict=True) if length > max_length}
    return failed, overlong


def token_counts(tokenizer, texts: list[str], chunk: int = 1024) -> list[int]:
    """How many tokens each text has, a chunk at a time: a fast tokenizer's encodings are counted where
    they are (in Rust), without building Python lists of every id (seconds and gigabytes on large data)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    plain = backend is not None and backend.truncation is None and backend.padding is None
    counts = []
    for start in range(0, len(texts), chunk):
        part = texts[start : start + chunk]
        if plain:
            counts += [len(encoding) for encoding in backend.encode_batch(part, add_special_tokens=False)]
        else:
            counts += tokenizer(part, add_special_tokens=False, return_length=True)["length"]
    return counts


def check_rows(
    rows: list,
    mode: str,
    report: SourceReport,
    on_error: str,
    tokenizer=None,
    max_length: int | None = None,
    template: str | None = None,
) -> list[dict]:
    """Canonical rows; malformed ones (and, given the tokenizer, rows the template cannot render or longer
    than `max_length`) are counted per reason with their row numbers, or abort. `template` is the one
    training renders with (default: the tokenizer's); where it does not read `reasoning_content`, the
    trace is written into the content as a `<think>` block instead of vanishing."""
    valid, numbers = [], []
    for index, row in enumerate(rows):
        try:
            if isinstance(row, RowError):
                raise row
            valid.append(canonical_row(row, mode))
            numbers.append(index)
        except RowError as error:
            if on_error == "abort":
                raise DataError(f"{report.source}: row {index}: {error}") from None
            report.bad_rows[str(error) if isinstance(row, RowError) else _reason(error)].append(index)
    if tokenizer is not None:
        text = template if template is not None else tokenizer.chat_template
        if "reasoning_content" not in (text if isinstance(text, str) else str(text)):
            valid = [fold_reasoning(row) for row in valid]
    if tokenizer is not None and max_length and valid:
        failed, overlong = rendered_lengths(valid, tokenizer, max_length, template)
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
        log.warning("%s: skipped %d malformed row(s): %s", report.source, report.bad_count, report.reasons())
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


def build_mixture(
    recipe: Recipe,
    sources: list[SourceSettings],
    split: str | None = None,
    tokenizer=None,
    template: str | None = None,
    inspect: Callable[[str, dict], None] | None = None,
):
    """(datasets.Dataset, [SourceReport]) for the given sources of the recipe. Given the tokenizer (and the
    template training renders with), rows it cannot render or longer than `train.max_length` count as
    malformed instead of failing or being truncated in the trainer. `inspect`: see `read_source`."""
    import datasets

    rng = random.Random(recipe.seed)
    mixed, reports = [], []
    max_length = recipe.train.get("max_length", SFT_MAX_LENGTH)
    for source in sources:
        rows, report = read_source(source, recipe, split, inspect=inspect)
        valid = check_rows(rows, recipe.mode, report, recipe.data.on_error, tokenizer, max_length, template)
        used = size_rows(valid, source, rng)
        report.rows_used = len(used)
        if not used:
            raise DataError(
                f"{source.label}: no usable rows ({report.bad_count} malformed of {report.rows_read}: "
                f"{report.reasons()})"
            )
        log.info("%s: %d rows read, %d valid, %d used", source.label, report.rows_read, report.rows_valid, len(used))
        mixed += used
        reports.append(report)
    if recipe.data.shuffle:
        rng.shuffle(mixed)
    return datasets.Dataset.from_list(mixed, features=dataset_features(mixed)), reports
