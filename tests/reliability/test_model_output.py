"""Hostile model output: scored as a failure with a reason, never executed, never hanging, never stopping the run."""

import json
import time

import pytest
from conftest import BFCL, GSM8K
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.evaluate.predictions import score_predictions
from harness.evaluate.suites import build_suite
from harness.recipe import SuiteSettings

CODE = "__import__('pathlib').Path('PWNED').write_text('x')"
NASTY = {
    "empty": "",
    "whitespace": " \n\t ",
    "enormous": "The answer is " + "9" * 3_000_000,
    "enormous words": "word " * 1_000_000,
    "invalid utf-8": "\udcff\udcfe<think>\udc80",
    "nul bytes": "\x00" * 1000,
    "unclosed tool call": '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"',
    "nested thousands deep": "<tool_call>" + "[" * 50_000 + "]" * 50_000 + "</tool_call>",
    "nested object": '{"name": "f", "arguments": ' + '{"a": ' * 20_000 + "1" + "}" * 20_001,
    "code as arguments": '<tool_call>{"name": "get_weather", "arguments": {"city": "'
    + CODE.replace("'", "\\u0027")
    + '"}}</tool_call>',
    "code as text": f"import os\n{CODE}\nos.system('touch PWNED')",
    "code as answer": f"<think>eval it</think>The answer is {CODE}",
    "latex bomb": "The answer is \\boxed{" + "\\frac{1}{" * 3000 + "2" + "}" * 6001,
    "many think tags": "<think>" * 100_000,
    "many tool calls": "<tool_call>{}</tool_call>" * 20_000,
}
SECONDS_PER_SCORE = 10  # math-verify's own time bound is 5 s; everything else is linear-time


def suites():
    built = [build_suite(SuiteSettings(suite=name, samples=2)) for name in ("reasoning", "tools", "chat", "instruct")]
    built.append(build_suite(SuiteSettings(suite="gsm8k", samples=2, path=str(GSM8K))))
    built.append(build_suite(SuiteSettings(suite="bfcl", samples=4, path=str(BFCL))))
    return built


SUITES = suites()


@pytest.mark.parametrize("name", list(NASTY))
def test_hostile_output_scores_as_a_failure_with_a_reason_in_bounded_time(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for suite in SUITES:
        for item in suite.items:
            started = time.perf_counter()
            verdict = suite.score(NASTY[name], item)
            assert time.perf_counter() - started < SECONDS_PER_SCORE, (suite.name, name)
            if suite.kind == "tools" and item.reference == [] and "tool_call" not in NASTY[name]:
                continue  # no call was due and none was made: correct (irrelevance)
            assert not verdict.correct and verdict.reason, (suite.name, name, verdict)
            assert not verdict.reason.startswith("scorer error"), (suite.name, name, verdict.reason)
    assert not (tmp_path / "PWNED").exists()


def test_a_predictions_file_of_hostile_outputs_is_scored_to_the_end(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    suite = build_suite(SuiteSettings(suite="tools", samples=len(NASTY)))
    lines = [
        json.dumps({"id": item.id, "prediction": text}) for item, text in zip(suite.items, NASTY.values(), strict=True)
    ]
    lines.insert(3, "{torn line")
    (tmp_path / "predictions.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    started = time.perf_counter()
    summary = score_predictions("tools", tmp_path / "predictions.jsonl", tmp_path / "scored")
    assert time.perf_counter() - started < 60
    assert summary["n_items"] == len(NASTY) and summary["n_unreadable_lines"] == 1
    records = [
        json.loads(line)
        for line in (tmp_path / "scored" / "tools" / "samples.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    assert len(records) == len(NASTY)
    assert all(r["verdicts"][0]["reason"] for r in records if not r["verdicts"][0]["correct"])
    assert "\ufffd" in records[list(NASTY).index("invalid utf-8")]["outputs"][0]  # replaced, written, readable
    assert not (tmp_path / "PWNED").exists()


@settings()
@given(
    text=st.text(alphabet=st.characters(codec=None), max_size=300)
    | st.builds(lambda a, b: f"<tool_call>{a}</tool_call>{b}", st.text(max_size=80), st.text(max_size=20))
    | st.builds(lambda a: f"<think>{a}</think>The answer is {a}", st.text(max_size=40))
)
def test_no_text_makes_a_scorer_raise(text):
    for suite in SUITES:
        verdict = suite.score(text, suite.items[0])
        assert verdict.reason is None or not verdict.reason.startswith("scorer error"), (
            suite.name,
            text,
            verdict.reason,
        )
