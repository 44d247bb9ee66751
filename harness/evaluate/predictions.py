"""`harness score`: a suite's rules applied to saved predictions from any system."""

from __future__ import annotations

import json
from pathlib import Path

from harness.evaluate.backends import Generation
from harness.evaluate.episodes import step_calls
from harness.evaluate.samples import score_record
from harness.evaluate.suites import build_suite, summarize
from harness.files import read_jsonl
from harness.recipe import Recipe, SuiteSettings
from harness.run_folder import EvalFolder, SuiteSummary


def score_predictions(
    suite_name: str,
    predictions: str | Path,
    out_dir: str | Path,
    path: str | None = None,
    recipe: Recipe | None = None,
    options: dict | None = None,
) -> dict:
    """Rows `{id, prediction}` (a list of predictions: n samples), or BFCL's result rows `{id, result}` (a
    multi-turn result, per turn and step, is one prediction: its JSON)."""
    configured = next((s for s in (recipe.eval.suites if recipe else []) if (s.name or s.suite) == suite_name), None)
    settings = configured or SuiteSettings(suite=suite_name, path=path)
    if path:
        settings = settings.model_copy(update={"path": path})
    if options is not None:
        settings = settings.model_copy(update={"options": options})
    suite = build_suite(settings, recipe.seed if recipe else 0)
    conversations = {item.id for item in suite.items if item.episode is not None}
    read = read_jsonl(predictions)
    by_id = {}
    for number, row in read.rows:
        problem = _row_problem(row)
        if problem is None and str(row["id"]) in by_id:
            problem = f"id {str(row['id'])[:80]!r} again (the first line with it is used)"
        if problem is not None:
            read.bad.append((number, problem))
        elif "prediction" not in row:  # a BFCL result file's row
            by_id[str(row["id"])] = [_bfcl_result(row["result"], str(row["id"]) in conversations)]
        else:
            by_id[str(row["id"])] = row["prediction"] if isinstance(row["prediction"], list) else [row["prediction"]]
    read.bad.sort()
    if not by_id:
        bad = f": {read.bad_summary()['count']} unreadable line(s): " + "; ".join(read.bad_summary()["lines"][:3])
        raise ValueError(f"{predictions}: no usable prediction" + (bad if read.bad else " (the file is empty)"))
    records = [
        score_record(suite, item, "", [Generation(str(p), "stop") for p in by_id[item.id]], "score")
        for item in suite.items
        if item.id in by_id
    ]
    if not records:
        raise ValueError(
            f"none of the {len(by_id)} predictions matches an item id of suite {suite_name!r}"
            " (are its categories or tasks the ones the predictions answer? see --options)"
        )
    item_ids = {item.id for item in suite.items}
    summary = SuiteSummary(
        suite=suite.name,
        kind=suite.kind,
        model=Path(predictions).stem,  # the leaderboard's row: the predictions scored
        backend="score",  # saved predictions, not generated here
        predictions=str(predictions),
        n_items=len(records),
        n_missing=len(item_ids - set(by_id)),
        n_unknown=len(set(by_id) - item_ids),
        n_unreadable_lines=len(read.bad),
        unreadable_lines=read.bad_summary() if read.bad else None,
        metrics=summarize(suite, records),
    )
    folder = EvalFolder(out_dir)  # an evaluation folder, so `harness report` reads it like any other
    folder.write_samples(suite.name, records)
    written = folder.write_summary(summary)
    folder.write_index(summary.model, [suite.name])
    return written


def _row_problem(row) -> str | None:
    """Why a predictions line is not `{id, prediction}` or `{id, result}` (None: it is)."""
    if not isinstance(row, dict):
        return f"a JSON {type(row).__name__}, not an object with id and prediction"
    if not isinstance(row.get("id"), str | int) or isinstance(row.get("id"), bool):
        return "no id (a string or a number)"
    if "prediction" not in row and "result" not in row:
        return "no prediction (or BFCL's result)"
    prediction = row.get("prediction")
    if "prediction" in row and (
        prediction == [] or not all(isinstance(p, str | int | float) for p in _as_list(prediction))
    ):
        return "prediction is not text (or a non-empty list of texts)"
    return None


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def _bfcl_result(result, conversation: bool) -> str:
    """A BFCL result as the suite's scorer reads it, decoded as BFCL's function-calling decoder does: a
    conversation's result (per turn and step) as its JSON; one answer's `{name: arguments-JSON}` calls as
    `<tool_call>` blocks; text as it is."""
    if conversation:
        return json.dumps(result)
    if isinstance(result, str):
        return result
    return "".join(f"<tool_call>{json.dumps(call)}</tool_call>" for call in step_calls(result))
