"""BFCL v4's single-turn categories as BFCL publishes them (questions, possible answers), judged by its AST rules.

The files ship in `evaluate/data/bfcl/` (Apache-2.0, from `bfcl-eval`); `path:` points at another copy.
"""

from __future__ import annotations

import copy
import functools
import json
from collections import Counter, defaultdict
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from harness.data.formats import json_schema
from harness.evaluate.episodes import Episode
from harness.evaluate.scorers import bfcl_multi_turn, source_values, toolcall
from harness.evaluate.suites import Item, ReportPart, SuiteError, SuiteKind, first_verdict, json_lines, mean
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
# Multi-turn: conversations played with tools in BFCL's environments, read from the installed bfcl-eval.
MULTI_TURN_CATEGORIES = ("multi_turn_base", "multi_turn_miss_func", "multi_turn_miss_param", "multi_turn_long_context")
BFCL_WITHOUT_ANSWERS = {"irrelevance": [], "live_irrelevance": [], "live_relevance": None}  # see toolcall.py
BFCL_LANGUAGES = {"simple_java": "java", "simple_javascript": "javascript"}
LANGUAGE_NAMES = {"java": "Java", "javascript": "JavaScript"}
BFCL_HINTS = {
    "python": " Note that the provided function is in Python 3 syntax.",
    "java": " Note that the provided function is in Java 8 SDK syntax.",
    "javascript": " Note that the provided function is in JavaScript syntax.",
}


def bfcl_tool(function: dict, language: str = "python", hint: bool = True) -> dict:
    """A BFCL function -> the OpenAI-style tool BFCL shows a function-calling model: its language hint in the
    description, JSON-schema types (dict -> object, float -> number); Java and JavaScript parameters typed
    string, their declared type said in words (BFCL's `_func_doc_language_specific_pre_processing`)."""
    function = copy.deepcopy(function)
    function["description"] = function.get("description", "") + BFCL_HINTS[language] * hint
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
        if category in MULTI_TURN_CATEGORIES:
            items += _multi_turn_items(category, path, options.per_category)
            continue
        if category not in BFCL_CATEGORIES:
            raise SuiteError(
                f"suite bfcl: unknown category {category!r}; expected one of "
                f"{[*BFCL_CATEGORIES, *MULTI_TURN_CATEGORIES]}"
            )
        question_file, answer_file = _category_files(path, category, needs_answers=category not in BFCL_WITHOUT_ANSWERS)
        answers = {a["id"]: a["ground_truth"] for _, a in json_lines(answer_file)} if answer_file else {}
        language = BFCL_LANGUAGES.get(category, "python")
        for _, question in json_lines(question_file)[: options.per_category]:
            if answer_file and question["id"] not in answers:
                raise SuiteError(f"suite bfcl: {answer_file}: no answer for {question['id']}")
            reference = answers[question["id"]] if answer_file else BFCL_WITHOUT_ANSWERS[category]
            tools = [bfcl_tool(f, language) for f in question["function"]]
            meta = {"category": category, "tool_set": "bfcl", "cluster": "tool_use"}
            if language != "python":  # the tools shown type every parameter string; the checker needs the real types
                meta |= {"language": language, "functions": question["function"]}
            items.append(Item(question["id"], question["question"][0], reference, tools, meta))
    return items, _score


def _category_files(path: Path, category: str, needs_answers: bool = True) -> tuple[Path, Path | None]:
    question_file = path / f"BFCL_v4_{category}.json"
    answer_file = path / "possible_answer" / f"BFCL_v4_{category}.json" if needs_answers else None
    for file in (question_file, answer_file):
        if file is not None and not file.is_file():
            raise SuiteError(f"suite bfcl: category {category}: {file}: no such file")
    return question_file, answer_file


def _installed_data() -> Path:
    import bfcl_eval  # present: bfcl_backend() found its environments

    return Path(bfcl_eval.__file__).parent / "data"


def _multi_turn_items(category: str, path: Path, per_category: int | None) -> list[Item]:
    """BFCL's multi-turn entries as its function-calling inference loop plays them: the classes' function docs
    as tools (in `involved_classes` order), a missed function's doc withheld until its turn, which asks again
    with BFCL's prompt; each conversation played in fresh instances of BFCL's environment classes."""
    try:
        bfcl_multi_turn.bfcl_backend()
    except bfcl_multi_turn.BfclMissing as error:
        raise SuiteError(f"suite bfcl: {error}") from None
    from bfcl_eval.constants.default_prompts import DEFAULT_USER_PROMPT_FOR_ADDITIONAL_FUNCTION_FC as ASK_AGAIN
    from bfcl_eval.constants.executable_backend_config import MULTI_TURN_FUNC_DOC_FILE_MAPPING as DOCS

    data = path if (path / f"BFCL_v4_{category}.json").is_file() else _installed_data()
    question_file, answer_file = _category_files(data, category)
    answers = {a["id"]: a["ground_truth"] for _, a in json_lines(answer_file)}
    docs: dict[str, list[dict]] = {}
    items = []
    for line, entry in json_lines(question_file)[:per_category]:
        if not isinstance(entry, dict) or entry.get("id") not in answers:
            raise SuiteError(f"suite bfcl: {question_file}: line {line + 1}: no answer in {answer_file}")
        try:
            classes = entry["involved_classes"]
            for class_name in classes:
                if class_name not in docs:
                    docs[class_name] = [row for _, row in json_lines(data / "multi_turn_func_doc" / DOCS[class_name])]
            functions = [f for class_name in classes for f in docs[class_name]]
            withheld = {int(turn): names for turn, names in entry.get("missed_function", {}).items()}
            turns, reference = entry["question"], answers[entry["id"]]
            meta = {
                "category": category,
                "tool_set": "bfcl",
                "cluster": "tool_use",
                "multi_turn": True,
                "entry_id": entry["id"],
                "involved_classes": classes,
                "initial_config": entry["initial_config"],
                "added_functions": withheld,
            }
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise SuiteError(
                f"suite bfcl: {question_file}: line {line + 1}: not a multi-turn entry ({error!r})"
            ) from None
        missed = {name for names in withheld.values() for name in names}
        added = {
            turn: [bfcl_tool(f, hint=False) for n in names for f in functions if f["name"] == n]
            for turn, names in withheld.items()
        }
        tools = [bfcl_tool(f) for f in functions if f["name"] not in missed]
        asked = [
            (messages or [{"role": "user", "content": ASK_AGAIN}]) if turn in added else messages
            for turn, messages in enumerate(turns)
        ]
        live = functools.partial(bfcl_multi_turn.bfcl_world, meta, "harness_inference")
        items.append(Item(entry["id"], asked[0], reference, tools, meta, Episode(asked[1:], live, added)))
    return items


def _score(prediction: str, reference, meta: dict):
    if meta.get("category") in MULTI_TURN_CATEGORIES:
        return bfcl_multi_turn.score(prediction, reference, meta)
    return toolcall.score(prediction, reference, meta)


class BfclOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    categories: list[str] | None = Field(None, description="Categories to run (default: all of BFCL_CATEGORIES)")
    per_category: int | None = Field(None, ge=1, description="Questions per category (default: all)")


# BFCL v4's overall: its parts and their weights (eval_runner_helper: 10/10/10/30/40). Agentic (web search,
# memory) needs live web access and models of its own, and does not run here.
OVERALL_WEIGHTS = {"non_live": 10, "live": 10, "irrelevance": 10, "multi_turn": 30, "agentic": 40}
AGENTIC_CATEGORIES = ("web_search_base", "web_search_no_snippet", "memory_kv", "memory_vector", "memory_rec_sum")


def _bfcl_metrics(records: list[dict]) -> dict:
    """The tool metrics (of the single-call categories) and BFCL's leaderboard columns, aggregated as BFCL's
    `eval_runner_helper` does: simple = mean of the Python, Java and JavaScript simple categories; non-live =
    mean of simple, multiple, parallel, parallel_multiple; live = item-weighted over the four live AST
    categories; irrelevance = mean of irrelevance and live_irrelevance; multi-turn = mean of its four
    categories. A column whose categories did not all run is None, where BFCL shows N/A. The overall is BFCL's
    weighted one only when every part ran; otherwise it is None, and beside it stand the share of the weight
    that ran, the score over that share, BFCL's own figure with the missing parts counted as 0 (what bfcl-eval
    prints), and the categories missing."""
    metrics = tool_metrics(records)
    accuracy = metrics["by_category"]
    counts = Counter(record["meta"].get("category", "?") for record in records)
    strict = defaultdict(list)  # the stricter multi-turn verdict: no call to a function not offered by then
    for record in records:
        if record["meta"].get("category") in MULTI_TURN_CATEGORIES:
            verdict = first_verdict(record)
            strict[record["meta"]["category"]].append(verdict["correct"] and verdict["details"].get("strict", False))
    if strict:
        metrics["multi_turn_strict_by_category"] = {category: mean(values) for category, values in strict.items()}

    def unweighted(*columns):
        return None if any(c is None for c in columns) else round(sum(columns) / len(columns), 4)

    def weighted(*categories):
        if any(c not in accuracy for c in categories):
            return None
        return round(sum(accuracy[c] * counts[c] for c in categories) / sum(counts[c] for c in categories), 4)

    simple = unweighted(*(accuracy.get(c) for c in ("simple_python", "simple_java", "simple_javascript")))
    parts = {
        "non_live": unweighted(simple, *(accuracy.get(c) for c in ("multiple", "parallel", "parallel_multiple"))),
        "live": weighted("live_simple", "live_multiple", "live_parallel", "live_parallel_multiple"),
        "irrelevance": unweighted(accuracy.get("irrelevance"), accuracy.get("live_irrelevance")),
        "multi_turn": unweighted(*(accuracy.get(c) for c in MULTI_TURN_CATEGORIES)),
        "agentic": None,
    }
    ran = {part: score for part, score in parts.items() if score is not None}
    weight_ran = sum(OVERALL_WEIGHTS[part] for part in ran) / sum(OVERALL_WEIGHTS.values())
    bfcl_columns = (*BFCL_CATEGORIES, *MULTI_TURN_CATEGORIES)
    metrics["bfcl"] = {
        "overall": round(sum(OVERALL_WEIGHTS[p] * s for p, s in ran.items()) / 100, 4) if len(ran) == 5 else None,
        "weight_ran": round(weight_ran, 4),
        "score_over_ran": round(sum(OVERALL_WEIGHTS[p] * s for p, s in ran.items()) / (weight_ran * 100), 4)
        if ran
        else None,
        "overall_missing_as_zero": round(sum(OVERALL_WEIGHTS[p] * s for p, s in ran.items()) / 100, 4),
        "missing": [c for c in (*bfcl_columns, *AGENTIC_CATEGORIES) if c not in accuracy],
        **{part: score for part, score in parts.items() if part != "agentic"},
        "simple": simple,
        "relevance": accuracy.get("live_relevance"),
    }
    return metrics


# The report's table for BFCL suites: the BFCL leaderboard's columns (– where a column's categories did not run).
REPORT_PART = ReportPart(
    "BFCL leaderboard columns (%):",
    [
        ("Overall (BFCL v4)", "bfcl", "overall"),
        ("Weight ran", "bfcl", "weight_ran"),
        ("Score over what ran", "bfcl", "score_over_ran"),
        ("Non-live AST", "bfcl", "non_live"),
        ("Simple", "bfcl", "simple"),
        ("Multiple", "by_category", "multiple"),
        ("Parallel", "by_category", "parallel"),
        ("Parallel multiple", "by_category", "parallel_multiple"),
        ("Live AST", "bfcl", "live"),
        ("Live simple", "by_category", "live_simple"),
        ("Live multiple", "by_category", "live_multiple"),
        ("Live parallel", "by_category", "live_parallel"),
        ("Live parallel multiple", "by_category", "live_parallel_multiple"),
        ("Irrelevance", "bfcl", "irrelevance"),
        ("Relevance", "bfcl", "relevance"),
        ("Multi-turn", "bfcl", "multi_turn"),
        ("Multi-turn base", "by_category", "multi_turn_base"),
        ("Missing function", "by_category", "multi_turn_miss_func"),
        ("Missing parameter", "by_category", "multi_turn_miss_param"),
        ("Long context", "by_category", "multi_turn_long_context"),
    ],
    "Overall is BFCL v4's weighted score (non-live 10, live 10, irrelevance 10, multi-turn 30, agentic 40) and "
    "shows – unless every part ran; the agentic part (web search, memory) does not run here. Score over what ran "
    "weighs the parts that did, which carry the share of the weight in Weight ran.",
)
KIND = SuiteKind(
    "bfcl",
    _bfcl,
    _bfcl_metrics,
    options=BfclOptions,
    shipped_data=SHIPPED,
    pass_at_k=True,
    report_part=REPORT_PART,
)
