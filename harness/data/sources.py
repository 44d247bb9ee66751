"""Data sources -> one training mixture, with a report of what each source really contributed.

A source is a built-in generator, a local file (jsonl, json, parquet, csv) or a hub dataset, read with
`datasets` (Arrow, memory-mapped, not lists of Python rows; see `load_source`). Its rows are column-mapped,
converted from their layout (`layouts.py`: ShareGPT, Alpaca, xLAM, ...), checked and put in the canonical format of the
recipe's mode (`formats.py`) by one `Dataset.map` (`RowCheck`, `num_proc` from `train.dataset_num_proc`).
Malformed rows are counted per reason with their row numbers and skipped, or abort the run when the recipe
says `on_error: abort`; columns no layout reads are reported with their counts. Sources are sized
(`samples` / `weight`, documented on `SourceSettings`), concatenated and shuffled into the mixture.
"""

from __future__ import annotations

import codecs
import csv
import itertools
import json
import logging
import random
import re
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.data import builtin, layouts
from harness.data.formats import (
    CONVERSATION_MODES,
    RENDER_ERRORS,
    RowError,
    canonical_row,
    conversation_of,
    fold_reasoning,
    tools_of,
)
from harness.recipe import Recipe, SourceSettings

log = logging.getLogger(__name__)
DEFAULT_BUILTIN_SAMPLES = 2000
FILE_FORMATS = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv"}
SHOWN_ROWS_PER_REASON = 10
SFT_MAX_LENGTH = 1024  # trl.SFTConfig's default max_length
# A row's provenance: read by the mixture checks (`select`), never trained on, so not reported as unused.
PROVENANCE_COLUMNS = ("task", "source", "seen", "meta")
EMPTY = (None, "", [], {})
# Columns of a source's dataset the harness adds: a whole row and why it could not be read (rows Arrow cannot
# hold as columns), the row's origin (its source's index in the mixture, its row number there), why it is
# unusable, its provenance tags and its non-empty columns no layout reads.
WHOLE_ROW, READ_ERROR = "_json", "_error"
SOURCE, ROW, PROBLEM, TAGS, UNUSED = "_source", "_row", "_problem", "_tags", "_unused"
ORIGIN, CHECKS = (SOURCE, ROW), (PROBLEM, TAGS, UNUSED)


# (source index, source, its valid rows with their `_tags` and `_row`) -> (the rows kept, {reason: dropped
# row numbers}): how a check of the whole mixture (held-out clusters, decontamination) removes rows.
Select = Callable[[int, SourceSettings, Any], tuple[Any, dict[str, list[int]]]]


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
    dropped_rows: dict[str, list[int]] = field(default_factory=dict)  # valid rows a mixture check removed

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
            "dropped_rows": {
                reason: {"count": len(rows), "rows": rows[:SHOWN_ROWS_PER_REASON]}
                for reason, rows in self.dropped_rows.items()
            },
        }

    def reasons(self) -> str:
        return "; ".join(f"{reason} (x{len(rows)}, rows {rows[:5]})" for reason, rows in self.bad_rows.items())


def load_source(source: SourceSettings, recipe: Recipe, split: str | None = None, limit: int | None = None):
    """The source's rows as a `datasets.Dataset`, before any conversion. Files and hub datasets Arrow can read
    keep their own columns (memory-mapped, never Python lists); rows it cannot hold as columns (a line that
    is not JSON, values of clashing types) and built-in rows come as one `_json` column of whole rows with a
    `_error` column saying why a row could not be read. `limit` reads only the first rows (`harness validate`)."""
    split = split or source.split
    if source.builtin:
        count = min(source.samples or DEFAULT_BUILTIN_SAMPLES, limit or DEFAULT_BUILTIN_SAMPLES * 1000)
        try:
            rows = builtin.generate(source.builtin, split, count, recipe.seed, **source.options)
        except (TypeError, ValueError) as error:
            raise DataError(f"{source.label}: {error}") from None
        return _whole_rows(rows)
    if source.streaming:  # the first rows only: a file's first lines or records, a hub dataset's stream
        limit = min(limit or source.samples, source.samples)
    if source.path:
        return _read_file(Path(source.path), limit)
    return _read_hub(source, split, limit)


def _whole_rows(rows: list):
    """Rows (or the RowError of each that could not be read) as the `_json`/`_error` dataset."""
    import datasets

    return datasets.Dataset.from_dict(
        {
            WHOLE_ROW: [None if isinstance(row, RowError) else row for row in rows],
            READ_ERROR: [str(row) if isinstance(row, RowError) else None for row in rows],
        },
        features=datasets.Features({WHOLE_ROW: datasets.Json(), READ_ERROR: datasets.Value("string")}),
    )


# --- reading ---------------------------------------------------------------------------------------------


def _read_file(path: Path, limit: int | None = None):
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
        if limit is not None and not is_array:
            return _whole_rows(_read_json_lines(path, limit))
        try:
            return _load_file("json", path, limit)
        except DataError:  # a line Arrow cannot read, or clashing types: each row read (and judged) alone
            return _whole_rows(_read_json_array(path)[:limit] if is_array else _read_json_lines(path, None))
    if kind == "csv":
        return _read_csv(path, limit)
    return _load_file(kind, path, limit)


def _load_file(kind: str, path: Path, limit: int | None = None, **options):
    """The file through `load_dataset`; with `limit`, only its first rows, streamed."""
    import datasets

    try:
        if limit is not None:
            stream = datasets.load_dataset(kind, data_files=str(path), split="train", streaming=True, **options)
            return _whole_rows(list(stream.take(limit)))
        return datasets.load_dataset(kind, data_files=str(path), split="train", **options)
    except Exception as error:  # arrow raises many types for a broken file; the message names it
        raise DataError(f"{path}: not a readable {kind} file ({type(error).__name__}: {error})") from None


def _read_csv(path: Path, limit: int | None):
    """Every cell a string: CSV has no types, and guessing turns "7" answers into ints."""
    import datasets

    csv.field_size_limit(1 << 30)
    try:
        with path.open(newline="", encoding="utf-8") as stream:
            header = next(csv.reader(stream), [])
            if limit is not None:
                stream.seek(0)
                return datasets.Dataset.from_list(list(itertools.islice(csv.DictReader(stream), limit)))
        _check_utf8(path)
    except UnicodeDecodeError as error:
        raise DataError(f"{path}: not UTF-8 text (byte {error.start}); save it as UTF-8") from None
    except csv.Error as error:
        raise DataError(f"{path}: not a readable CSV file ({error})") from None
    strings = datasets.Features({name: datasets.Value("string") for name in header})
    return _load_file("csv", path, features=strings, keep_default_na=False)


def _check_utf8(path: Path, chunk: int = 1 << 20) -> None:
    """Raise UnicodeDecodeError (with the file's byte offset) where the file is not UTF-8, a chunk at a time."""
    decoder, offset = codecs.getincrementaldecoder("utf-8")(), 0
    with path.open("rb") as stream:
        while block := stream.read(chunk):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as error:
                raise UnicodeDecodeError(
                    "utf-8", block, offset + error.start, offset + error.end, error.reason
                ) from None
            offset += len(block)
        decoder.decode(b"", final=True)


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


def _read_hub(source: SourceSettings, split: str, limit: int | None = None):
    import datasets

    try:
        if limit:  # streamed: nothing past the first rows is downloaded
            stream = datasets.load_dataset(source.hub, source.subset, split=split, streaming=True)
            return _whole_rows(list(stream.take(limit)))
        return datasets.load_dataset(source.hub, source.subset, split=split)
    except Exception as error:  # datasets raises many types; the message says what to fix
        raise DataError(
            f"hub:{source.hub} (split {split!r}) could not be loaded: {error}. Offline? "
            "Download it where there is internet, or point `path:` at a local copy."
        ) from None


# --- columns and layouts ---------------------------------------------------------------------------------


def _first_object(dataset) -> dict | None:
    """The first row that is an object: layouts are detected, and mapped columns checked, on it."""
    if WHOLE_ROW not in dataset.column_names:
        return dataset[0] if len(dataset) else None
    for item in dataset.select_columns([WHOLE_ROW]):
        if isinstance(item[WHOLE_ROW], dict):
            return item[WHOLE_ROW]
    return None


def source_layout(first: dict | None, source: SourceSettings, mode: str = "chat") -> layouts.Layout | None:
    """The source's layout: named in the recipe or detected on the first row (None: no object row at all,
    so each row is counted as malformed)."""
    if source.cluster_column and first is not None and source.cluster_column not in first:
        raise DataError(
            f"{source.label}: cluster_column: {source.cluster_column!r} not found; the rows have {sorted(first)}"
        )
    if source.columns and first is not None:
        wanted = {c for value in source.columns.values() for c in ([value] if isinstance(value, str) else value)}
        missing = sorted(wanted - set(first))
        if missing:
            raise DataError(f"{source.label}: columns: {missing} not found; the rows have {sorted(first)}")
        native = None if source.layout else layouts.detect(first)
        first = map_columns(first, source.columns)
        if native is not None:
            _check_mapping_against(native, first, source, mode)
    if source.layout:
        layout = layouts.LAYOUTS.get(source.layout)
        if layout is None:
            raise DataError(f"{source.label}: layout: unknown {source.layout!r}; known: {sorted(layouts.LAYOUTS)}")
    else:
        layout = layouts.detect(first)
        if layout is None and first is not None:
            raise DataError(
                f"{source.label}: no known layout for rows with columns {sorted(first)}; known layouts: "
                f"{', '.join(f'{name} ({lay.description})' for name, lay in layouts.LAYOUTS.items())}. Map the "
                "columns with `columns:` (e.g. {prompt: question, completion: answer}) or name one with `layout:`."
            )
    if layout is not None and layout.refusal:
        raise DataError(f"{source.label}: {layout.refusal}")
    return layout


def _check_mapping_against(native: layouts.Layout, mapped: dict, source: SourceSettings, mode: str) -> None:
    """Rows of a known layout that `columns:` maps into rows the trainer cannot read: say that the layout is
    read without the mapping (e.g. `{messages: conversations}` on ShareGPT rows gives messages without roles)."""
    layout = layouts.detect(mapped)
    if layout is None or layout.name == native.name:
        return
    try:
        canonical_row(layout.convert(mapped), mode)
    except (RowError, KeyError, TypeError, AttributeError) as error:
        raise DataError(
            f"{source.label}: columns: {dict(source.columns)} turns the first row into {layout.name} rows that "
            f"fail ({error}); without `columns:` these rows are read as layout {native.name} "
            f"({native.description}): drop `columns:`, or name the layout with `layout:`"
        ) from None


def map_columns(row: dict, columns: dict) -> dict:
    """`columns: {target: source column}`; a list of source columns is joined with a blank line."""
    wanted = {c for value in columns.values() for c in ([value] if isinstance(value, str) else value)}
    new = {key: value for key, value in row.items() if key not in wanted}
    for target, column in columns.items():
        if isinstance(column, str):
            new[target] = row.get(column)
        else:
            new[target] = "\n\n".join(str(row[c]).strip() for c in column if row.get(c) not in (None, ""))
    return new


# --- checking ------------------------------------------------------------------------------------------


def max_chars(tokenizer, max_length: int) -> int:
    """No text longer than this can fit in `max_length` tokens: a token spells at most the longest
    string of the vocabulary. Longer rows are rejected without rendering or tokenizing them."""
    longest = max((len(token) for token in tokenizer.get_vocab()), default=1)
    return max_length * max(longest, 1)


def _row_chars(row: dict) -> int:
    values = [value for message in conversation_of(row) for value in message.values()] + [row.get("tools")]
    return sum(len(value) if isinstance(value, str) else len(json.dumps(value, default=str)) for value in values)


def render(row: dict, tokenizer, template: str | None) -> str:
    """The row as training renders it (raises one of RENDER_ERRORS where the template cannot)."""
    return tokenizer.apply_chat_template(
        conversation_of(row),
        tools=tools_of(row),
        tokenize=False,
        chat_template=template,
        **(row.get("chat_template_kwargs") or {}),
    )


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


def too_long(max_length: int) -> str:
    return f"longer than train.max_length ({max_length} tokens): the trainer would cut it"


@dataclass(frozen=True)
class RowCheck:
    """The `Dataset.map` function that turns a batch of a source's rows into canonical rows (`formats.py`),
    each with its origin (`_source`, `_row`), why it is unusable (`_problem`, "" if usable), its provenance
    tags and its non-empty columns no layout reads. Given the tokenizer, a row the template cannot render
    is unusable, and so is one longer than `max_length` tokens: by its characters without rendering, and by
    counting its tokens where `count_tokens` (otherwise the trainer's own tokenization is read afterwards:
    `drop_overlong`). A plain, picklable object: `num_proc` workers each get a copy."""

    mode: str
    source_index: int
    layout: layouts.Layout | None
    columns: dict
    read: frozenset | None  # the columns the layout reads (None: do not count unused ones)
    chat_template_kwargs: dict
    tokenizer: object = None
    template: str | None = None
    fold: bool = False  # the template does not read `reasoning_content`: the trace goes into the content
    max_length: int | None = None
    char_limit: int | None = None  # `max_chars`: longer rows are over-long without rendering
    count_tokens: bool = True
    cluster_column: str | None = None  # its value joins the row's tags as `cluster_value`

    @property
    def conversation_columns(self) -> tuple[str, ...]:
        return ("messages",) if self.mode in CONVERSATION_MODES else ("prompt", "completion")

    def features(self):
        from datasets import Features, Json, List, Value

        return Features(
            {
                **{name: List(Json()) for name in (*self.conversation_columns, "tools")},
                "chat_template_kwargs": Json(),
                SOURCE: Value("int32"),
                ROW: Value("int64"),
                PROBLEM: Value("string"),
                TAGS: Json(),
                UNUSED: List(Value("string")),
            }
        )

    def __call__(self, batch: dict, indices: list[int]) -> dict:
        if WHOLE_ROW in batch:
            rows, errors = batch[WHOLE_ROW], batch[READ_ERROR]
        else:
            rows, errors = [dict(zip(batch, values, strict=True)) for values in zip(*batch.values(), strict=True)], None
        out = {name: [] for name in (*self.conversation_columns, "tools", "chat_template_kwargs", *ORIGIN, *CHECKS)}
        canonical_rows = []
        for position, (row, index) in enumerate(zip(rows, indices, strict=True)):
            canonical, problem, tags, unused = None, "", None, []
            try:
                if errors is not None and errors[position]:
                    raise RowError(errors[position])
                canonical, tags, unused = self._canonical(row)
            except RowError as error:
                problem = str(error)
            canonical_rows.append(canonical)
            out[SOURCE].append(self.source_index)
            out[ROW].append(index)
            out[PROBLEM].append(problem)
            out[TAGS].append(tags)
            out[UNUSED].append(unused)
        if self.tokenizer is not None:
            self._check_rendering(canonical_rows, out[PROBLEM])
        for canonical in canonical_rows:
            for name in (*self.conversation_columns, "tools", "chat_template_kwargs"):
                out[name].append(canonical.get(name) if canonical else None)
        return out

    def _canonical(self, row) -> tuple[dict, dict | None, list[str]]:
        cluster_value = row.get(self.cluster_column) if self.cluster_column and isinstance(row, dict) else None
        if isinstance(row, dict) and self.columns:
            row = map_columns(row, self.columns)
        tags, unused = None, []
        if isinstance(row, dict):
            tags = {key: row[key] for key in PROVENANCE_COLUMNS if row.get(key) is not None}
            if cluster_value is not None:
                tags["cluster_value"] = str(cluster_value)
            tags = tags or None
            if self.read is not None:
                unused = [key for key, value in row.items() if key not in self.read and value not in EMPTY]
            if self.layout is not None:
                try:
                    row = self.layout.convert(row)
                except (KeyError, TypeError, AttributeError) as error:
                    raise RowError(f"not a {self.layout.name} row ({type(error).__name__}: {error})") from None
        try:
            canonical = canonical_row(row, self.mode)
        except RowError as error:  # message positions like `messages[3]` vary per row and would split the count
            raise RowError(re.sub(r"\[\d+\]", "[i]", str(error))) from None
        kwargs = {**(canonical.get("chat_template_kwargs") or {}), **self.chat_template_kwargs}
        return {**canonical, "chat_template_kwargs": kwargs}, tags, unused

    def _check_rendering(self, rows: list[dict | None], problems: list[str]) -> None:
        texts = {}
        for position, row in enumerate(rows):
            if row is None:
                continue
            if self.fold:
                rows[position] = row = fold_reasoning(row)
            if self.char_limit is not None and _row_chars(row) > self.char_limit:
                problems[position] = too_long(self.max_length)
                continue
            try:
                texts[position] = render(row, self.tokenizer, self.template)
            except RENDER_ERRORS as error:
                problems[position] = f"the chat template fails on it: {type(error).__name__}: {error}"
        if self.max_length and self.count_tokens:
            # A text of at most max_length UTF-8 bytes cannot be longer: a token covers at least one byte.
            candidates = [i for i, text in texts.items() if len(text.encode()) > self.max_length]
            lengths = token_counts(self.tokenizer, [texts[i] for i in candidates])
            for position, length in zip(candidates, lengths, strict=True):
                if length > self.max_length:
                    problems[position] = too_long(self.max_length)
        for position, problem in enumerate(problems):
            if problem:
                rows[position] = None


def check_source(
    source: SourceSettings,
    recipe: Recipe,
    index: int = 0,
    split: str | None = None,
    limit: int | None = None,
    tokenizer=None,
    template: str | None = None,
    max_length: int | None = None,
    count_tokens: bool = True,
    on_error: str | None = None,
    select: Select | None = None,
):
    """(Dataset of the source's usable canonical rows, SourceReport). Malformed rows (and, given the
    tokenizer, rows the template cannot render or longer than `max_length`) are counted per reason with their
    row numbers, or abort under `on_error: abort` (the recipe's unless given). `template` is the one training
    renders with (default: the tokenizer's); where it does not read `reasoning_content`, the trace is written
    into the content as a `<think>` block instead of vanishing. `index` is the source's place in its mixture.
    `select` (see `Select`) sees the valid rows with their provenance tags (task, source, seen, meta, the
    cluster column's value) and may drop some, each counted under its reason in the report."""
    report = SourceReport(source=source.label)
    raw = load_source(source, recipe, split, limit)
    layout = source_layout(_first_object(raw), source, recipe.mode)
    report.layout = layout.name if layout else ""
    if layout is not None and not source.builtin:
        mapping = f", columns {dict(source.columns)}" if source.columns else ""
        log.info("%s: layout %s (%s)%s", source.label, layout.name, layout.description, mapping)
    reads_trace = tokenizer is not None and "reasoning_content" in str(template or tokenizer.chat_template)
    layout_columns = layout.columns if layout else ()
    check = RowCheck(
        mode=recipe.mode,
        source_index=index,
        layout=layout,
        columns=dict(source.columns),
        read=None
        if source.builtin
        else frozenset((*layout_columns, *source.columns, *PROVENANCE_COLUMNS, source.cluster_column)),
        chat_template_kwargs=dict(source.chat_template_kwargs),
        tokenizer=tokenizer,
        template=template,
        fold=tokenizer is not None and not reads_trace,
        max_length=max_length,
        char_limit=max_chars(tokenizer, max_length) if tokenizer is not None and max_length else None,
        count_tokens=count_tokens,
        cluster_column=source.cluster_column,
    )
    checked = raw.map(
        check,
        batched=True,
        with_indices=True,
        remove_columns=raw.column_names,
        features=check.features(),
        num_proc=recipe.train.get("dataset_num_proc"),
        desc=f"Checking {source.label}",
    )
    on_error = on_error or recipe.data.on_error
    problems = checked[PROBLEM]
    usable = [row for row, problem in enumerate(problems) if not problem]
    for row, problem in enumerate(problems):
        if problem and on_error == "abort":
            raise DataError(f"{source.label}: row {row}: {problem}")
        if problem:
            report.bad_rows[problem].append(row)
    unused = Counter(column for columns in checked[UNUSED] for column in columns)
    report.unused_columns = dict(sorted(unused.items()))
    if unused:
        log.warning(
            "%s: column(s) no layout reads, left out of training: %s (non-empty rows). Map them with "
            "`columns:` if they matter.",
            source.label,
            report.unused_columns,
        )
    valid = checked.select(usable) if len(usable) < len(checked) else checked
    report.rows_read, report.rows_valid = len(checked), len(valid)
    if report.bad_count:
        log.warning("%s: skipped %d malformed row(s): %s", report.source, report.bad_count, report.reasons())
    if select is not None:
        valid, dropped = select(index, source, valid)
        report.dropped_rows = {reason: sorted(rows) for reason, rows in dropped.items() if rows}
        for reason, rows in report.dropped_rows.items():
            log.warning("%s: dropped %d row(s): %s", report.source, len(rows), reason)
    return valid.remove_columns(list(CHECKS)), report


def size_rows(dataset, source: SourceSettings, rng: random.Random):
    """The rows a source contributes: `samples` drawn without replacement, or `weight` times its rows."""
    count = len(dataset)
    if source.samples is not None and not source.builtin:
        if source.samples > count:
            log.warning("%s: asked for %d rows, it has %d valid: using all", source.label, source.samples, count)
        return dataset.select(rng.sample(range(count), min(source.samples, count)))
    if source.weight is not None:
        whole, fraction = divmod(source.weight, 1)
        return dataset.select(list(range(count)) * int(whole) + rng.sample(range(count), round(fraction * count)))
    return dataset


def build_mixture(
    recipe: Recipe,
    sources: list[SourceSettings],
    split: str | None = None,
    tokenizer=None,
    template: str | None = None,
    count_tokens: bool = True,
    select: Select | None = None,
):
    """(datasets.Dataset, [SourceReport]) for the given sources of the recipe: each source checked
    (`check_source`, with `select`) and sized, then concatenated and shuffled. Rows keep their origin in `_source` (the
    source's index) and `_row` (its row number there). Given the tokenizer, rows it cannot render or longer
    than `train.max_length` count as malformed instead of failing or being cut in the trainer; with
    `count_tokens=False` the token lengths are left to the trainer's tokenization (`drop_overlong`)."""
    import datasets

    rng = random.Random(recipe.seed)
    mixed, reports = [], []
    max_length = recipe.train.get("max_length", SFT_MAX_LENGTH)
    for index, source in enumerate(sources):
        valid, report = check_source(
            source, recipe, index, split, None, tokenizer, template, max_length, count_tokens, select=select
        )
        used = size_rows(valid, source, rng)
        report.rows_used = len(used)
        if not len(used):
            dropped = "".join(f"; {len(rows)} dropped: {reason}" for reason, rows in report.dropped_rows.items())
            raise DataError(
                f"{source.label}: no usable rows ({report.bad_count} malformed of {report.rows_read}: "
                f"{report.reasons()}{dropped})"
            )
        log.info("%s: %d rows read, %d valid, %d used", source.label, report.rows_read, report.rows_valid, len(used))
        mixed.append(used)
        reports.append(report)
    mixture = datasets.concatenate_datasets(mixed) if len(mixed) > 1 else mixed[0]
    if recipe.data.shuffle:
        order = list(range(len(mixture)))
        rng.shuffle(order)
        mixture = mixture.select(order)
    return mixture, reports


def drop_overlong(
    prepared, mixture, reports: list[SourceReport], max_length: int | None, on_error: str, tokenizer, template
):
    """The trainer's tokenized dataset without the rows longer than `max_length` tokens, which it cut: they
    are counted in the reports (or abort), as `check_source` counts them when it tokenizes itself. Read from
    the trainer's own tokenization (one pass over the data, not two): a cut row has exactly `max_length`
    tokens (those are counted again to tell a cut row from one that fits exactly), and a row the cut left
    without any loss is gone from `prepared`. `mixture` is what the trainer was given (`build_mixture`)."""
    import numpy as np
    import pyarrow.compute as pc

    kept = prepared.select_columns([SOURCE, ROW, "input_ids"]).with_format("arrow")[:]
    given = mixture.select_columns([SOURCE, ROW]).with_format("arrow")[:]
    kept_origin = list(zip(kept[SOURCE].to_pylist(), kept[ROW].to_pylist(), strict=True))
    given_origin = list(zip(given[SOURCE].to_pylist(), given[ROW].to_pylist(), strict=True))
    overlong = set(given_origin) - set(kept_origin)
    if max_length is not None:
        at_limit = np.flatnonzero(pc.greater_equal(pc.list_value_length(kept["input_ids"]), max_length))
        candidates = sorted({kept_origin[i] for i in at_limit} - overlong)  # a list: rows and lengths pair up
        wanted = set(candidates)
        where = {origin: position for position, origin in enumerate(given_origin) if origin in wanted}
        rows = [mixture[where[origin]] for origin in candidates]
        lengths = token_counts(tokenizer, [render(row, tokenizer, template) for row in rows])
        overlong |= {origin for origin, length in zip(candidates, lengths, strict=True) if length > max_length}
    if not overlong:
        return prepared.remove_columns(list(ORIGIN))
    reason = too_long(max_length)
    if on_error == "abort":
        source, row = next(origin for origin in given_origin if origin in overlong)
        raise DataError(f"{reports[source].source}: row {row}: {reason}")
    for source, row in sorted(overlong):
        reports[source].bad_rows[reason].append(row)
        reports[source].rows_valid -= 1
    keep = [position for position, origin in enumerate(kept_origin) if origin not in overlong]
    used = Counter(kept_origin[position][0] for position in keep)
    for source, report in enumerate(reports):
        report.rows_used = used[source]
        report.bad_rows = defaultdict(list, {reason: sorted(rows) for reason, rows in report.bad_rows.items()})
        if not report.rows_used:
            raise DataError(f"{report.source}: no usable rows ({report.bad_count} malformed: {report.reasons()})")
    log.warning("skipped %d row(s) %s", len(overlong), reason)
    return prepared.select(keep).remove_columns(list(ORIGIN))
