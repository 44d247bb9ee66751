"""Suites over the built-in generators (`harness.data.builtin`): reasoning, tools, chat, instruct.

Their items are the generator's rows of the suite's split (test by default: disjoint from training), so
`samples` and `seed` pick the same items on every machine. The metrics functions here also serve the
real sets of the same shape (gsm8k: reasoning; bfcl: tools).
"""

from __future__ import annotations

import functools
import json
import statistics
from collections import Counter, defaultdict
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.data import builtin
from harness.data.builtin import environments
from harness.evaluate.episodes import Episode
from harness.evaluate.scorers import Verdict, reasoning, text, toolcall, trajectory
from harness.evaluate.suites import Item, NoOptions, SuiteKind, first_verdict, mean


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReasoningOptions(_Options):
    difficulty: Literal["standard", "hard"] = "standard"


class ToolsOptions(_Options):
    unseen_share: float = Field(0.3, ge=0, le=1, description="Share of items whose tools training never saw")


class InstructOptions(_Options):
    families: list[str] | None = None
    languages: list[str] | None = None


def _generated(settings, options: BaseModel, seed: int, mode: str) -> list[dict]:
    return builtin.generate(
        mode, settings.split, settings.samples or 200, seed, **options.model_dump(exclude_unset=True)
    )


def _reasoning(settings, options, seed, path):
    rows = _generated(settings, options, seed, "reasoning")
    return [Item(r["id"], r["messages"][:1], r["meta"]["answer"], None, r["meta"]) for r in rows], reasoning.score


def _tools(settings, options, seed, path):
    items = []
    for row in _generated(settings, options, seed, "tools"):
        if row["meta"]["category"] == "multi_step":
            items.append(_played_in_a_world(row))
            continue
        *prompt, answer = row["messages"]
        calls = [
            {"name": c["function"]["name"], "arguments": json.loads(c["function"]["arguments"])}
            for c in answer["tool_calls"] or []
        ]
        reference = answer["content"] if row["meta"]["category"] == "response" else toolcall.gold_from_calls(calls)
        items.append(Item(row["id"], prompt, reference, json.loads(row["tools"]), row["meta"]))
    return items, _tool_or_text


def _played_in_a_world(row: dict) -> Item:
    """A multi-step row as a conversation the model plays in a fresh copy of its world: its user turns, the
    gold calls of each turn as the reference."""
    users = [[m] for m in row["messages"] if m["role"] == "user"]
    meta = {**row["meta"], "multi_turn": True}
    reference = json.loads(meta.pop("turn_calls"))
    episode = Episode(users[1:], functools.partial(environments.world, meta["world"], meta["world_seed"]))
    return Item(row["id"], users[0], reference, json.loads(row["tools"]), meta, episode)


def _tool_or_text(prediction: str, reference, meta: dict) -> Verdict:
    """Calls are judged by the AST rules, the answer after a tool result as text, a conversation played in a
    world by the state it left."""
    if meta.get("multi_turn"):
        return trajectory.score(prediction, reference, meta)
    if isinstance(reference, str):
        return text.exact_match(prediction, reference, meta)
    return toolcall.score(prediction, reference, meta)


def _chat(settings, options, seed, path):
    rows = _generated(settings, options, seed, "chat")
    return [
        Item(r["id"], r["messages"][:-1], r["messages"][-1]["content"], None, r["meta"]) for r in rows
    ], _text_scorer


def _text_scorer(prediction: str, reference: str, meta: dict) -> Verdict:
    rouge = text.rouge_l(prediction, reference)
    exact = text.exact_match(prediction, reference)
    scored = rouge if meta.get("metric") == "rougeL" else exact
    scored.details = {"exact_match": float(exact.correct), "rougeL": rouge.score}
    return scored


def _instruct(settings, options, seed, path):
    rows = _generated(settings, options, seed, "instruct")
    return [Item(r["id"], r["prompt"], r["completion"][0]["content"], None, r["meta"]) for r in rows], _text_scorer


def reasoning_metrics(records: list[dict]) -> dict:
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
        groups[record["meta"].get("difficulty", "all")].append(first_verdict(record)["correct"])
    metrics["by_difficulty"] = {k: mean(v) for k, v in sorted(groups.items())}
    return metrics


def tool_metrics(records: list[dict]) -> dict:
    """Call metrics and accuracy per tool set over the single-answer items; accuracy by category over all."""
    calls = [r for r in records if not isinstance(r["reference"], str) and not r["meta"].get("multi_turn")]
    due = [r for r in calls if r["reference"]]
    irrelevant = [r for r in calls if r["reference"] == []]
    errors = Counter(
        first_verdict(r)["details"].get("error_type") or "none" for r in calls if not first_verdict(r)["correct"]
    )
    by_category, by_tool_set = defaultdict(list), defaultdict(list)
    for record in records:
        by_category[record["meta"].get("category", "?")].append(first_verdict(record)["correct"])
        if not record["meta"].get("multi_turn"):  # tool sets compare single answers; conversations have a category
            by_tool_set[record["meta"].get("tool_set", "?")].append(first_verdict(record)["correct"])
    return {
        "call_accuracy": mean(first_verdict(r)["correct"] for r in calls),
        "function_name_accuracy": mean(first_verdict(r)["details"].get("name_correct", False) for r in due),
        "argument_accuracy": mean(
            first_verdict(r)["correct"] for r in due if first_verdict(r)["details"].get("name_correct")
        ),
        "parse_failure_rate": mean(first_verdict(r)["details"].get("error_type") == "parse_error" for r in calls),
        "hallucinated_function_rate": mean(first_verdict(r)["details"].get("hallucinated", False) for r in calls),
        "irrelevance_accuracy": mean(first_verdict(r)["correct"] for r in irrelevant),
        "by_category": {k: mean(v) for k, v in sorted(by_category.items())},
        "by_tool_set": {k: mean(v) for k, v in sorted(by_tool_set.items())},
        "error_types": dict(errors.most_common()),
    }


def text_metrics(records: list[dict]) -> dict:
    by_kind = defaultdict(list)
    for record in records:
        by_kind[record["meta"].get("kind") or record["meta"].get("task", "all")].append(
            first_verdict(record)["correct"]
        )
    return {
        "exact_match": mean(first_verdict(r)["details"].get("exact_match", 0.0) for r in records),
        "rougeL": mean(first_verdict(r)["details"].get("rougeL", 0.0) for r in records),
        "by_kind": {k: mean(v) for k, v in sorted(by_kind.items())},
    }


def instruct_metrics(records: list[dict]) -> dict:
    """Per task, macro-averaged per cluster and language (whether a cluster was trained on or held out is the
    run's, not the suite's: `data/generalization.json` and the report's zero-shot section)."""
    per_task = defaultdict(list)
    for record in records:
        meta = record["meta"]
        per_task[(meta["task"], meta["language"], meta["cluster"])].append(first_verdict(record)["score"])
    task_scores = {key: mean(values) for key, values in per_task.items()}

    def macro(select) -> dict:
        groups = defaultdict(list)
        for key, value in task_scores.items():
            groups[select(key)].append(value)
        return {str(k): mean(v) for k, v in sorted(groups.items(), key=lambda kv: str(kv[0]))}

    return {
        **text_metrics(records),
        "by_cluster": macro(lambda key: key[2]),
        "by_language": macro(lambda key: key[1]),
        "by_task": {f"{task}/{language}": value for (task, language, _), value in sorted(task_scores.items())},
    }


KINDS = (
    SuiteKind("reasoning", _reasoning, reasoning_metrics, options=ReasoningOptions, pass_at_k=True),
    SuiteKind("tools", _tools, tool_metrics, options=ToolsOptions, pass_at_k=True),
    SuiteKind("chat", _chat, text_metrics, options=NoOptions),
    SuiteKind("instruct", _instruct, instruct_metrics, headline="score", options=InstructOptions),
)
