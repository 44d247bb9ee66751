"""Multi-process training and evaluation on accelerate, for real: 2 CPU processes over gloo."""

import json
import os
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest
from conftest import REPO, short_recipe

CONFIGS = REPO / "configs" / "accelerate"


def harness(*args, **kwargs):
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *map(str, args)], capture_output=True, text=True, cwd=REPO, **kwargs
    )


def losses(run_dir: Path) -> list[float]:
    history = json.loads((run_dir / "train" / "log_history.json").read_text())
    return [entry["loss"] for entry in history if "loss" in entry]


def test_two_process_training_reaches_the_loss_of_one_process_with_the_same_global_batch(tmp_path):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(short_recipe("reasoning", train={"max_steps": 6, "logging_steps": 1, "save_steps": 100}).dump())
    single = harness("train", recipe, "-o", tmp_path / "one", "--set", "train.per_device_train_batch_size=8")
    assert single.returncode == 0, single.stderr[-3000:]
    double = harness(
        "train",
        recipe,
        "-o",
        tmp_path / "two",
        "--set",
        "train.per_device_train_batch_size=4",
        "--launcher",
        "accelerate",
        "--num-processes",
        2,
        "--main-process-port",
        29531,
    )
    assert double.returncode == 0, double.stderr[-3000:]
    assert "accelerate.commands.launch" in double.stderr
    metrics = json.loads((tmp_path / "two" / "train" / "metrics.json").read_text())
    assert metrics["processes"] == 2 and metrics["global_step"] == 6
    one, two = losses(tmp_path / "one"), losses(tmp_path / "two")
    assert len(one) == len(two) == 6
    # Same samples per optimizer step (accelerate hands rank r every r-th batch of the same shuffled
    # order) and token-averaged loss across ranks: equal up to float reduction order.
    assert two == pytest.approx(one, abs=1e-3)
    assert one[-1] < one[0]
    assert (tmp_path / "two" / "model" / "model.safetensors").exists()


def test_sharded_evaluation_over_two_processes_gives_the_single_process_summary(trained, tmp_path):
    model = trained["reasoning"]
    args = ["eval", model, "--suite", "reasoning", "--samples", 30, "--set", "eval.batch_size=8"]
    single = harness(*args, "-o", tmp_path / "one")
    assert single.returncode == 0, single.stderr[-3000:]
    sharded = harness(
        *args, "-o", tmp_path / "two", "--launcher", "accelerate", "--num-processes", 2, "--main-process-port", 29532
    )
    assert sharded.returncode == 0, sharded.stderr[-3000:]
    one, two = tmp_path / "one" / "reasoning", tmp_path / "two" / "reasoning"
    assert (one / "summary.json").read_bytes() == (two / "summary.json").read_bytes()
    assert json.loads((two / "timing.json").read_text())["processes"] == 2
    assert not list(two.glob("samples.rank*.jsonl"))  # merged and removed

    def outputs(folder):
        return {r["id"]: r["outputs"] for r in map(json.loads, (folder / "samples.jsonl").read_text().splitlines())}

    assert outputs(one) == outputs(two) and len(outputs(two)) == 30
    # A rerun over the merged file reuses every sample and changes nothing.
    again = harness(
        *args, "-o", tmp_path / "two", "--launcher", "accelerate", "--num-processes", 2, "--main-process-port", 29533
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert (two / "summary.json").read_bytes() == (one / "summary.json").read_bytes()
    assert json.loads((two / "timing.json").read_text())["generated"] == 0


def test_sharded_eval_resumes_from_the_rank_files_of_an_interrupted_run(trained, tmp_path):
    """A killed sharded run leaves samples.rank<r>.jsonl; a single-process rerun picks them up."""
    model = trained["reasoning"]
    args = ["eval", model, "--suite", "reasoning", "--samples", 12, "-o", tmp_path / "out"]
    assert harness(*args).returncode == 0
    folder = tmp_path / "out" / "reasoning"
    reference = (folder / "summary.json").read_bytes()
    lines = (folder / "samples.jsonl").read_text().splitlines()
    (folder / "samples.rank0.jsonl").write_text("\n".join(lines[::2]) + "\n")
    (folder / "samples.rank1.jsonl").write_text("\n".join(lines[1::2][:3]) + "\n")
    (folder / "samples.jsonl").unlink()
    (folder / "summary.json").unlink()
    assert harness(*args).returncode == 0
    assert (folder / "summary.json").read_bytes() == reference
    assert json.loads((folder / "timing.json").read_text())["generated"] == 12 - 6 - 3


def _launch_args(config: Path):
    from accelerate.commands.launch import (
        _validate_launch_command,
        launch_command_parser,
    )

    return _validate_launch_command(launch_command_parser().parse_args(["--config_file", str(config), "train.py"]))


def test_shipped_accelerate_configs_load_through_accelerate():
    from accelerate.utils import DeepSpeedPlugin, FullyShardedDataParallelPlugin
    from accelerate.utils.launch import prepare_deepspeed_cmd_env, prepare_multi_gpu_env

    assert {p.name for p in CONFIGS.glob("*.yaml")} == {
        "ddp.yaml",
        "fsdp.yaml",
        "deepspeed_zero2.yaml",
        "deepspeed_zero3.yaml",
    }
    args, _, _ = _launch_args(CONFIGS / "ddp.yaml")
    assert args.multi_gpu and not args.use_fsdp and not args.use_deepspeed

    args, _, _ = _launch_args(CONFIGS / "fsdp.yaml")
    env = {k: v for k, v in prepare_multi_gpu_env(args).items() if k.startswith(("FSDP_", "ACCELERATE_"))}
    with mock.patch.dict(os.environ, env):
        plugin = FullyShardedDataParallelPlugin()
    assert plugin.fsdp_version == 2 and plugin.state_dict_type.name == "FULL_STATE_DICT"

    for stage in (2, 3):
        args, defaults, _ = _launch_args(CONFIGS / f"deepspeed_zero{stage}.yaml")
        args.deepspeed_fields_from_accelerate_config = ",".join(defaults.deepspeed_config)  # as launch_command does
        env = {k: v for k, v in prepare_deepspeed_cmd_env(args)[1].items() if k.startswith("ACCELERATE_")}
        with mock.patch.dict(os.environ, env):
            plugin = DeepSpeedPlugin()
        assert plugin.zero_stage == stage
        assert plugin.deepspeed_config["zero_optimization"]["stage3_gather_16bit_weights_on_model_save"] is (stage == 3)


def test_run_plan_launches_training_with_the_config_and_shards_only_transformers_eval(tmp_path):
    from harness.launch import Launcher
    from harness.run import plan

    launcher = Launcher("accelerate", 4, str(CONFIGS / "deepspeed_zero3.yaml"))
    steps = {s.name: s for s in plan(short_recipe("chat", eval={"backend": "transformers"}), tmp_path, launcher)}
    train = steps["train"].command
    assert train[1:3] == ["-m", "accelerate.commands.launch"] and str(CONFIGS / "deepspeed_zero3.yaml") in train
    assert train[train.index("--module") + 1 :][:2] == ["harness.cli", "train"]
    base = steps["eval_base"].command
    assert "--config_file" not in base and base[base.index("--num_processes") + 1] == "4" and "--multi_gpu" in base
    assert steps["eval_base"].clean_env and steps["report"].command[1:4] == ["-m", "harness.cli", "report"]

    vllm = {s.name: s for s in plan(short_recipe("chat", eval={"backend": "vllm"}), tmp_path, launcher)}
    assert vllm["eval_tuned"].command[1:4] == ["-m", "harness.cli", "eval"]  # vLLM parallelises itself
    assert Launcher("accelerate", config_file=str(CONFIGS / "fsdp.yaml")).processes() == 8


def test_launching_a_vllm_eval_is_refused_with_the_vllm_settings_to_use(tiny_path):
    result = harness("eval", "tiny", "--suite", "reasoning", "--backend", "vllm", "--launcher", "accelerate")
    assert result.returncode != 0
    assert "tensor_parallel_size" in result.stderr


def test_slurm_examples_are_valid_bash_and_name_shipped_files():
    for script in (REPO / "configs" / "slurm").glob("*.sbatch"):
        assert subprocess.run(["bash", "-n", str(script)]).returncode == 0, script
        text = script.read_text()
        for config in {word for word in text.split() if word.startswith("configs/")}:
            assert (REPO / config.rstrip("]")).exists(), (script.name, config)
