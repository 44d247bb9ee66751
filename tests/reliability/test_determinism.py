"""Same recipe, same seed, same machine: the same weights, the same loss curve, the same eval summary byte for byte."""

import json

from conftest import short_recipe

from harness.evaluate.runner import evaluate
from harness.recipe import EvalSettings, GenerationSettings, SuiteSettings
from harness.train import train

SETTINGS = EvalSettings(
    backend="transformers",
    generation=GenerationSettings(max_new_tokens=48),
    suites=[SuiteSettings(suite="reasoning", samples=24), SuiteSettings(suite="tools", samples=12)],
)


def curve(run_dir):
    """Loss, gradient norm and learning rate per step (the log also holds wall times, which vary)."""
    history = json.loads((run_dir / "train" / "log_history.json").read_text())
    return [(e["step"], e["loss"], e["grad_norm"], e["learning_rate"]) for e in history if "loss" in e]


def test_training_twice_gives_identical_weights_and_loss(tmp_path, harness_cache):
    recipe = short_recipe("reasoning", seed=7, train={"max_steps": 8, "logging_steps": 1})
    first, second = train(recipe, tmp_path / "a"), train(recipe, tmp_path / "b")
    assert (first / "model.safetensors").read_bytes() == (second / "model.safetensors").read_bytes()
    assert curve(tmp_path / "a") == curve(tmp_path / "b") and len(curve(tmp_path / "a")) == 8
    other = train(short_recipe("reasoning", seed=8, train={"max_steps": 8, "logging_steps": 1}), tmp_path / "c")
    assert (other / "model.safetensors").read_bytes() != (first / "model.safetensors").read_bytes()  # the seed matters


def test_evaluating_twice_from_scratch_gives_the_same_summary_bytes(trained, tmp_path):
    evaluate(trained["reasoning"], SETTINGS, tmp_path / "one", seed=3)
    evaluate(trained["reasoning"], SETTINGS, tmp_path / "two", seed=3)
    for suite in ("reasoning", "tools"):
        one, two = (tmp_path / "one" / suite / "summary.json"), (tmp_path / "two" / suite / "summary.json")
        assert one.read_bytes() == two.read_bytes()
        summary = json.loads(one.read_text())
        # What it takes to reproduce it: model and weights identity, items, generation, template, versions.
        assert summary["reproduce"]["seed"] == 3 and summary["reproduce"]["suite"]["samples"] in (24, 12)
        assert summary["generation"]["max_new_tokens"] == 48 and summary["chat_template_sha256"]
        assert {"torch", "transformers", "trl"} <= set(summary["packages"])
    evaluate(trained["reasoning"], SETTINGS, tmp_path / "other-seed", seed=4)
    assert (tmp_path / "other-seed" / "reasoning" / "summary.json").read_bytes() != (
        tmp_path / "one" / "reasoning" / "summary.json"
    ).read_bytes()
