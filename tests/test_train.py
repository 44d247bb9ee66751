"""Short real training runs of the tiny model: every mode learns, masks are right, LoRA and resume work."""

import json

import pytest
import yaml
from conftest import short_recipe

from harness.files import read_json
from harness.models.loading import load_model, load_tokenizer
from harness.train import train


def losses(run_dir):
    return [entry["loss"] for entry in read_json(run_dir / "train" / "log_history.json") if "loss" in entry]


@pytest.fixture(scope="module")
def runs(trained):
    return trained


@pytest.mark.parametrize("mode", ["instruct", "chat", "tools", "reasoning"])
def test_each_mode_trains_and_its_loss_falls(runs, mode):
    model_dir = runs[mode]
    run_dir = model_dir.parent
    history = losses(run_dir)
    assert len(history) == 4
    assert history[-1] < 0.75 * history[0], history
    for name in ("model.safetensors", "tokenizer.json", "chat_template.jinja"):
        assert (model_dir / name).exists(), name
    assert yaml.safe_load((run_dir / "recipe.resolved.yaml").read_text())["mode"] == mode
    assert read_json(run_dir / "train" / "metrics.json")["global_step"] == 20
    environment = read_json(run_dir / "environment.json")
    assert {"torch", "transformers", "trl"} <= set(environment["packages"])
    report = read_json(run_dir / "data" / "report.json")
    assert report["train_rows"] == report["train"][0]["rows_used"] > 0 and report["train_fingerprint"]


@pytest.mark.parametrize("mode,loss_on", [("reasoning", "assistant"), ("instruct", "completion")])
def test_only_assistant_or_completion_tokens_carry_labels(tiny_path, tokenizer, mode, loss_on, tmp_path):
    from trl import SFTTrainer

    from harness.data.sources import build_mixture
    from harness.recipe import build_sft_config
    from harness.train import training_defaults

    recipe = short_recipe(mode)
    dataset, _ = build_mixture(recipe, recipe.data.sources)
    trainer = SFTTrainer(
        model=str(tiny_path),
        args=build_sft_config(recipe, tmp_path, **training_defaults(recipe)),
        train_dataset=dataset.select(range(4)),
        processing_class=tokenizer,
    )
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(4)])
    for row, ids, labels in zip(dataset.select(range(4)), batch["input_ids"], batch["labels"], strict=True):
        trained = tokenizer.decode([i for i, label in zip(ids, labels, strict=True) if label != -100])
        answer = (row["messages"] if loss_on == "assistant" else row["completion"])[-1]["content"]
        assert trained.startswith(answer) and trained.rstrip().endswith("<|im_end|>"), trained
        assert (
            "<|im_start|>" not in trained
            and row["messages" if loss_on == "assistant" else "prompt"][0]["content"] not in trained
        )


def test_lora_on_a_fine_tuned_base_saves_and_loads(runs, tmp_path, tokenizer):
    import torch

    base_run = runs["reasoning"].parent
    recipe = short_recipe(
        "reasoning",
        model={"name": str(base_run)},
        peft={"r": 8, "lora_alpha": 16, "target_modules": "all-linear"},
        train={"max_steps": 6},
    )
    adapter_dir = train(recipe, tmp_path / "lora")
    assert (adapter_dir / "adapter_config.json").exists() and (adapter_dir / "adapter_model.safetensors").exists()
    assert not (adapter_dir / "model.safetensors").exists()
    assert json.loads((adapter_dir / "adapter_config.json").read_text())["base_model_name_or_path"] == str(
        runs["reasoning"]
    )
    tuned, base = load_model(str(adapter_dir), merge_adapter=True), load_model(str(runs["reasoning"]))
    inputs = tokenizer("Mia has 12 apples.", return_tensors="pt")
    with torch.no_grad():
        assert not torch.allclose(tuned(**inputs).logits, base(**inputs).logits)
    assert load_tokenizer(str(adapter_dir)).chat_template == tokenizer.chat_template
    # The adapter folder as it is, unmerged on disk, plays the tools suite's conversations.
    from harness.evaluate.runner import evaluate
    from harness.recipe import EvalSettings

    settings = EvalSettings(
        backend="transformers", generation={"max_new_tokens": 8}, suites=[{"suite": "tools", "samples": 12}]
    )
    assert evaluate(str(adapter_dir), settings, tmp_path / "eval")["tools"]["n_items"] == 12
    records = (tmp_path / "eval" / "tools" / "samples.jsonl").read_text().splitlines()
    assert any("trajectories" in json.loads(line) for line in records)
    assert not (adapter_dir / "model.safetensors").exists()


def test_a_mixture_holding_evaluation_items_fails_before_training_under_fail(tmp_path):
    from harness.train import TrainError

    leaky = short_recipe(
        "instruct",
        data={
            "sources": [{"builtin": "instruct", "samples": 50}, {"builtin": "instruct", "split": "test", "samples": 50}]
        },
        eval={"suites": [{"suite": "instruct", "samples": 50}]},
        decontamination={"action": "fail"},
    )
    with pytest.raises(TrainError, match=r"training rows contain evaluation items"):
        train(leaky, tmp_path / "leaky")
    assert not (tmp_path / "leaky" / "train").exists()


def test_evaluation_during_training_scores_as_harness_eval_does_conversations_included(tmp_path):
    """The callback scores its slice as `harness eval` does: the multi-step tools items are played in their
    worlds, so the accuracy it logs at the last step is the one an evaluation of the saved model gives."""
    from harness.evaluate.runner import evaluate
    from harness.recipe import EvalSettings

    suites, generation = [{"suite": "tools", "samples": 18}], {"max_new_tokens": 16}
    during = {"every_steps": 10, "samples": 18}
    evaluation = {"suites": suites, "during_training": during, "generation": generation}
    recipe = short_recipe("tools", eval=evaluation, train={"max_steps": 10})
    model = train(recipe, tmp_path / "run")
    logged = [e for e in read_json(tmp_path / "run" / "train" / "log_history.json") if "harness_eval/tools" in e]
    assert [e["step"] for e in logged] == [10]
    settings = EvalSettings(backend="transformers", suites=suites, generation=recipe.eval.generation)
    summary = evaluate(model, settings, tmp_path / "eval")["tools"]
    assert any(
        r for r in (tmp_path / "eval" / "tools" / "samples.jsonl").read_text().splitlines() if "trajectories" in r
    )
    assert logged[0]["harness_eval/tools"] == summary["metrics"]["accuracy"]
