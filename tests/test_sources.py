"""Local files, column mapping, malformed rows and mixture sizing."""

import json

import pytest

from harness.data.formats import RowError, canonical_row, fold_reasoning
from harness.data.sources import DataError, build_mixture, check_source
from harness.recipe import parse_recipe

GOOD = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}


def recipe_for(tmp_path, sources, mode="chat", on_error="skip"):
    recipe = parse_recipe(
        {"name": "t", "mode": mode, "data": {"sources": sources, "on_error": on_error}}, source=tmp_path / "recipe.yaml"
    )
    return recipe


def write_jsonl(path, rows):
    path.write_text("\n".join(row if isinstance(row, str) else json.dumps(row) for row in rows) + "\n")
    return path


@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".parquet", ".csv"])
def test_every_local_file_format_loads(tmp_path, suffix):
    import datasets

    rows = [{"prompt": f"Say {i}", "completion": str(i)} for i in range(6)]
    path = tmp_path / f"data{suffix}"
    if suffix == ".jsonl":
        write_jsonl(path, rows)
    elif suffix == ".json":
        path.write_text(json.dumps(rows))
    else:
        getattr(datasets.Dataset.from_list(rows), "to_parquet" if suffix == ".parquet" else "to_csv")(str(path))
    dataset, reports = build_mixture(
        recipe_for(tmp_path, [{"path": path.name}], mode="instruct"),
        recipe_for(tmp_path, [{"path": path.name}]).data.sources,
    )
    assert len(dataset) == 6 and reports[0].rows_used == 6
    row = dataset[0]
    assert row["prompt"][0]["role"] == "user" and row["completion"][0]["role"] == "assistant"
    recipe = recipe_for(tmp_path, [{"path": path.name}], mode="instruct")
    first, report = check_source(recipe.data.sources[0], recipe, limit=2)  # what `harness validate` reads
    assert report.rows_read == 2 and [row["completion"][0]["content"] for row in first] == ["0", "1"]


def test_malformed_rows_are_counted_per_reason_with_row_numbers(tmp_path):
    rows = [
        GOOD,
        "{not json",
        {"messages": []},
        {"messages": [{"content": "no role"}, {"role": "assistant", "content": "x"}]},
        {"messages": [{"role": "user", "content": "only a question"}]},
        {
            "messages": [
                {"role": "user", "content": "q"},
                {
                    "role": "assistant",
                    "content": "",
                    "tool_calls": [{"function": {"name": "f", "arguments": "[1, 2]"}}],
                },
            ]
        },
        {"text": "plain text"},
        GOOD,
        {"messages": [{"role": "user", "content": 5}, {"role": "assistant", "content": "x"}]},
    ]
    write_jsonl(tmp_path / "mixed.jsonl", rows)
    recipe = recipe_for(tmp_path, [{"path": "mixed.jsonl"}])
    dataset, [report] = build_mixture(recipe, recipe.data.sources)
    assert len(dataset) == 2 and report.rows_read == 9 and report.bad_count == 7
    reasons = {reason: rows for reason, rows in report.bad_rows.items()}
    assert reasons["line 2 is not valid JSON (Expecting property name enclosed in double quotes)"] == [1]
    assert reasons["`messages` is empty or not a list"] == [2]
    assert reasons["messages[i] has role None; expected one of ('system', 'user', 'assistant', 'tool')"] == [3]
    assert reasons["`messages` has no assistant turn to learn from"] == [4]
    assert reasons["messages[i].tool_calls[i].arguments is a list, expected a JSON object"] == [5]
    assert any(reason.startswith("plain `text` rows") for reason in reasons)
    assert reasons["messages[i].content is a int, expected a string (or text parts)"] == [8]
    assert report.as_dict()["rows_bad"] == 7


def test_abort_mode_stops_at_the_first_bad_row_naming_it(tmp_path):
    write_jsonl(tmp_path / "bad.jsonl", [GOOD, GOOD, {"messages": "oops"}])
    recipe = recipe_for(tmp_path, [{"path": "bad.jsonl"}], on_error="abort")
    with pytest.raises(DataError, match=r"bad.jsonl: row 2: `messages` is empty or not a list"):
        build_mixture(recipe, recipe.data.sources)


def test_a_streaming_source_reads_only_its_first_rows(tmp_path):
    from harness.recipe import RecipeError

    rows = [
        {"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]}
        for i in range(8)
    ]
    write_jsonl(tmp_path / "big.jsonl", rows[:5] + ["{cut"] + rows[5:])  # the bad line is past the first 5
    recipe = recipe_for(tmp_path, [{"path": "big.jsonl", "samples": 5, "streaming": True}])
    dataset, [report] = build_mixture(recipe, recipe.data.sources)
    assert report.rows_read == 5 and report.bad_count == 0
    assert sorted(row["messages"][0]["content"] for row in dataset) == [f"q{i}" for i in range(5)]
    with pytest.raises(RecipeError, match="streaming reads the first `samples` rows"):
        recipe_for(tmp_path, [{"path": "big.jsonl", "streaming": True}])


def test_missing_file_and_missing_column_are_clear(tmp_path):
    recipe = recipe_for(tmp_path, [{"path": "absent.jsonl"}])
    with pytest.raises(DataError, match="absent.jsonl: no such data file"):
        build_mixture(recipe, recipe.data.sources)
    write_jsonl(tmp_path / "qa.jsonl", [{"question": "q", "answer": "a"}])
    recipe = recipe_for(tmp_path, [{"path": "qa.jsonl", "columns": {"prompt": "query", "completion": "answer"}}])
    with pytest.raises(DataError, match=r"columns: \['query'\] not found; the rows have \['answer', 'question'\]"):
        build_mixture(recipe, recipe.data.sources)


def test_column_mapping_and_tools_column(tmp_path):
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}]
    row = {
        "conversation": [
            {"role": "user", "content": "call f"},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": {"x": 1.5, "y": "s"}}}],
            },
        ],
        "functions": tools,
    }
    write_jsonl(tmp_path / "calls.jsonl", [row])
    recipe = recipe_for(
        tmp_path, [{"path": "calls.jsonl", "columns": {"messages": "conversation", "tools": "functions"}}], mode="tools"
    )
    dataset, _ = build_mixture(recipe, recipe.data.sources)
    call = dataset[0]["messages"][1]["tool_calls"][0]["function"]
    assert call["arguments"] == {"x": 1.5, "y": "s"}  # an object, as chat templates expect
    assert dataset[0]["tools"] == tools


def test_mixture_sizes_follow_samples_and_weight(tmp_path):
    write_jsonl(tmp_path / "a.jsonl", [GOOD] * 10)
    write_jsonl(tmp_path / "b.jsonl", [GOOD] * 10)
    recipe = recipe_for(
        tmp_path,
        [{"path": "a.jsonl", "samples": 4}, {"path": "b.jsonl", "weight": 1.5}, {"builtin": "chat", "samples": 5}],
    )
    dataset, reports = build_mixture(recipe, recipe.data.sources)
    assert [r.rows_used for r in reports] == [4, 15, 5]
    assert len(dataset) == 24


def test_reasoning_content_is_folded_into_a_think_block_only_for_templates_that_drop_it(tmp_path, tokenizer):
    row = {
        "messages": [
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": "4", "reasoning_content": "2+2"},
        ]
    }
    assert fold_reasoning(canonical_row(row, "reasoning"))["messages"][1] == {
        "role": "assistant",
        "content": "<think>\n2+2\n</think>\n\n4",
    }
    write_jsonl(tmp_path / "r.jsonl", [row])
    recipe = recipe_for(tmp_path, [{"path": "r.jsonl"}], mode="reasoning")
    kept, _ = build_mixture(recipe, recipe.data.sources, tokenizer=tokenizer)  # the harness template reads it
    assert kept[0]["messages"][1] == {"role": "assistant", "content": "4", "reasoning_content": "2+2"}
    plain = "{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}"
    folded, _ = build_mixture(recipe, recipe.data.sources, tokenizer=tokenizer, template=plain)
    assert folded[0]["messages"][1]["content"] == "<think>\n2+2\n</think>\n\n4"


def test_instruct_rows_become_prompt_completion_and_chat_rows_messages():
    prompt_completion = {"prompt": "Translate: cat", "completion": "chat"}
    assert canonical_row(prompt_completion, "instruct")["completion"][0]["content"] == "chat"
    assert [m["role"] for m in canonical_row(prompt_completion, "chat")["messages"]] == ["user", "assistant"]
    with pytest.raises(RowError, match="last message must be the assistant's answer"):
        canonical_row({"messages": [GOOD["messages"][1], GOOD["messages"][0]]}, "instruct")
