"""A suite = items (prompt conversation, tools, reference, metadata) + a scorer + a summary.

Registered suites: `reasoning`, `tools`, `chat`, `instruct` (built-in generators, their test split by
default) and `gsm8k`, `bfcl` (the real public files, read as they are: the copies shipped in
`evaluate/data/`, or `path`). Suites of kind
`lm_eval` run through lm-evaluation-harness instead (`lm_eval_suite.py`).
"""

from __future__ import annotations

import copy
import json
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.data import builtin
from harness.evaluate.scorers import Verdict, reasoning, source_values, text, toolcall
from harness.recipe import SuiteSettings


@dataclass
class Item:
    id: str
    messages: list[dict]
    reference: Any
    tools: list[dict] | None = None
    meta: dict = field(default_factory=dict)


@dataclass
class Suite:
    name: str
    kind: str
    items: list[Item]
    scorer: Callable[[str, Any, dict], Verdict]

    def score(self, prediction: str, item: Item) -> Verdict:
        try:
            return self.scorer(prediction, item.reference, {**item.meta, "tools": item.tools})
        except Exception as error:  # one broken sample is a failure with its reason, never a crash
            return Verdict(False, 0.0, f"scorer error: {type(error).__name__}: {error}")


class SuiteError(ValueError):
    pass


# --- building suites ----------------------------------------------------------------------------


# Real public sets shipped in the package (evaluate/data/README.md: licenses and provenance); `path:` overrides.
DATA = Path(__file__).with_name("data")
SHIPPED_DATA = {"gsm8k": DATA / "gsm8k" / "test.jsonl", "bfcl": DATA / "bfcl"}


def build_suite(settings: SuiteSettings, seed: int = 0, base_dir: Path | None = None) -> Suite:
    builders = {
        "reasoning": _reasoning,
        "tools": _tools,
        "chat": _chat,
        "instruct": _instruct,
        "gsm8k": _gsm8k,
        "bfcl": _bfcl,
    }
    if settings.suite not in builders:
        raise SuiteError(f"unknown suite {settings.suite!r}; expected one of {sorted(builders)}")
    path = SHIPPED_DATA.get(settings.suite)
    if settings.path:
        path = (base_dir / settings.path) if base_dir and not Path(settings.path).is_absolute() else Path(settings.path)
        if not path.exists():
            raise SuiteError(f"suite {settings.suite}: {path}: no such file or folder")
    items, scorer = builders[settings.suite](settings, seed, path)
    if settings.samples:
        items = items[: settings.samples]
    return Suite(settings.name or settings.suite, settings.suite, items, scorer)


def _generated(settings: SuiteSettings, seed: int, mode: str) -> list[dict]:
    return builtin.generate(mode, settings.split, settings.samples or 200, seed, **settings.options)


def _reasoning(settings, seed, path):
    rows = _generated(settings, seed, "reasoning")
    return [Item(r["id"], r["messages"][:1], r["meta"]["answer"], None, r["meta"]) for r in rows], reasoning.score


def _gsm8k(settings, seed, path):
    items = [
        Item(
            f"gsm8k-{line:05d}", [{"role": "user", "content": row["question"]}], row["answer"], None, {"task": "gsm8k"}
        )
        for line, row in _json_lines(path)
    ]
    return items, reasoning.score


def _tools(settings, seed, path):
    items = []
    for row in _generated(settings, seed, "tools"):
        *prompt, answer = row["messages"]
        calls = [
            {"name": c["function"]["name"], "arguments": json.loads(c["function"]["arguments"])}
            for c in answer["tool_calls"] or []
        ]
        reference = answer["content"] if row["meta"]["category"] == "response" else toolcall.gold_from_calls(calls)
        items.append(Item(row["id"], prompt, reference, json.loads(row["tools"]), row["meta"]))
    return items, _tool_or_text


def _tool_or_text(prediction: str, reference, meta: dict) -> Verdict:
    """Calls are judged by the AST rules; the answer after a tool result is judged as text."""
    if isinstance(reference, str):
        return text.exact_match(prediction, reference, meta)
    return toolcall.score(prediction, reference, meta)


def _chat(settings, seed, path):
    rows = _generated(settings, seed, "chat")
    return [
        Item(r["id"], r["messages"][:-1], r["messages"][-1]["content"], None, r["meta"]) for r in rows
    ], _text_scorer


def _text_scorer(prediction: str, reference: str, meta: dict) -> Verdict:
    rouge = text.rouge_l(prediction, reference)
    exact = text.exact_match(prediction, reference)
    scored = rouge if meta.get("metric") == "rougeL" else exact
    scored.details = {"exact_match": float(exact.correct), "rougeL": rouge.score}
    return scored


def _instruct(settings, seed, path):
    rows = _generated(settings, seed, "instruct")
    return [Item(r["id"], r["prompt"], r["completion"][0]["content"], None, r["meta"]) for r in rows], _text_scorer


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

    def convert(schema):
        if isinstance(schema, dict):
            out = {key: convert(value) for key, value in schema.items()}
            if isinstance(out.get("type"), str):
                out["type"] = toolcall.normalize_schema_type(out["type"])
            return out
        if isinstance(schema, list):
            return [convert(value) for value in schema]
        return schema

    return {"type": "function", "function": convert(function)}


def _bfcl(settings, seed, path):
    if not path.is_dir():
        raise SuiteError(f"suite bfcl: {path}: not a folder (it holds BFCL_v4_<category>.json and possible_answer/)")
    categories = settings.options.get("categories", BFCL_CATEGORIES)
    per_category = settings.options.get("per_category")
    items = []
    for category in categories:
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
            answers = {a["id"]: a["ground_truth"] for _, a in _json_lines(answer_file)}
        language = BFCL_LANGUAGES.get(category, "python")
        for _, question in _json_lines(question_file)[:per_category]:
            if needs_answers and question["id"] not in answers:
                raise SuiteError(f"suite bfcl: {answer_file}: no answer for {question['id']}")
            reference = answers[question["id"]] if needs_answers else BFCL_WITHOUT_ANSWERS[category]
            tools = [bfcl_tool(f, language) for f in question["function"]]
            meta = {"category": category, "tool_set": "bfcl"}
            if language != "python":  # the tools shown type every parameter string; the checker needs the real types
                meta |= {"language": language, "functions": question["function"]}
            items.append(Item(question["id"], question["question"][0], reference, tools, meta))
    return items, toolcall.score


def _json_lines(path: Path) -> list[tuple[int, dict]]:
    """(0-based line index, row) for each non-blank line; a line that is not JSON is an error naming it."""
    rows = []
    for index, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        if line.strip():
            try:
                rows.append((index, json.loads(line)))
            except json.JSONDecodeError as error:
                raise SuiteError(f"{path}: line {index + 1}: not JSON ({error.msg})") from None
    return rows


# --- summaries ----------------------------------------------------------------------------------


def mean(values) -> float | None:
    values = list(values)
    return round(sum(values) / len(values), 4) if values else None


def summarize(suite: Suite, records: list[dict]) -> dict:
    """Metrics from per-sample records (see runner.py). Accuracy is pass@1 averaged over the n samples."""
    scored = [r for r in records if r["verdicts"]]
    metrics: dict[str, Any] = {
        "accuracy": mean(mean(v["correct"] for v in r["verdicts"]) for r in scored),
        "score": mean(mean(v["score"] for v in r["verdicts"]) for r in scored),
        "truncation_rate": mean(g == "length" for r in scored for g in r["finish_reasons"]),
        "error_rate": mean(g == "error" for r in scored for g in r["finish_reasons"]),
    }
    extra = {
        "reasoning": _reasoning_metrics,
        "gsm8k": _reasoning_metrics,
        "tools": _tool_metrics,
        "bfcl": _bfcl_metrics,
        "chat": _text_metrics,
        "instruct": _instruct_metrics,
    }[suite.kind]
    metrics.update(extra(scored))
    samples = min((len(r["verdicts"]) for r in scored), default=1)
    if samples > 1 and suite.kind in ("reasoning", "gsm8k", "tools", "bfcl"):
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


def _first(record: dict) -> dict:
    return record["verdicts"][0]


def _reasoning_metrics(records: list[dict]) -> dict:
    details = [v["details"] for r in records for v in r["verdicts"]]
    trace = [d["trace_chars"] for d in details if d.get("has_trace")]
    metrics = {
        "strict_accuracy": mean(d.get("strict", False) for d in details),
        "flexible_accuracy": mean(d.get("flexible", False) for d in details),
        "math_verify_accuracy": mean(v["correct"] for r in records for v in r["verdicts"]),
        "no_parse_rate": mean(d.get("no_parse", True) for d in details),
        "trace_rate": mean(d.get("has_trace", False) for d in details),
        "trace_chars_mean": round(statistics.mean(trace), 1) if trace else None,
        "trace_chars_median": statistics.median(trace) if trace else None,
    }
    if records and len(records[0]["verdicts"]) > 1:
        votes = []
        for record in records:
            answers = Counter(v["parsed"] for v in record["verdicts"] if v["parsed"] is not None)
            winner = answers.most_common(1)[0][0] if answers else None
            votes.append(any(v["parsed"] == winner and v["correct"] for v in record["verdicts"]) if winner else False)
        metrics["majority_vote_accuracy"] = mean(votes)
    groups = defaultdict(list)
    for record in records:
        groups[record["meta"].get("difficulty", "all")].append(_first(record)["correct"])
    metrics["by_difficulty"] = {k: mean(v) for k, v in sorted(groups.items())}
    return metrics


def _tool_metrics(records: list[dict]) -> dict:
    calls = [r for r in records if not isinstance(r["reference"], str)]
    due = [r for r in calls if r["reference"]]
    irrelevant = [r for r in calls if r["reference"] == []]
    errors = Counter(_first(r)["details"].get("error_type") or "none" for r in calls if not _first(r)["correct"])
    by_category, by_tool_set = defaultdict(list), defaultdict(list)
    for record in records:
        by_category[record["meta"].get("category", "?")].append(_first(record)["correct"])
        by_tool_set[record["meta"].get("tool_set", "?")].append(_first(record)["correct"])
    return {
        "call_accuracy": mean(_first(r)["correct"] for r in calls),
        "function_name_accuracy": mean(_first(r)["details"].get("name_correct", False) for r in due),
        "argument_accuracy": mean(_first(r)["correct"] for r in due if _first(r)["details"].get("name_correct")),
        "parse_failure_rate": mean(_first(r)["details"].get("error_type") == "parse_error" for r in calls),
        "hallucinated_function_rate": mean(_first(r)["details"].get("hallucinated", False) for r in calls),
        "irrelevance_accuracy": mean(_first(r)["correct"] for r in irrelevant),
        "by_category": {k: mean(v) for k, v in sorted(by_category.items())},
        "by_tool_set": {k: mean(v) for k, v in sorted(by_tool_set.items())},
        "error_types": dict(errors.most_common()),
    }


def _bfcl_metrics(records: list[dict]) -> dict:
    """The tool metrics and BFCL's leaderboard columns, aggregated as BFCL's `eval_runner_helper` does:
    simple = mean of the Python, Java and JavaScript simple categories; non-live = mean of simple, multiple,
    parallel, parallel_multiple; live = item-weighted over the four live AST categories; irrelevance = mean of
    irrelevance and live_irrelevance; single-turn overall = mean of non-live, live and irrelevance (BFCL's
    10/10/10 weights, without its multi-turn and agentic parts). A column whose categories did not all run is
    None, where BFCL shows N/A."""
    metrics = _tool_metrics(records)
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


def _text_metrics(records: list[dict]) -> dict:
    by_kind = defaultdict(list)
    for record in records:
        by_kind[record["meta"].get("kind") or record["meta"].get("task", "all")].append(_first(record)["correct"])
    return {
        "exact_match": mean(_first(r)["details"].get("exact_match", 0.0) for r in records),
        "rougeL": mean(_first(r)["details"].get("rougeL", 0.0) for r in records),
        "by_kind": {k: mean(v) for k, v in sorted(by_kind.items())},
    }


def _instruct_metrics(records: list[dict]) -> dict:
    """Per task, macro-averaged per cluster and language, and seen vs held-out with the gap."""
    per_task = defaultdict(list)
    for record in records:
        meta = record["meta"]
        per_task[(meta["task"], meta["language"], meta["cluster"], meta["seen"])].append(_first(record)["score"])
    task_scores = {key: mean(values) for key, values in per_task.items()}

    def macro(select) -> dict:
        groups = defaultdict(list)
        for key, value in task_scores.items():
            groups[select(key)].append(value)
        return {str(k): mean(v) for k, v in sorted(groups.items(), key=lambda kv: str(kv[0]))}

    seen_split = macro(lambda key: "seen" if key[3] else "held_out")
    gap = None
    if seen_split.get("seen") is not None and seen_split.get("held_out") is not None:
        gap = round(seen_split["seen"] - seen_split["held_out"], 4)
    return {
        **_text_metrics(records),
        "seen": seen_split.get("seen"),
        "held_out": seen_split.get("held_out"),
        "seen_minus_held_out": gap,
        "by_cluster": macro(lambda key: key[2]),
        "by_language": macro(lambda key: key[1]),
        "by_task": {f"{task}/{language}": value for (task, language, _, _), value in sorted(task_scores.items())},
    }
