"""Crashes: SIGKILL mid-training and mid-evaluation, then run again; atomic files; locked and full run folders."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import yaml
from conftest import FAST_TRAIN, REPO

from harness.files import read_json, write_json
from harness.run import RunError, check_writable, run_lock

HARNESS = [sys.executable, "-m", "harness.cli"]


def start(args, **kwargs):
    """In its own process group, so a kill takes its children (the step processes) down too, as a crash would."""
    return subprocess.Popen(
        HARNESS + [str(a) for a in args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        cwd=REPO,
        **kwargs,
    )


def kill_when(process, condition, timeout=300):
    deadline = time.time() + timeout
    while not condition():
        assert process.poll() is None, "the process ended before the kill point"
        assert time.time() < deadline, "kill point not reached in time"
        time.sleep(0.1)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def test_harness_run_killed_in_training_resumes_to_the_same_steps_without_a_gap(tmp_path):
    recipe = {
        "name": "crash",
        "mode": "chat",
        "data": {"sources": [{"builtin": "chat", "samples": 200}]},
        "train": {**FAST_TRAIN, "max_steps": 16, "save_steps": 5, "logging_steps": 1},
        "eval": {
            "backend": "transformers",
            "generation": {"max_new_tokens": 8},
            "suites": [{"suite": "chat", "samples": 4}],
        },
    }
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    run_dir = tmp_path / "run"
    process = start(["run", path, "-o", run_dir])
    kill_when(process, lambda: (run_dir / "train" / "checkpoint-10" / "trainer_state.json").exists())
    assert read_json(run_dir / "steps.json")["train"]["status"] == "running"
    assert not (run_dir / "model").exists()

    again = subprocess.run(HARNESS + ["run", str(path), "-o", str(run_dir)], capture_output=True, text=True, cwd=REPO)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "train (resuming)" in again.stdout
    assert read_json(run_dir / "train" / "metrics.json")["global_step"] == 16
    steps = [entry["step"] for entry in read_json(run_dir / "train" / "log_history.json") if "loss" in entry]
    assert steps == list(range(1, 17)), steps  # no gap, no repeat
    assert all(step["status"] == "done" for step in read_json(run_dir / "steps.json").values())
    assert (run_dir / "report" / "report.json").exists()


def test_eval_killed_midway_reuses_its_samples_and_ends_with_the_uninterrupted_summary(trained, tmp_path):
    args = [
        "eval",
        trained["reasoning"],
        "--suite",
        "reasoning",
        "--samples",
        80,
        "--set",
        "eval.batch_size=4",
        "--set",
        "eval.generation.max_new_tokens=64",
    ]
    whole = subprocess.run(
        HARNESS + [str(a) for a in args] + ["-o", str(tmp_path / "whole")], capture_output=True, cwd=REPO
    )
    assert whole.returncode == 0
    samples = tmp_path / "cut" / "reasoning" / "samples.jsonl"
    process = start([*args, "-o", tmp_path / "cut"])
    kill_when(process, lambda: samples.exists() and samples.read_text().count("\n") >= 16)
    finished = samples.read_text().count("\n")
    assert finished < 80 and not (tmp_path / "cut" / "reasoning" / "summary.json").exists()

    again = subprocess.run(
        HARNESS + [str(a) for a in args] + ["-o", str(tmp_path / "cut")], capture_output=True, cwd=REPO
    )
    assert again.returncode == 0
    assert read_json(tmp_path / "cut" / "reasoning" / "timing.json")["generated"] == 80 - finished
    assert (tmp_path / "cut" / "reasoning" / "summary.json").read_bytes() == (
        tmp_path / "whole" / "reasoning" / "summary.json"
    ).read_bytes()


def test_a_write_that_fails_midway_leaves_the_old_file_whole_and_no_debris(tmp_path, monkeypatch):
    target = tmp_path / "summary.json"
    write_json(target, {"version": 1})

    def crash(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="No space left"):
        write_json(target, {"version": 2, "big": "x" * 10_000})
    assert json.loads(target.read_text()) == {"version": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def test_every_run_folder_file_is_written_through_the_atomic_writer():
    """Outputs go through harness.files.write_text/write_json; the only exceptions are named here."""
    allowed = {
        ("run.py", ".lock"),  # the lock file itself
        ("run.py", "probe.write_text"),  # the writability probe
        ("samples.py", 'open("a"'),  # samples.jsonl: append-only, fsynced per chunk, a torn last line is dropped
        ("pretrain.py", 'open("a"'),  # log.jsonl: an append-only record; resuming reads state.json, not the log
        ("tiny.py", "config_file.write_text"),  # inside a staging folder renamed into place whole
    }
    direct = re.compile(r"\.write_text\(|\.write_bytes\(|open\([^)]*['\"][wa]['\"]|json\.dump\(|\.to_json\(|\.to_csv\(")
    found = []
    for path in (REPO / "harness").rglob("*.py"):
        if path.name == "files.py":
            continue
        for line in path.read_text().splitlines():
            if direct.search(line) and not any(path.name == name and marker in line for name, marker in allowed):
                found.append(f"{path.relative_to(REPO)}: {line.strip()}")
    assert not found, "non-atomic writes:\n" + "\n".join(found)


def test_a_second_run_on_a_locked_folder_is_refused_without_touching_it(tmp_path):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump({"name": "locked", "mode": "chat", "data": {"sources": [{"builtin": "chat"}]}}))
    run_dir = tmp_path / "run"
    with run_lock(run_dir):
        result = subprocess.run(
            HARNESS + ["run", str(recipe), "-o", str(run_dir)], capture_output=True, text=True, cwd=REPO
        )
    assert result.returncode != 0
    assert f"{run_dir} is in use by another harness run" in result.stderr
    assert sorted(p.name for p in run_dir.iterdir()) == [".lock"]


def test_a_nearly_full_disk_and_an_unwritable_folder_are_reported_before_any_work(tmp_path):
    with pytest.raises(RunError, match=r"MiB free on its disk; a run needs at least"):
        check_writable(tmp_path / "run", needed_bytes=2**62)
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    with pytest.raises(RunError, match="cannot write the run folder"):
        check_writable(blocked / "run")


def test_a_torn_last_line_in_a_samples_file_is_dropped_not_fatal(trained, tmp_path):
    from harness.evaluate.runner import evaluate
    from harness.recipe import EvalSettings, GenerationSettings, SuiteSettings

    settings = EvalSettings(
        backend="transformers",
        generation=GenerationSettings(max_new_tokens=16),
        suites=[SuiteSettings(suite="chat", samples=6)],
    )
    evaluate(trained["chat"], settings, tmp_path)
    reference = (tmp_path / "chat" / "summary.json").read_bytes()
    samples = tmp_path / "chat" / "samples.jsonl"
    samples.write_bytes(samples.read_bytes()[:-25])  # killed while writing the last record
    evaluate(trained["chat"], settings, tmp_path)
    assert (tmp_path / "chat" / "summary.json").read_bytes() == reference
    assert len(samples.read_text().splitlines()) == 6
