"""BFCL v4's single-turn categories as BFCL publishes them (questions, possible answers), judged by its AST rules.

The files ship in `evaluate/data/bfcl/` (Apache-2.0, from `bfcl-eval`); `path:` points at another copy.
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from harness.data.formats import json_schema
from harness.evaluate.scorers import source_values, toolcall
from harness.evaluate.suites import Item, SuiteError, SuiteKind, json_lines
from harness.evaluate.suites.builtin import tool_metrics

SHIPPED = Path(__file__).parents[1] / "data" / "bfcl"

# BFCL v4's single-turn categories, in the leaderboard's column order (multi-turn and agentic ones are not run).
BFCL_CATEGORIES = (
    "simple_python",
    "simple_java",
    "simple_javascript",
    "multiple",
    "parallel",
    "parallel_multiple",
    "irrelevance",
    "live_simple",
    "live_multiple",
    "live_parallel",
    "live_parallel_multiple",
    "live_irrelevance",
    "live_relevance",
)
BFCL_WITHOUT_ANSWERS = {"irrelevance": [], "live_irrelevance": [], "live_relevance": None}  # see toolcall.py
BFCL_LANGUAGES = {"simple_java": "java", "simple_javascript": "javascript"}
LANGUAGE_NAMES = {"java": "Java", "javascript": "JavaScript"}
BFCL_HINTS = {
    "python": " Note that the provided function is in Python 3 syntax.",
    "java": " Note that the provided function is in Java 8 SDK syntax.",
    "javascript": " Note that the provided function is in JavaScript syntax.",
}


def bfcl_tool(function: dict, language: str = "python") -> dict:
    """A BFCL function -> the OpenAI-style tool BFCL shows a function-calling model: its language hint in the
    description, JSON-schema types (dict -> object, float -> number); Java and JavaScript parameters typed
    string, their declared type said in words (BFCL's `_func_doc_language_specific_pre_processing`)."""
    function = copy.deepcopy(function)
    function["description"] = function.get("description", "") + BFCL_HINTS[language]
    if language != "python":
        for spec in function.get("parameters", {}).get("properties", {}).values():
            declared = spec.get("type")
            spec["description"] = spec.get("description", "") + (
                f" This parameter can be of any type of {LANGUAGE_NAMES[language]} object in string representation."
                if declared == "any"
                else f" This is {LANGUAGE_NAMES[language]} {declared} type parameter in string representation."
            )
            if declared in source_values.COLLECTIONS and "items" in spec:
                element = spec.pop("items").get("type")
                spec["description"] += (
                    f" The list elements are of type {element}; they are not in string representation."
                )
            if language == "javascript" and declared == "dict" and "properties" in spec:
                entries = json.dumps(spec.pop("properties"))
                spec["description"] += (
                    " The dictionary entries have the following schema; they are not in string"
                    f" representation. {entries}"
                )
            spec["type"] = "string"

    return {"type": "function", "function": json_schema(function)}


def _bfcl(settings, options, seed, path):
    if not path.is_dir():
        raise SuiteError(f"suite bfcl: {path}: not a folder (it holds BFCL_v4_<category>.json and possible_answer/)")
    items = []
    for category in BFCL_CATEGORIES if options.categories is None else options.categories:
        if category not in BFCL_CATEGORIES:
            raise SuiteError(f"suite bfcl: unknown category {category!r}; expected one of {list(BFCL_CATEGORIES)}")
        question_file = path / f"BFCL_v4_{category}.json"
        answer_file = path / "possible_answer" / f"BFCL_v4_{category}.json"
        needs_answers = category not in BFCL_WITHOUT_ANSWERS
        for file in [question_file] + [answer_file] * needs_answers:
            if not file.is_file():
                raise SuiteError(f"suite bfcl: category {category}: {file}: no such file")
        answers = {}
        if needs_answers:
            answers = {a["id"]: a["ground_truth"] for _, a in json_lines(answer_file)}
        language = BFCL_LANGUAGES.get(category, "python")
        for _, question in json_lines(question_file)[: options.per_category]:
            if needs_answers and question["id"] not in answers:
                raise SuiteError(f"suite bfcl: {answer_file}: no answer for {question['id']}")
            reference = answers[question["id"]] if needs_answers else BFCL_WITHOUT_ANSWERS[category]
            tools = [bfcl_tool(f, language) for f in question["function"]]
            meta = {"category": category, "tool_set": "bfcl", "cluster": "tool_use"}
            if language != "python":  # the tools shown type every parameter string; the checker needs the real types
                meta |= {"language": language, "functions": question["function"]}
            items.append(Item(question["id"], question["question"][0], reference, tools, meta))
    return items, toolcall.score


class BfclOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    categories: list[str] | None = Field(None, description="Categories to run (default: all of BFCL_CATEGORIES)")
    per_category: int | None = Field(None, ge=1, description="Questions per category (default: all)")


def _bfcl_metrics(records: list[dict]) -> dict:
    """The tool metrics and BFCL's leaderboard columns, aggregated as BFCL's `eval_runner_helper` does:
    simple = mean of the Python, Java and JavaScript simple categories; non-live = mean of simple, multiple,
    parallel, parallel_multiple; live = item-weighted over the four live AST categories; irrelevance = mean of
    irrelevance and live_irrelevance; single-turn overall = mean of non-live, live and irrelevance (BFCL's
    10/10/10 weights, without its multi-turn and agentic parts). A column whose categories did not all run is
    None, where BFCL shows N/A."""
    metrics = tool_metrics(records)
    counts = Counter(r["meta"].get("category") for r in records)
    accuracy = metrics["by_category"]

    def unweighted(*columns):
        return None if any(c is None for c in columns) else round(sum(columns) / len(columns), 4)

    def weighted(*categories):
        if any(c not in accuracy for c in categories):
            return None
        return round(sum(accuracy[c] * counts[c] for c in categories) / sum(counts[c] for c in categories), 4)

    simple = unweighted(*(accuracy.get(c) for c in ("simple_python", "simple_java", "simple_javascript")))
    non_live = unweighted(simple, *(accuracy.get(c) for c in ("multiple", "parallel", "parallel_multiple")))
    live = weighted("live_simple", "live_multiple", "live_parallel", "live_parallel_multiple")
    irrelevance = unweighted(accuracy.get("irrelevance"), accuracy.get("live_irrelevance"))
    metrics["bfcl"] = {
        "overall": unweighted(non_live, live, irrelevance),
        "non_live": non_live,
        "simple": simple,
        "live": live,
        "irrelevance": irrelevance,
        "relevance": accuracy.get("live_relevance"),
    }
    return metrics


KIND = SuiteKind("bfcl", _bfcl, _bfcl_metrics, options=BfclOptions, shipped_data=SHIPPED, pass_at_k=True)
