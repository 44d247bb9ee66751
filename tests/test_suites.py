"""The suite registry: a new kind of suite is one module and one registration, shown with a small example."""

import pytest
from pydantic import BaseModel, ConfigDict

from harness.evaluate.backends import Generation
from harness.evaluate.runner import evaluate
from harness.evaluate.scorers import text
from harness.evaluate.suites import (
    Item,
    ReportPart,
    SuiteError,
    SuiteKind,
    build_suite,
    check_options,
    kinds,
    mean,
    register,
)
from harness.files import read_json
from harness.recipe import EvalSettings, GenerationSettings, SuiteSettings, recipe_json_schema
from harness.report.leaderboard import collect
from harness.report.render import markdown


class EchoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    word: str = "hello"


def echo_items(settings, options, seed, path):
    """Ask the model to repeat a word and a number: items, and the scorer that judges them."""
    items = [
        Item(f"echo-{n}", [{"role": "user", "content": f"Repeat: {options.word} {n}"}], f"{options.word} {n}")
        for n in range(settings.samples or 5)
    ]
    return items, text.exact_match


def echo_metrics(records: list[dict]) -> dict:
    return {"answered": mean(bool(r["outputs"][0].strip()) for r in records)}


ECHO = SuiteKind("echo", echo_items, echo_metrics, headline="answered", options=EchoOptions)


@pytest.fixture
def echo():
    register(ECHO)
    yield ECHO
    kinds().pop(ECHO.name)


def test_a_registered_kind_runs_through_evaluation_summary_and_leaderboard(echo, trained, tmp_path):
    settings = EvalSettings(
        backend="transformers",
        generation=GenerationSettings(max_new_tokens=8),
        suites=[SuiteSettings(suite="echo", samples=4, options={"word": "hi"})],
    )
    evaluate(str(trained["chat"]), settings, tmp_path / "eval" / "tuned")
    summary = read_json(tmp_path / "eval" / "tuned" / "echo" / "summary.json")
    assert summary["kind"] == "echo" and summary["n_items"] == 4
    assert {"accuracy", "error_rate", "answered"} <= set(summary["metrics"])
    board = collect([tmp_path])
    assert [suite["metric"] for suite in board["suites"]] == ["answered"]  # the kind's headline column
    assert "echo" in recipe_json_schema(sorted(kinds()))["$defs"]["SuiteSettings"]["properties"]["suite"]["enum"]


def test_a_kinds_options_are_checked_and_names_are_registered_once(echo):
    assert [item.reference for item in build_suite(SuiteSettings(suite="echo", samples=2)).items] == [
        "hello 0",
        "hello 1",
    ]
    with pytest.raises(SuiteError, match="suite echo: options: word: Input should be a valid string"):
        build_suite(SuiteSettings(suite="echo", options={"word": 3}))
    with pytest.raises(SuiteError, match="options: colour: Extra inputs are not permitted"):
        build_suite(SuiteSettings(suite="echo", options={"colour": "red"}))
    with pytest.raises(SuiteError, match="already registered"):
        register(ECHO)


def by_parity(records: list[dict]) -> dict:
    """The kind's own breakdown: accuracy on the even and on the odd numbers."""
    correct = {r["id"]: r["verdicts"][0]["correct"] for r in records}
    return {
        "by_parity": {
            parity: mean(c for i, c in correct.items() if int(i.split("-")[1]) % 2 == rest)
            for parity, rest in (("even", 0), ("odd", 1))
        }
    }


PARITY = SuiteKind(
    "parity_echo",
    echo_items,
    by_parity,
    options=EchoOptions,
    report_part=ReportPart(
        "Echo by parity (%):",
        [("Even", "by_parity", "even"), ("Odd", "by_parity", "odd"), ("Prime", "by_parity", "prime")],
        "A kind's own note.",
    ),
)


class EvenParrot:
    """A backend that repeats the even numbers right and fails the odd ones, without a model."""

    name = "parrot"

    def generate(self, requests, settings):
        said = [r.messages[-1]["content"].removeprefix("Repeat: ") for r in requests]
        return [[Generation(s if int(s[-1]) % 2 == 0 else "no", "stop", 1)] * settings.n for s in said]


def test_a_kinds_report_part_is_its_own_table_in_the_report(tmp_path):
    register(PARITY)
    try:
        settings = EvalSettings(backend="transformers", suites=[SuiteSettings(suite="parity_echo", name="echoes")])
        evaluate("tiny", settings, tmp_path / "eval" / "tuned", backend=EvenParrot())
        report = markdown(collect([tmp_path]))
    finally:
        kinds().pop(PARITY.name)
    lines = report.splitlines()
    header = lines.index("| Model | Suite | Even | Odd | Prime |")  # the suite's name, its kind's columns
    assert lines[header - 2 : header] == ["Echo by parity (%):", ""] and lines[header + 1] == "|---|---|---|---|---|"
    assert lines[header + 2].endswith("| echoes | 100.0 | 0.0 | – |")  # – where the suite has no such value
    assert lines[header + 3 : header + 5] == ["", "A kind's own note."] and "BFCL" not in report


def test_the_shipped_kinds_check_their_options_too():
    with pytest.raises(SuiteError, match="options: difficulty: Input should be 'standard' or 'hard'"):
        build_suite(SuiteSettings(suite="reasoning", options={"difficulty": "extreme"}))
    with pytest.raises(SuiteError, match="options: per_category: Input should be greater than or equal to 1"):
        build_suite(SuiteSettings(suite="bfcl", options={"per_category": 0}))
    with pytest.raises(SuiteError, match="options: tasks: Field required"):
        check_options(SuiteSettings(suite="lm_eval"))  # what `harness validate` and the lm_eval run check
    with pytest.raises(SuiteError, match="options: scorer: Field required"):
        check_options(SuiteSettings(suite="file", path="x.jsonl"))
    assert set(kinds()) == {"reasoning", "tools", "chat", "instruct", "gsm8k", "bfcl", "file", "lm_eval"}
