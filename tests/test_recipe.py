from pathlib import Path

import pytest
import yaml

from harness.recipe import RecipeError, build_lora_config, build_sft_config, load_recipe, parse_recipe
from harness.train import training_defaults

RECIPES = sorted((Path(__file__).resolve().parents[1] / "recipes").glob("*.yaml"))
MINIMAL = {"name": "t", "mode": "chat", "data": {"sources": [{"builtin": "chat", "samples": 10}]}}


def write(tmp_path, data) -> Path:
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.name)
def test_every_shipped_recipe_validates_with_the_real_sft_config(path):
    recipe = load_recipe(path)
    config = build_sft_config(recipe, "/tmp/out", **training_defaults(recipe))
    assert config.learning_rate == recipe.train["learning_rate"]
    build_lora_config(recipe)


def test_four_modes_have_an_offline_recipe_and_a_hub_variant():
    names = {p.stem for p in RECIPES}
    for mode in ("instruct", "chat", "tools", "reasoning"):
        # the pretrained base where the mode needs copying from the context; reasoning learns from random weights
        assert load_recipe(f"recipes/{mode}.yaml").model.name == ("tiny" if mode == "reasoning" else "embedded")
        assert mode + "-hub" in names


def test_unknown_key_names_file_field_and_suggestion(tmp_path):
    data = {**MINIMAL, "modle": {"name": "tiny"}}
    with pytest.raises(RecipeError) as error:
        load_recipe(write(tmp_path, data))
    message = str(error.value)
    assert "recipe.yaml" in message and "modle: unknown field (did you mean 'mode' or 'model'?)" in message


def test_nested_unknown_key_in_a_list_item(tmp_path):
    data = {**MINIMAL, "data": {"sources": [{"builtin": "chat", "sampels": 3}]}}
    with pytest.raises(RecipeError, match=r"data\.sources\.0\.sampels: unknown field \(did you mean 'samples'\?\)"):
        load_recipe(write(tmp_path, data))


def test_renamed_sft_config_field_fails_at_validation(tmp_path):
    # TRL renamed max_seq_length to max_length: an old recipe must fail here, not deep in training.
    recipe = load_recipe(write(tmp_path, {**MINIMAL, "train": {"max_seq_length": 512}}))
    with pytest.raises(
        RecipeError, match=r"train\.max_seq_length: not a trl.SFTConfig field \(did you mean 'max_length'\?\)"
    ):
        build_sft_config(recipe, "/tmp/out")


def test_sft_config_value_errors_are_reported(tmp_path):
    recipe = load_recipe(write(tmp_path, {**MINIMAL, "train": {"lr_scheduler_type": "sometimes"}}))
    with pytest.raises(RecipeError, match="trl.SFTConfig rejected it: sometimes"):
        build_sft_config(recipe, "/tmp/out")


def test_lora_fields_are_validated_by_peft(tmp_path):
    recipe = load_recipe(write(tmp_path, {**MINIMAL, "peft": {"rank": 8}}))
    with pytest.raises(RecipeError, match=r"peft\.rank: not a peft.LoraConfig field"):
        build_lora_config(recipe)
    assert build_lora_config(load_recipe(write(tmp_path, {**MINIMAL, "peft": {"r": 4}}))).r == 4


def test_source_needs_exactly_one_origin_and_one_sizing():
    with pytest.raises(RecipeError, match="exactly one of builtin, path, hub"):
        parse_recipe({**MINIMAL, "data": {"sources": [{"builtin": "chat", "path": "x.jsonl"}]}})
    with pytest.raises(RecipeError, match="samples or weight, not both"):
        parse_recipe({**MINIMAL, "data": {"sources": [{"path": "x.jsonl", "samples": 3, "weight": 1.0}]}})


def test_wrong_types_and_modes_name_the_field():
    with pytest.raises(RecipeError, match=r"mode: Input should be 'instruct', 'chat', 'tools' or 'reasoning'"):
        parse_recipe({**MINIMAL, "mode": "rl"})
    with pytest.raises(RecipeError, match=r"seed: Input should be a valid integer"):
        parse_recipe({**MINIMAL, "seed": "abc"})


def test_overrides_set_nested_fields_and_list_items(tmp_path):
    path = write(tmp_path, MINIMAL)
    recipe = load_recipe(path, ["train.learning_rate=1e-4", "data.sources.0.samples=7", "model.tiny.hidden_size=64"])
    assert recipe.train["learning_rate"] == 1e-4
    assert recipe.data.sources[0].samples == 7
    assert recipe.model.tiny.hidden_size == 64
    with pytest.raises(RecipeError, match="expected KEY.PATH=VALUE"):
        load_recipe(path, ["train.learning_rate"])


def test_bad_yaml_and_missing_file(tmp_path):
    with pytest.raises(RecipeError, match="no such recipe file"):
        load_recipe(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(RecipeError, match="bad.yaml: not valid YAML"):
        load_recipe(bad)
    bad.write_text("- a list\n")
    with pytest.raises(RecipeError, match="a recipe is a YAML mapping"):
        load_recipe(bad)


def test_cpu_defaults_turn_off_bf16_and_checkpointing_unless_set(tmp_path):
    recipe = load_recipe(write(tmp_path, MINIMAL))
    config = build_sft_config(recipe, "/tmp/out", **training_defaults(recipe))
    assert config.bf16 is False and config.gradient_checkpointing is False and config.assistant_only_loss is True
    recipe = load_recipe(write(tmp_path, {**MINIMAL, "train": {"gradient_checkpointing": True}}))
    assert build_sft_config(recipe, "/tmp/out", **training_defaults(recipe)).gradient_checkpointing is True


def test_schema_lists_the_sections():
    from harness.recipe import recipe_json_schema

    schema = recipe_json_schema()
    assert {"name", "mode", "model", "data", "peft", "train", "eval", "report"} <= set(schema["properties"])


def test_yaml_reads_scalars_as_yaml_1_2_does(tmp_path):
    path = write(tmp_path, MINIMAL)
    path.write_text(path.read_text() + "train:\n  save_strategy: no\n  learning_rate: 1e-4\n  bf16: false\n")
    recipe = load_recipe(path)
    assert recipe.train == {"save_strategy": "no", "learning_rate": 1e-4, "bf16": False}
