"""Real chat-template families: what plain TRL trains, harness trains token for token; what it cannot
train is refused with ways out that fit the vocabulary; every turn stops at its real end-of-turn token."""

import json

import pytest
from template_families import FAMILIES, build_stand_in

from harness.data.sources import DataError
from harness.models.loading import ModelError, load_tokenizer
from harness.models.template_checks import TemplateRefusal, check_template, stop_token_ids, training_template
from harness.recipe import parse_recipe
from harness.train import TrainError, build_trainer, train

CHAT = {
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi there"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "Bye"},
        {"role": "assistant", "content": "See you."},
    ]
}
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather of a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def tool_row(arguments):
    return {
        "messages": [
            {"role": "user", "content": "Weather in Oslo?"},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {"id": "call0Oslo", "type": "function", "function": {"name": "get_weather", "arguments": arguments}}
                ],
            },
            {"role": "tool", "tool_call_id": "call0Oslo", "content": '{"temp": 3}'},
            {"role": "assistant", "content": "It is 3 degrees."},
        ],
        "tools": [WEATHER],
    }


NO_SYSTEM = {"messages": CHAT["messages"][1:]}
THINKING = {
    "messages": [
        {"role": "user", "content": "2+3?"},
        {"role": "assistant", "content": "5", "reasoning_content": "2 plus 3 is 5."},
    ]
}
TRAINABLE = [name for name, family in FAMILIES.items() if family.trl_trains]
REFUSED = [name for name, family in FAMILIES.items() if not family.trl_trains]


@pytest.fixture(scope="module")
def stand_ins(harness_cache, tmp_path_factory):
    root = tmp_path_factory.mktemp("families")
    return {name: build_stand_in(family, root / name) for name, family in FAMILIES.items()}


def family_recipe(tmp_path, model_path, rows, mode="chat", **sections):
    (tmp_path / "rows.jsonl").write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    data = {
        "name": "family",
        "mode": mode,
        "model": {"name": str(model_path), **sections.pop("model", {})},
        "data": {"sources": [{"path": "rows.jsonl", **sections.pop("source", {})}], "shuffle": False},
        "train": {
            "max_steps": 1,
            "per_device_train_batch_size": 2,
            "max_length": 512,
            "report_to": "none",
            **sections.pop("train", {}),
        },
    }
    return parse_recipe(data, source=tmp_path / "recipe.yaml")


def plain_trl_labels(model_path, rows, tmp_path):
    """What a user gets from plain TRL: load_dataset("json") and SFTTrainer(assistant_only_loss=True)."""
    import datasets
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    (tmp_path / "plain.jsonl").write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    dataset = datasets.load_dataset("json", data_files=str(tmp_path / "plain.jsonl"), split="train")
    config = SFTConfig(
        output_dir=str(tmp_path / "plain"),
        assistant_only_loss=True,
        max_length=512,
        report_to="none",
        use_cpu=True,
        bf16=False,
    )
    trainer = SFTTrainer(
        model=AutoModelForCausalLM.from_pretrained(model_path),
        args=config,
        train_dataset=dataset,
        processing_class=AutoTokenizer.from_pretrained(model_path),
    )
    return trainer.train_dataset["input_ids"], trainer.train_dataset["labels"]


def harness_labels(recipe, tmp_path):
    trainer, _ = build_trainer(recipe, tmp_path / "run")
    return trainer.train_dataset["input_ids"], trainer.train_dataset["labels"]


def trained_text(tokenizer, row) -> str:
    return tokenizer.decode([label for label in row["labels"] if label != -100])


@pytest.mark.parametrize("name", TRAINABLE)
def test_families_trl_trains_get_the_same_tokens_and_loss_mask_as_plain_trl(name, stand_ins, tmp_path):
    rows = [NO_SYSTEM if name == "gemma2" else CHAT]  # Gemma 2's template refuses system turns
    tokenizer = load_tokenizer(str(stand_ins[name]))
    template = training_template(tokenizer, assistant_only_loss=True)
    from trl.chat_template_utils import supports_tool_calling

    if supports_tool_calling(tokenizer):
        rows.append(tool_row({"city": "Oslo"}))
    plain = plain_trl_labels(str(stand_ins[name]), rows, tmp_path)
    # The harness reads the same rows with the arguments as a JSON string, as many datasets store them.
    as_strings = [json.loads(json.dumps(row).replace('{"city": "Oslo"}', '"{\\"city\\": \\"Oslo\\"}"')) for row in rows]
    ours = harness_labels(family_recipe(tmp_path, stand_ins[name], as_strings), tmp_path)
    assert ours == plain
    assert template is not None or "generation" in tokenizer.chat_template
    trained = tokenizer.decode([label for label in ours[1][0] if label != -100])
    assert "See you." in trained and "Hi there" not in trained


@pytest.mark.parametrize("name", REFUSED)
def test_families_without_a_training_template_are_refused_with_ways_out_that_fit(name, stand_ins, tmp_path):
    from trl.chat_template_utils import get_training_chat_template

    tokenizer = load_tokenizer(str(stand_ins[name]))
    with pytest.raises(ValueError):  # plain TRL refuses them too
        get_training_chat_template(tokenizer)
    with pytest.raises(TrainError) as refused:
        build_trainer(family_recipe(tmp_path, stand_ins[name], [CHAT]), tmp_path / "run")
    message = str(refused.value)
    assert "no {% generation %} markers" in message and "train.assistant_only_loss: false" in message
    chatml = "<|im_end|>" in FAMILIES[name].special_tokens
    assert ("model.chat_template: harness" in message) == chatml
    if name.startswith("llama3"):
        assert "model.chat_template: trl:llama3_training" in message


def test_a_suggested_way_out_trains_and_stops_at_its_end_of_turn_token(stand_ins, tmp_path):
    recipe = family_recipe(tmp_path, stand_ins["llama3.1"], [CHAT], model={"chat_template": "trl:llama3_training"})
    trainer, tokenizer = build_trainer(recipe, tmp_path / "run")
    trained = trained_text(tokenizer, trainer.train_dataset[0])
    assert trained == "Hello!<|eot_id|>See you.<|eot_id|>"


@pytest.mark.parametrize("name,model_template", [("smollm2", "harness"), ("gemma3", None), ("phi3.5", None)])
def test_end_of_turn_is_the_templates_not_eos(name, model_template, stand_ins, tmp_path):
    """SmolLM2 base (eos <|endoftext|>) with ChatML ends turns with <|im_end|>; Gemma with <end_of_turn>: the
    check accepts them, training saves them as stop ids, and generation stops there."""
    family = FAMILIES[name]
    end = family.end_of_turn or family.eos
    recipe = family_recipe(tmp_path, stand_ins[name], [CHAT] * 2, model={"chat_template": model_template})
    tokenizer = load_tokenizer(str(stand_ins[name]), model_template)
    row = {"messages": CHAT["messages"][1:] if name.startswith("gemma") else CHAT["messages"], "tools": None}
    report = check_template(tokenizer, row, "chat", training_template(tokenizer, True))
    assert report.ok, report.problems
    assert report.end_of_turn in (end, family.eos)  # Phi-3.5's training template closes with <|end|> then eos
    assert tokenizer.convert_tokens_to_ids(end) in stop_token_ids(tokenizer)
    model_dir = train(recipe, tmp_path / "run")
    saved = json.loads((model_dir / "generation_config.json").read_text())["eos_token_id"]
    assert tokenizer.convert_tokens_to_ids(end) in saved


def test_tool_rows_are_refused_for_templates_that_drop_tools(stand_ins, tmp_path):
    llama3 = family_recipe(tmp_path, stand_ins["llama3"], [tool_row({"city": "Oslo"})], mode="tools")
    with pytest.raises(TrainError, match="llama3_training drops tool calls or tool results"):
        build_trainer(llama3, tmp_path / "llama3")
    smollm3 = family_recipe(
        tmp_path, stand_ins["smollm3"], [tool_row({"city": "Oslo"})], mode="tools", train={"assistant_only_loss": False}
    )
    with pytest.raises(TrainError, match="ignores the `tools` argument"):
        build_trainer(smollm3, tmp_path / "smollm3")
    gemma3 = family_recipe(tmp_path, stand_ins["gemma3"], [tool_row({"city": "Oslo"})], mode="tools")
    with pytest.raises(DataError, match="chat template fails on it: TemplateError: Conversation roles must alternate"):
        build_trainer(gemma3, tmp_path / "gemma3")


def test_tool_call_ids_are_kept_and_nothing_is_injected(stand_ins, tmp_path):
    """Mistral's template needs its 9-character call ids; a row without them is counted, named, not a traceback."""
    without_id = json.loads(json.dumps(tool_row({"city": "Oslo"})))
    del without_id["messages"][1]["tool_calls"][0]["id"]
    recipe = family_recipe(
        tmp_path,
        stand_ins["mistral-v0.3"],
        [tool_row({"city": "Oslo"}), without_id, CHAT],
        mode="tools",
        train={"assistant_only_loss": False},
    )
    trainer, tokenizer = build_trainer(recipe, tmp_path / "run")
    report = json.loads((tmp_path / "run" / "data" / "report.json").read_text())["train"][0]
    assert report["rows_used"] == 2
    [(reason, bad)] = report["bad_rows"].items()
    assert "Tool call IDs should be alphanumeric strings with length 9" in reason and bad["rows"] == [1]
    text = tokenizer.decode(trainer.train_dataset["input_ids"][0])
    assert '"arguments": {"city": "Oslo"}, "id": "call0Oslo"' in text  # one encoding, id kept
    assert "tool_calls" not in json.dumps(trainer.train_dataset[1]["messages"][0])  # none added to plain turns


def test_qwen3_thinking_reaches_the_template_and_enable_thinking_passes_through(stand_ins, tmp_path):
    recipe = family_recipe(
        tmp_path,
        stand_ins["qwen3"],
        [THINKING],
        mode="reasoning",
        source={"chat_template_kwargs": {"enable_thinking": True}},
    )
    trainer, tokenizer = build_trainer(recipe, tmp_path / "run")
    row = trainer.train_dataset[0]
    assert row["messages"][1]["reasoning_content"] == "2 plus 3 is 5." and row["chat_template_kwargs"] == {
        "enable_thinking": True
    }
    trained = trained_text(tokenizer, row)
    assert trained.startswith("<think>\n2 plus 3 is 5.\n</think>") and trained.endswith("5<|im_end|>\n")


def test_deepseek_r1_reasoning_is_folded_where_the_template_reads_only_content(stand_ins, tmp_path):
    recipe = family_recipe(tmp_path, stand_ins["deepseek-r1-distill"], [THINKING], mode="reasoning")
    trainer, tokenizer = build_trainer(recipe, tmp_path / "run")
    row = trainer.train_dataset[0]
    trained = trained_text(tokenizer, row)
    assert "<think>\n2 plus 3 is 5.\n</think>" in trained and trained.endswith("5<｜end▁of▁sentence｜>")


def test_a_template_that_raises_any_python_error_is_named_not_a_traceback(stand_ins, tmp_path):
    (tmp_path / "bad.jinja").write_text(
        "{% for m in messages %}{% if m.role == 'assistant' %}{% generation %}{{ m.content }}"
        "{% if m.tool_calls %}{{ m.tool_calls + 1 }}{% endif %}<|im_end|>{% endgeneration %}"
        "{% elif m.role == 'tool' %}{{ m.content + m.missing.attribute }}{% else %}{{ m.content }}{% endif %}"
        "{% endfor %}"
    )
    recipe = family_recipe(
        tmp_path, stand_ins["qwen2.5"], [CHAT, tool_row({"city": "Oslo"})], model={"chat_template": "bad.jinja"}
    )
    build_trainer(recipe, tmp_path / "run")
    report = json.loads((tmp_path / "run" / "data" / "report.json").read_text())["train"][0]
    [(reason, bad)] = report["bad_rows"].items()
    assert reason.startswith("the chat template fails on it: TypeError") and bad["rows"] == [1]
    (tmp_path / "worse.jinja").write_text("{{ messages[0].content + messages[0].missing.attribute }}")
    recipe = family_recipe(tmp_path, stand_ins["qwen2.5"], [CHAT], model={"chat_template": "worse.jinja"})
    with pytest.raises(ModelError, match=r"worse.jinja does not render a user/assistant conversation: UndefinedError"):
        build_trainer(recipe, tmp_path / "run2")


def test_a_refused_family_is_named(stand_ins):
    tokenizer = load_tokenizer(str(stand_ins["llama3.1"]))
    with pytest.raises(TemplateRefusal, match=r"\(llama3_1\)"):
        training_template(tokenizer, assistant_only_loss=True)
    with pytest.raises(TemplateRefusal, match="Mistral"):
        training_template(load_tokenizer(str(stand_ins["mistral-v0.3"])), assistant_only_loss=True)


def test_the_eval_backend_renders_and_stops_with_the_recipes_template(stand_ins, tmp_path):
    from harness.evaluate.backends.transformers import TransformersBackend

    (tmp_path / "plain.jinja").write_text(
        "{% for m in messages %}<|user|>{{ m.content }}<|endoftext|>{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>{% endif %}"
    )
    end = load_tokenizer(str(stand_ins["phi3.5"])).convert_tokens_to_ids("<|end|>")
    assert end in TransformersBackend(str(stand_ins["phi3.5"])).stop_ids  # Phi's own turns end with <|end|>
    overridden = TransformersBackend(str(stand_ins["phi3.5"]), chat_template=str(tmp_path / "plain.jinja"))
    assert end not in overridden.stop_ids and overridden.tokenizer.chat_template.startswith("{% for m in messages %}")
