"""Hostile files: bytes that are not UTF-8, nesting thousands deep, rows of tens of megabytes, truncated JSON,
binary recipes. Each is a counted malformed row or one clear error, never a traceback."""

import json
import re
import time
import tracemalloc

import pytest
from click.testing import CliRunner

from harness.cli import main
from harness.data.sources import DataError, build_mixture
from harness.recipe import RecipeError, load_recipe, parse_recipe

GOOD = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}
DEEP = "[" * 100_000 + "]" * 100_000


def recipe_for(tmp_path, path, **train):
    return parse_recipe(
        {"name": "t", "mode": "chat", "data": {"sources": [{"path": path}]}, "train": {"max_length": 256, **train}},
        source=tmp_path / "recipe.yaml",
    )


def reasons(tmp_path, name, content: bytes, tokenizer=None):
    (tmp_path / name).write_bytes(content)
    recipe = recipe_for(tmp_path, name)
    dataset, [report] = build_mixture(recipe, recipe.data.sources, tokenizer=tokenizer)
    return len(dataset), {reason: rows for reason, rows in report.bad_rows.items()}


def test_lines_that_are_not_utf8_deeply_nested_or_truncated_are_counted(tmp_path):
    good = json.dumps(GOOD).encode()
    deep_arguments = {
        "messages": [
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "f", "arguments": DEEP}}]},
        ]
    }
    lines = [good, b'{"messages": "caf\xe9"}', DEEP.encode(), json.dumps(deep_arguments).encode(), good, good[:20]]
    used, found = reasons(tmp_path, "hostile.jsonl", b"\n".join(lines) + b"\n")
    assert used == 2
    assert found["line 2 is not UTF-8 text (byte 17)"] == [1]
    assert found["line 3 is nested too deeply"] == [2]
    assert found["messages[i].tool_calls[i].arguments is not valid JSON (nested too deeply)"] == [3]
    assert found["line 6 is not valid JSON (Invalid control character at)"] == [5]


@pytest.mark.parametrize(
    "name,content,problem",
    [
        ("bad.json", b'[{"messages": "caf\xe9"}]', "bad.json: not UTF-8 text (byte 18)"),
        ("deep.json", DEEP.encode(), "deep.json: nested too deeply to be data"),
        ("cut.json", json.dumps([GOOD, GOOD]).encode()[:-30], "cut.json: not valid JSON"),
        ("bad.csv", b"prompt,completion\ncaf\xe9,x\n", "bad.csv: not UTF-8 text"),
        ("bad.parquet", b"PAR1 this is not parquet", "bad.parquet: not a readable parquet file"),
    ],
)
def test_whole_files_that_cannot_be_read_are_one_error_naming_them(tmp_path, name, content, problem):
    (tmp_path / name).write_bytes(content)
    recipe = recipe_for(tmp_path, name)
    with pytest.raises(DataError, match=re.escape(problem)):
        build_mixture(recipe, recipe.data.sources)


def test_a_20_mb_row_is_rejected_by_its_length_before_any_tokenizing(tmp_path, tokenizer):
    huge = {"messages": [{"role": "user", "content": "word " * 4_000_000}, {"role": "assistant", "content": "ok"}]}
    (tmp_path / "huge.jsonl").write_text(json.dumps(GOOD) + "\n" + json.dumps(huge) + "\n")
    recipe = recipe_for(tmp_path, "huge.jsonl")
    tracemalloc.start()
    started = time.perf_counter()
    dataset, [report] = build_mixture(recipe, recipe.data.sources, tokenizer=tokenizer)
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert len(dataset) == 1 and report.bad_rows[
        "longer than train.max_length (256 tokens): the trainer would cut it"
    ] == [1]
    assert seconds < 5 and peak < 1 << 30, (seconds, peak)


@pytest.mark.parametrize(
    "content,problem",
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", "not UTF-8 text (byte 0)"),
        (("name: t\nmode: chat\ndata: " + "[" * 20_000 + "]" * 20_000).encode(), "nested too deeply to be a recipe"),
        (b"name: ../../../x\nmode: chat\ndata: {sources: [{builtin: chat}]}\n", "name: String should match pattern"),
        (b"name: a/b\nmode: chat\ndata: {sources: [{builtin: chat}]}\n", "name: String should match pattern"),
    ],
)
def test_hostile_recipe_files_are_one_clear_error(tmp_path, content, problem):
    (tmp_path / "recipe.yaml").write_bytes(content)
    with pytest.raises(RecipeError, match=re.escape(problem)):
        load_recipe(tmp_path / "recipe.yaml")
    result = CliRunner().invoke(main, ["validate", str(tmp_path / "recipe.yaml")])
    assert result.exit_code == 1 and problem in result.output and "Traceback" not in result.output
