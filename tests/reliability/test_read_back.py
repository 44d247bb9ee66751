"""Files the harness reads back (predictions, BFCL result files, samples, summaries) with hostile or damaged
content: each bad line counted and named by file and line, the rest used; a file that cannot be read at all is
one clear error naming it; never a traceback; bounded time and memory."""

from __future__ import annotations

import json
import time
import tracemalloc

import pytest
from click.testing import CliRunner

from harness.cli import main
from harness.evaluate.runner import evaluate
from harness.evaluate.suites import build_suite
from harness.files import FileReadError, read_json, read_jsonl
from harness.recipe import EvalSettings, GenerationSettings, SuiteSettings
from harness.report.leaderboard import collect

DEEP = b"[" * 5_000 + b"]" * 5_000


@pytest.fixture(scope="module")
def items(tmp_path_factory):
    """The chat suite's first items, with the command imported once (its imports are not the reading's)."""
    items = build_suite(SuiteSettings(suite="chat", samples=6)).items
    path = tmp_path_factory.mktemp("warm") / "predictions.jsonl"
    path.write_bytes(good_line(items[0]))
    CliRunner().invoke(main, ["score", "--suite", "chat", "--predictions", str(path), "-o", str(path.parent / "s")])
    return items


def good_line(item) -> bytes:
    return json.dumps({"id": item.id, "prediction": item.reference}).encode()


HOSTILE = {  # one bad line each, after the good ones; what the summary must say about it
    "nested_5000_deep": (b'{"id": "x", "prediction": ' + DEEP + b"}", "nested too deeply"),
    "five_megabyte_line": (json.dumps({"id": "x", "prediction": "7" * 5_000_000}).encode(), "matched no item"),
    "not_utf8": (b'{"id": "x", "prediction": "caf\xe9"}', "not UTF-8"),
    "cut_short": (b'{"id": "x", "predic', "not JSON"),
    "not_an_object": (b"[1, 2, 3]", "not an object"),
    "id_missing": (b'{"prediction": "a"}', "no id"),
    "id_a_list": (b'{"id": ["a"], "prediction": "a"}', "no id"),
    "id_a_bool": (b'{"id": true, "prediction": "a"}', "no id"),
    "prediction_missing": (b'{"id": "a"}', "no prediction"),
    "prediction_an_object": (b'{"id": "a", "prediction": {"text": 1}}', "not text"),
    "prediction_null": (b'{"id": "a", "prediction": null}', "not text"),
    "prediction_empty_list": (b'{"id": "a", "prediction": []}', "not text"),
    "huge_integer": (b'{"id": "a", "prediction": ' + b"9" * 5_000 + b"}", "unreadable JSON"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_predictions_line_is_counted_and_named_and_the_rest_scored(tmp_path, items, case):
    line, said = HOSTILE[case]
    good = [good_line(item) for item in items]
    path = tmp_path / "predictions.jsonl"
    path.write_bytes(b"\n".join([*good[:3], line, *good[3:]]) + b"\n")
    tracemalloc.start()
    started = time.perf_counter()
    result = CliRunner().invoke(
        main, ["score", "--suite", "chat", "--predictions", str(path), "-o", str(tmp_path / "s")]
    )
    seconds, (_, peak) = time.perf_counter() - started, tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert result.exit_code == 0 and result.exception is None, result.output
    assert seconds < 5 and peak < 500 * 2**20, (seconds, peak)
    summary = json.loads((tmp_path / "s" / "chat" / "summary.json").read_text())
    assert summary["n_items"] == 6  # every good line scored
    if said == "matched no item":
        assert summary["n_unknown"] == 1
        return
    assert summary["n_unreadable_lines"] == 1
    [named] = summary["unreadable_lines"]["lines"]
    assert (
        named.startswith("line 4: ")
        and said in named
        and str(path) in result.output + summary["unreadable_lines"]["file"]
    )


def test_duplicate_ids_are_counted_and_the_first_line_is_used(tmp_path, items):
    path = tmp_path / "predictions.jsonl"
    again = json.dumps({"id": items[0].id, "prediction": "something else"}).encode()
    path.write_bytes(b"\n".join([good_line(i) for i in items] + [again]))
    result = CliRunner().invoke(
        main, ["score", "--suite", "chat", "--predictions", str(path), "-o", str(tmp_path / "s")]
    )
    summary = json.loads((tmp_path / "s" / "chat" / "summary.json").read_text())
    assert result.exit_code == 0 and summary["metrics"]["accuracy"] == 1.0
    assert (
        "line 7: id" in summary["unreadable_lines"]["lines"][0] and "again" in summary["unreadable_lines"]["lines"][0]
    )


@pytest.mark.parametrize("content", [b"", b"\n\n", b"not json at all\n"])
def test_a_file_with_nothing_usable_is_one_clear_error(tmp_path, content):
    path = tmp_path / "predictions.jsonl"
    path.write_bytes(content)
    result = CliRunner().invoke(
        main, ["score", "--suite", "chat", "--predictions", str(path), "-o", str(tmp_path / "s")]
    )
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert "predictions.jsonl: no usable prediction" in result.output


def test_the_reader_names_what_it_cannot_read(tmp_path):
    with pytest.raises(FileReadError, match="missing.json: no such file"):
        read_json(tmp_path / "missing.json")
    (tmp_path / "summary.json").write_bytes(b'{"suite": "chat", "metr')
    with pytest.raises(FileReadError, match=r"summary.json: not JSON"):
        read_json(tmp_path / "summary.json")
    (tmp_path / "a.jsonl").write_bytes(b'{"a": 1}\n\xff\xfe\n' + DEEP + b'\n{"b": 2')
    read = read_jsonl(tmp_path / "a.jsonl")
    assert read.rows == [(1, {"a": 1})]
    assert [(n, reason.split(" (")[0]) for n, reason in read.bad] == [
        (2, "not UTF-8"),
        (3, "JSON nested too deeply"),
        (4, "not JSON"),
    ]


def test_report_on_damaged_samples_reports_what_it_can_and_eval_repairs_it(tmp_path):
    suites = [SuiteSettings(suite="chat", samples=8)]
    settings = EvalSettings(backend="transformers", generation=GenerationSettings(max_new_tokens=8), suites=suites)
    evaluate("tiny", settings, tmp_path / "eval")
    samples = tmp_path / "eval" / "chat" / "samples.jsonl"
    lines = samples.read_bytes().splitlines()
    samples.write_bytes(b"\n".join([*lines[:2], b"\xff garbage", *lines[3:-1], lines[-1][:30]]))  # corrupt + cut
    board = collect([tmp_path / "eval"])
    [row] = board["rows"]
    incomplete = row["results"]["chat"]["incomplete"]
    assert incomplete["count"] == 2 and incomplete["lines"][0].startswith("line 3: not UTF-8")
    assert row["results"]["chat"]["n"] == 8  # the summary's figures stand
    assert any("incomplete: 2 unreadable line(s)" in w and "harness eval" in w for w in board["warnings"])
    result = CliRunner().invoke(main, ["report", str(tmp_path / "eval"), "-o", str(tmp_path / "report")])
    assert result.exit_code == 0, result.output
    assert "incomplete" in (tmp_path / "report" / "report.md").read_text()
    summary = (tmp_path / "eval" / "chat" / "summary.json").read_text()
    evaluate("tiny", settings, tmp_path / "eval")  # resumes: keeps the 6 readable records, redoes 2
    assert read_json(tmp_path / "eval" / "chat" / "timing.json")["generated"] == 2
    assert (tmp_path / "eval" / "chat" / "summary.json").read_text() == summary
    assert "incomplete" not in collect([tmp_path / "eval"])["rows"][0]["results"]["chat"]
