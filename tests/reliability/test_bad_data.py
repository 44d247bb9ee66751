"""Malformed rows of every kind are counted per reason with row numbers; missing things get their own message."""

import json

import pytest
from conftest import FAST_TRAIN, short_recipe

from harness.data.sources import DataError, build_mixture
from harness.models.loading import ModelError
from harness.recipe import parse_recipe
from harness.train import build_trainer, train

GOOD = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}
TOOL_CALL = {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "f", "arguments": "[1]"}}]}
EVERY_KIND = [  # (line, reason it is bad or None)
    (GOOD, None),
    ("{not json", "line 2 is not valid JSON (Expecting property name enclosed in double quotes)"),
    ({"text": "no turns"}, "plain `text` rows have no turns"),
    (
        {"question": "q", "answer": "a"},
        "no `messages` and no `prompt`+`completion` field (fields: ['answer', 'question'])",
    ),
    ({"messages": []}, "`messages` is empty or not a list"),
    ({"messages": "hello"}, "`messages` is empty or not a list"),
    ({"messages": [{"content": "no role"}, GOOD["messages"][1]]}, "messages[i] has role None"),
    (
        {"messages": [{"role": "user", "content": 5}, GOOD["messages"][1]]},
        "messages[i].content is a int, expected a string",
    ),
    ({"messages": [{"role": "user", "content": "only a question"}]}, "`messages` has no assistant turn to learn from"),
    (
        {"messages": [{"role": "user", "content": "q"}, TOOL_CALL]},
        "messages[i].tool_calls[i].arguments is a list, expected a JSON object",
    ),
    (
        {"messages": [{"role": "user", "content": "long " * 400}, GOOD["messages"][1]]},
        "longer than train.max_length (64 tokens)",
    ),
    ([1, 2], "row is a list, not an object"),
    (GOOD, None),
]


def write_rows(path, rows):
    path.write_text("\n".join(row if isinstance(row, str) else json.dumps(row) for row in rows) + "\n")


def test_a_file_with_every_kind_of_bad_row_is_reported_per_reason_with_row_numbers(tmp_path, tokenizer):
    write_rows(tmp_path / "mixed.jsonl", [row for row, _ in EVERY_KIND])
    recipe = parse_recipe(
        {"name": "t", "mode": "chat", "data": {"sources": [{"path": "mixed.jsonl"}]}, "train": {"max_length": 64}},
        source=tmp_path / "recipe.yaml",
    )
    dataset, [report] = build_mixture(recipe, recipe.data.sources, tokenizer=tokenizer)
    expected_bad = [(index, reason) for index, (_, reason) in enumerate(EVERY_KIND) if reason]
    assert len(dataset) == 2 and report.rows_read == len(EVERY_KIND) and report.bad_count == len(expected_bad)
    for index, reason in expected_bad:  # every bad row is under a reason that says what is wrong with it
        assert any(found.startswith(reason) and index in rows for found, rows in report.bad_rows.items()), (
            index,
            reason,
        )
    assert report.as_dict()["rows_bad"] == len(expected_bad)
    two = recipe.model_copy(update={"train": {**recipe.train, "dataset_num_proc": 2}})
    dataset_of_two, [report_of_two] = build_mixture(two, two.data.sources, tokenizer=tokenizer)  # two processes
    assert report_of_two.as_dict() == report.as_dict() and dataset_of_two["messages"] == dataset["messages"]


def test_abort_names_the_first_bad_row_and_an_overlong_one(tmp_path, tokenizer):
    write_rows(tmp_path / "long.jsonl", [GOOD, GOOD, EVERY_KIND[10][0]])
    recipe = parse_recipe(
        {
            "name": "t",
            "mode": "chat",
            "data": {"sources": [{"path": "long.jsonl"}], "on_error": "abort"},
            "train": {"max_length": 64},
        },
        source=tmp_path / "recipe.yaml",
    )
    with pytest.raises(DataError, match=r"long.jsonl: row 2: longer than train.max_length \(64 tokens\)"):
        build_mixture(recipe, recipe.data.sources, tokenizer=tokenizer)


def test_a_missing_data_file_is_named(tmp_path):
    recipe = parse_recipe(
        {"name": "t", "mode": "chat", "data": {"sources": [{"path": "absent.jsonl"}]}}, source=tmp_path / "recipe.yaml"
    )
    with pytest.raises(DataError, match=r"absent.jsonl: no such data file"):
        train(recipe, tmp_path / "run")


def test_a_missing_column_names_the_columns_there_are(tmp_path):
    write_rows(tmp_path / "qa.jsonl", [{"question": "q", "answer": "a"}])
    recipe = parse_recipe(
        {
            "name": "t",
            "mode": "instruct",
            "data": {"sources": [{"path": "qa.jsonl", "columns": {"prompt": "query", "completion": "answer"}}]},
        },
        source=tmp_path / "r.yaml",
    )
    with pytest.raises(DataError, match=r"columns: \['query'\] not found; the rows have \['answer', 'question'\]"):
        train(recipe, tmp_path / "run")


def test_an_unknown_hub_model_while_offline_says_to_download_it(tmp_path):
    recipe = short_recipe("chat", model={"name": "nobody/no-such-model"})
    with pytest.raises(
        ModelError, match=r"(?s)'nobody/no-such-model' could not be loaded.*offline, download it elsewhere"
    ):
        train(recipe, tmp_path / "run")


def test_an_unknown_hub_dataset_while_offline_says_to_use_a_local_copy(tmp_path, harness_cache):
    recipe = short_recipe("chat", data={"sources": [{"hub": "nobody/no-such-dataset"}]})
    with pytest.raises(
        DataError, match=r"(?s)hub:nobody/no-such-dataset .* could not be loaded.*point `path:` at a local copy"
    ):
        train(recipe, tmp_path / "run")


@pytest.mark.parametrize(
    "template,problem",
    [
        ("{% for m in messages %}", "TemplateSyntaxError"),
        ("{{ messages | no_such_filter }}", "No filter named 'no_such_filter'"),
        ("{{ raise_exception('this template only takes user turns') }}", "only takes user turns"),
    ],
)
def test_a_chat_template_that_fails_to_render_is_named_before_training(tmp_path, harness_cache, template, problem):
    (tmp_path / "broken.jinja").write_text(template)
    recipe = short_recipe("chat", model={"name": "tiny", "chat_template": str(tmp_path / "broken.jinja")})
    with pytest.raises(ModelError, match=rf"model.chat_template .*broken.jinja does not render .*{problem}"):
        train(recipe, tmp_path / "run")
    assert not (tmp_path / "run" / "train").exists()


def test_a_template_that_renders_chat_but_not_the_training_rows_names_the_problem(tmp_path, harness_cache):
    (tmp_path / "no_tools.jinja").write_text(
        "{% if tools %}{{ raise_exception('no tools here') }}{% endif %}"
        "{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}"
    )
    recipe = short_recipe(
        "tools",
        model={"name": "tiny", "chat_template": str(tmp_path / "no_tools.jinja")},
        train={"assistant_only_loss": False},
    )  # no markers: full-sequence loss gets to the rows
    with pytest.raises(
        DataError,
        match=r"builtin:tools: no usable rows \(100 malformed of 100: the chat template fails "
        r"on it: TemplateError: no tools here \(x100, rows \[0, 1, 2, 3, 4\]\)\)",
    ):
        train(recipe, tmp_path / "run")


def test_settings_trl_refuses_together_are_a_clear_error_not_a_traceback(tmp_path, harness_cache):
    from harness.train import TrainError

    recipe = short_recipe("chat", train={"padding_free": True, "max_length": 128})
    with pytest.raises(TrainError, match=r"train: TRL's SFTTrainer refused these settings: .*padding_free"):
        train(recipe, tmp_path / "run")


def test_training_reads_overlong_rows_from_the_trainers_tokenization_exactly(tmp_path, tokenizer):
    """Without packing the trainer's own token counts decide (one tokenization): a row of exactly
    max_length tokens trains, one token more is reported as over-long, as build_mixture reports it."""
    from harness.data.formats import conversation_of

    fits = GOOD
    length = len(tokenizer.apply_chat_template(conversation_of(fits), tokenize=True, return_dict=True)["input_ids"])
    longer = {"messages": [{"role": "user", "content": "Hi there"}, GOOD["messages"][1]]}
    assert len(tokenizer.apply_chat_template(longer["messages"], tokenize=True, return_dict=True)["input_ids"]) > length
    write_rows(tmp_path / "rows.jsonl", [fits, longer, EVERY_KIND[10][0], fits])
    recipe = parse_recipe(
        {
            "name": "t",
            "mode": "chat",
            "data": {"sources": [{"path": "rows.jsonl"}]},
            "train": {**FAST_TRAIN, "max_length": length},
        },
        source=tmp_path / "recipe.yaml",
    )
    trainer, _ = build_trainer(recipe, tmp_path / "run")
    report = json.loads((tmp_path / "run" / "data" / "report.json").read_text())["train"][0]
    assert report["bad_rows"] == {
        f"longer than train.max_length ({length} tokens): the trainer would cut it": {"count": 2, "rows": [1, 2]}
    }
    assert report["rows_used"] == 2 and len(trainer.train_dataset) == 2
    assert [len(ids) for ids in trainer.train_dataset["input_ids"]] == [length, length]
    assert "_row" not in trainer.train_dataset.column_names
    _, [counted] = build_mixture(recipe, recipe.data.sources, tokenizer=tokenizer)  # counting itself: the same
    assert counted.as_dict()["bad_rows"] == report["bad_rows"]
