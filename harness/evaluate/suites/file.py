"""The user's own evaluation data: a local file (jsonl, json, csv, parquet) or a hub dataset, in any layout the
training side reads, scored by a named scorer.

Recipe form:
    - suite: file
      path: data/my_test.jsonl                 # or options.hub (+ subset; the suite's split)
      cluster: nli                             # or cluster_column: task (+ clusters: {task value: cluster})
      options: {scorer: normalized_exact, reference: answer, task_column: task}
Each row gives the prompt as `prompt` (a string or messages) or `messages` (the conversation so far), or in any
training layout (Alpaca, ShareGPT, FLAN's inputs/targets, ...; `columns:` maps names as on a source); the
reference is the `reference` column, or else the answer turn the layout gives. `id` names a row (default: its
number). A row that cannot be made into an item is counted per reason with its row number in the summary.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.evaluate.scorers import reasoning, text, toolcall
from harness.evaluate.suites import Item, SuiteError, SuiteKind, first_verdict, mean
from harness.evaluate.suites.builtin import text_metrics

log = logging.getLogger(__name__)

SCORERS = {
    "exact": text.strict_match,
    "normalized_exact": text.exact_match,  # lowercased, punctuation and articles dropped (SQuAD)
    "contains": text.contains,
    "chrf": text.chrf,
    "rouge_l": text.rouge_l,
    "math_verify": reasoning.score,
    "tool_call": toolcall.score,
}


class FileOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scorer: Literal["exact", "normalized_exact", "contains", "chrf", "rouge_l", "math_verify", "tool_call"] = Field(
        description="How a prediction is judged against the reference"
    )
    reference: str = Field("reference", description="The reference column (absent: the layout's answer turn)")
    id: str = Field("id", description="The column naming each item (absent: its row number)")
    task_column: str | None = Field(None, description="A column naming each item's task (metrics per task)")
    hub: str | None = Field(None, description="A hub dataset instead of `path`")
    subset: str | None = None
    layout: str | None = Field(None, description="As on a training source (default: detected)")
    columns: dict[str, str | list[str]] = Field(default_factory=dict, description="As on a training source")


class RowProblem(ValueError):
    pass


def _file(settings, options: FileOptions, seed, path):
    from harness.data.formats import RowError, canonical_row
    from harness.data.sources import READ_ERROR, WHOLE_ROW, DataError, load_source, map_columns, source_layout
    from harness.recipe import SourceSettings

    if (path is None) == (options.hub is None):
        raise SuiteError(f"suite {settings.name or 'file'}: give `path` or `options.hub`, not both or neither")
    origin = {"path": str(path)} if path else {"hub": options.hub, "subset": options.subset}
    source = SourceSettings(**origin, split=settings.split, layout=options.layout, columns=options.columns)
    try:
        dataset = load_source(source, None)
    except DataError as error:
        raise SuiteError(f"suite {settings.name or 'file'}: {error}") from None
    whole = WHOLE_ROW in dataset.column_names
    rows = dataset[WHOLE_ROW] if whole else dataset
    errors = dataset[READ_ERROR] if whole else [None] * len(dataset)
    items, skipped = [], defaultdict(list)
    layout = None
    for number, (row, error) in enumerate(zip(rows, errors, strict=True)):
        try:
            if error:
                raise RowProblem(error)
            if not isinstance(row, dict):
                raise RowProblem(f"row is a {type(row).__name__}, not an object")
            mapped = map_columns(row, options.columns) if options.columns else row
            messages, answer = _prompt(mapped)
            if messages is None:
                if layout is None:
                    layout = source_layout(mapped, source.model_copy(update={"columns": {}}))
                converted = canonical_row(layout.convert(mapped), "chat")
                messages, answer = converted["messages"], None
                if messages[-1]["role"] == "assistant":
                    *messages, answer = messages
                tools = converted.get("tools")
            else:
                tools = mapped.get("tools")
                tools = json.loads(tools) if isinstance(tools, str) else tools
            if options.scorer == "tool_call" and not tools:
                raise RowProblem("a tool_call item needs the tools it offers (a `tools` column of JSON schemas)")
            reference = mapped.get(options.reference)
            if reference is None and answer is not None:
                reference = _answer(answer, options.scorer)
            if reference is None:
                raise RowProblem(f"no `{options.reference}` column and no answer turn to take the reference from")
            meta = {"row": number}
            if options.task_column and mapped.get(options.task_column) is not None:
                meta["task"] = str(mapped[options.task_column])
            if settings.cluster_column:
                value = mapped.get(settings.cluster_column)
                meta["cluster_value"] = None if value is None else str(value)
            item_id = mapped.get(options.id)
            reference = _reference(reference, options.scorer)
            items.append(
                Item(str(item_id) if item_id is not None else f"row-{number}", messages, reference, tools, meta)
            )
        except (RowProblem, RowError, DataError, KeyError, TypeError, ValueError, AttributeError) as error:
            skipped[str(error) or type(error).__name__].append(number)
    where = settings.name or str(path or f"hub:{options.hub}")
    if skipped:
        reasons = "; ".join(f"{reason} (x{len(rows)}, rows {rows[:5]})" for reason, rows in skipped.items())
        log.warning("suite %s: skipped %d row(s): %s", where, sum(map(len, skipped.values())), reasons)
    if not items:
        raise SuiteError(f"suite {where}: no usable row ({dict(skipped) or 'the data is empty'})")
    if settings.cluster_column and all(item.meta.get("cluster_value") is None for item in items):
        raise SuiteError(f"suite {where}: cluster_column: {settings.cluster_column!r} is in no row")
    duplicated = len(items) - len({item.id for item in items})
    if duplicated:
        raise SuiteError(f"suite {where}: {duplicated} item id(s) repeat in column `{options.id}`; ids must be unique")
    return items, SCORERS[options.scorer], dict(skipped)


def _prompt(row: dict) -> tuple[list | None, Any]:
    """(prompt messages, the answer turn if any) from `prompt` or `messages`; (None, None) for other layouts."""
    if row.get("prompt") is not None:
        prompt = row["prompt"]
        messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
        return _checked(messages, "prompt"), row.get("completion")
    if row.get("messages") is not None:
        messages = _checked(row["messages"], "messages")
        if messages[-1]["role"] == "assistant":
            return messages[:-1], messages[-1]
        return messages, None
    return None, None


def _answer(answer: Any, scorer: str) -> Any:
    """The reference an answer turn gives: its text, or for the tool_call scorer its calls."""
    if isinstance(answer, list):  # a conversational completion: its last message
        answer = answer[-1] if answer else None
    if not isinstance(answer, dict):
        return answer
    if scorer == "tool_call" and answer.get("tool_calls"):
        return [call.get("function", call) for call in answer["tool_calls"]]
    return answer.get("content")


def _checked(messages: Any, field: str) -> list[dict]:
    from harness.data.formats import conversation

    return conversation(messages, field, need_assistant=False)


def _reference(reference: Any, scorer: str) -> Any:
    """Tool calls as the scorer takes them; everything else as text."""
    if scorer == "tool_call":
        calls = json.loads(reference) if isinstance(reference, str) else reference
        if not isinstance(calls, list):
            raise RowProblem("a tool_call reference is a list of calls ({name, arguments})")
        if all(isinstance(call, dict) and "name" in call for call in calls):
            return toolcall.gold_from_calls(
                [{"name": c["name"], "arguments": _arguments(c.get("arguments", {}))} for c in calls]
            )
        return calls  # BFCL's possible-answer form
    if isinstance(reference, (list, dict)):
        raise RowProblem(f"the reference is a {type(reference).__name__}; the {scorer} scorer compares text")
    return str(reference)


def _arguments(arguments: Any) -> dict:
    arguments = json.loads(arguments) if isinstance(arguments, str) else arguments
    if not isinstance(arguments, dict):
        raise RowProblem("tool-call arguments are not an object")
    return arguments


def file_metrics(records: list[dict]) -> dict:
    by_task = defaultdict(list)
    for record in records:
        if record["meta"].get("task") is not None:
            by_task[record["meta"]["task"]].append(first_verdict(record)["score"])
    metrics = {k: v for k, v in text_metrics(records).items() if k != "by_kind"}
    return {**metrics, **({"by_task": {k: mean(v) for k, v in sorted(by_task.items())}} if by_task else {})}


KIND = SuiteKind("file", _file, file_metrics, options=FileOptions)
