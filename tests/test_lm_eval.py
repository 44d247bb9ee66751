"""lm-evaluation-harness: the shipped local task runs for real, and its gsm8k filters agree with ours."""

import json
import re

import pytest
from conftest import GSM8K, REPO

from harness.evaluate.scorers import reasoning

lm_eval = pytest.importorskip("lm_eval")


def lm_eval_gsm8k(prediction: str, gold: str) -> dict:
    """lm-eval's gsm8k: its strict and flexible regex filters, then its exact_match with the task's options."""
    import yaml
    from lm_eval.api.metrics import exact_match_hf_evaluate
    from lm_eval.filters.extraction import RegexFilter

    task = yaml.safe_load((REPO / "evals" / "gsm8k_local.yaml").read_text())
    options = task["metric_list"][0]
    verdicts = {}
    for spec in task["filter_list"]:
        regex = spec["filter"][0]
        extracted = RegexFilter(regex_pattern=regex["regex_pattern"], group_select=regex.get("group_select", 0)).apply(
            [[prediction]], [{}]
        )[0][0]
        score = exact_match_hf_evaluate(
            [gold],
            [extracted],
            ignore_case=options["ignore_case"],
            ignore_punctuation=options["ignore_punctuation"],
            regexes_to_ignore=options["regexes_to_ignore"],
        )["exact_match"]
        verdicts[spec["name"]] = bool(score)
    return verdicts


def predictions():
    """Gold solutions, solutions with the final number changed, and answers in other forms."""
    rows = [json.loads(line) for line in GSM8K.read_text().splitlines()[:300]]
    for row in rows:
        gold = reasoning.gold_answer(row["answer"])
        yield row["answer"], row["answer"], "gold"
        yield re.sub(r"#### .*$", f"#### {int(gold.replace(',', '')) + 7}", row["answer"]), row["answer"], "changed"
        yield f"So the total is {gold}.", row["answer"], "prose"
        yield f"#### {gold}.0", row["answer"], "decimal"


def test_harness_and_lm_eval_gsm8k_agree_where_the_formats_coincide():
    differences = {}
    for prediction, gold, kind in predictions():
        ours = reasoning.score(prediction, gold)
        theirs = lm_eval_gsm8k(prediction, gold)
        if kind in ("gold", "changed"):
            # `#### N` is both projects' strict format: every verdict must agree.
            assert ours.correct == theirs["strict-match"] == theirs["flexible-extract"], (kind, prediction[-60:])
        elif ours.correct != theirs["flexible-extract"]:
            differences.setdefault(kind, 0)
            differences[kind] += 1
    # By design: math-verify compares values, so `18.0` equals `18`; lm-eval compares strings and does not.
    assert set(differences) <= {"decimal"}, differences


def test_the_local_gsm8k_task_runs_through_lm_eval_as_a_suite(trained, tmp_path):
    from harness.evaluate.runner import evaluate
    from harness.recipe import EvalSettings, SuiteSettings

    settings = EvalSettings(
        backend="transformers",
        suites=[
            SuiteSettings(
                suite="lm_eval",
                name="gsm8k-lm-eval",
                path=str(GSM8K),
                samples=8,
                options={
                    "tasks": ["gsm8k_local"],
                    "include_path": str(REPO / "evals"),
                    "apply_chat_template": True,
                    "metric": "exact_match,flexible-extract",
                    "gen_kwargs": "max_gen_toks=32",
                },
            )
        ],
    )
    summary = evaluate(str(trained["reasoning"]), settings, tmp_path)["gsm8k-lm-eval"]
    assert summary["headline_metric"] == "gsm8k_local/exact_match,flexible-extract"
    assert summary["metrics"]["accuracy"] is not None and "gsm8k_local" in summary["task_versions"]
    assert summary["n_items"] == 8
    records = [json.loads(line) for line in (tmp_path / "gsm8k-lm-eval" / "samples.jsonl").read_text().splitlines()]
    assert {r["filter"] for r in records} == {"strict-match", "flexible-extract"}
