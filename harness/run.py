"""`harness run`: train -> eval (base and tuned) -> report, each step its own process, resumable.

Train and eval run as separate processes: vLLM does not give GPU memory back inside a process, and
accelerate / DeepSpeed environment variables must not leak into evaluation. `steps.json` in the run
folder records each finished step with the hash of the recipe it ran; a rerun skips those, resumes an
interrupted training from its last checkpoint and an interrupted eval from its finished samples.
A lock file keeps a second `harness run` off the same folder.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import shutil
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from harness.files import read_json, write_json, write_text
from harness.launch import IN_PROCESS, Launcher
from harness.recipe import Recipe
from harness.run_folder import RunFolder

log = logging.getLogger(__name__)
STEPS = ("train", "eval_base", "eval_tuned", "report")
# Launcher variables of the training step that must not reach evaluation.
TRAINING_ENV_PREFIXES = (
    "ACCELERATE_",
    "DEEPSPEED_",
    "DS_",
    "FSDP_",
    "LOCAL_RANK",
    "RANK",
    "WORLD_SIZE",
    "MASTER_ADDR",
    "MASTER_PORT",
    "LOCAL_WORLD_SIZE",
    "GROUP_RANK",
    "ROLE_RANK",
    "TORCHELASTIC_",
)


class RunError(RuntimeError):
    pass


@dataclass
class Step:
    name: str
    command: list[str]
    clean_env: bool  # drop training launcher variables


def recipe_hash(recipe: Recipe) -> str:
    return hashlib.sha256(recipe.dump().encode()).hexdigest()[:16]


def plan(recipe: Recipe, run_dir: Path, launcher: Launcher = IN_PROCESS) -> list[Step]:
    """With a launcher, training runs under it (its accelerate config: DDP, FSDP, DeepSpeed) and evaluation
    with the transformers backend shards over as many plain processes; vLLM parallelises by itself."""
    from harness.evaluate.backends import pick_backend

    folder = RunFolder(run_dir)
    resolved = str(folder.recipe)
    base = recipe.model.name
    shard_eval = launcher.active and pick_backend(recipe.eval.backend, sharded=True) == "transformers"
    evaluator = launcher if shard_eval else Launcher()
    return [
        Step("train", launcher.wrap(["train", resolved, "-o", str(run_dir)]), clean_env=False),
        Step(
            "eval_base",
            evaluator.wrap(["eval", base, "--recipe", resolved, "-o", str(folder.eval_dir("base"))], with_config=False),
            True,
        ),
        Step(
            "eval_tuned",
            evaluator.wrap(
                ["eval", str(run_dir), "--recipe", resolved, "-o", str(folder.eval_dir("tuned"))], with_config=False
            ),
            True,
        ),
        Step("report", Launcher().wrap(["report", str(run_dir)]), True),
    ]


@contextmanager
def run_lock(run_dir: Path):
    run_dir.mkdir(parents=True, exist_ok=True)
    handle = RunFolder(run_dir).lock.open("w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise RunError(
            f"{run_dir} is in use by another harness run (lock: {RunFolder(run_dir).lock}); "
            "wait for it to finish or choose another --output"
        ) from None
    try:
        handle.write(str(os.getpid()))
        handle.flush()
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def check_writable(run_dir: Path, needed_bytes: int = 200 * 2**20) -> None:
    """Fail before the long work when the run folder cannot be written or the disk is nearly full."""
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as error:
        raise RunError(f"{run_dir}: cannot write the run folder ({error.strerror})") from None
    free = shutil.disk_usage(run_dir).free
    if free < needed_bytes:
        raise RunError(
            f"{run_dir}: only {free // 2**20} MiB free on its disk; a run needs at least {needed_bytes // 2**20} MiB"
        )


def step_env(clean: bool) -> dict:
    env = dict(os.environ)
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    if clean:
        for key in list(env):
            if key.startswith(TRAINING_ENV_PREFIXES):
                del env[key]
    return env


def run(
    recipe: Recipe,
    run_dir: Path,
    force: tuple[str, ...] = (),
    dry_run: bool = False,
    echo=print,
    launcher: Launcher = IN_PROCESS,
    shared_base: Path | None = None,
) -> dict:
    """`shared_base`: a finished evaluation of the base model on the same suites (a study's, made once for
    all its runs), copied in as this run's `eval/base` instead of evaluating the base again."""
    steps = plan(recipe, run_dir, launcher)
    digest = recipe_hash(recipe)
    folder = RunFolder(run_dir)
    state_path = folder.steps
    state = read_json(state_path) if state_path.exists() else {}
    if dry_run:
        echo(recipe.dump())
        for step in steps:
            done = state.get(step.name, {}).get("recipe_hash") == digest and step.name not in force
            echo(f"{'skip' if done else 'run '}  {step.name}: {' '.join(step.command[1:])}")
        return state
    check_writable(run_dir)
    with run_lock(run_dir):
        # Steps run on a copy of the recipe with relative paths resolved against the original's folder.
        write_text(folder.recipe, recipe.dump())  # its paths made absolute as it loaded: it runs from here
        redo = set(force)
        previous_base = state.get("eval_base", {})
        base_done = previous_base.get("status") == "done" and previous_base.get("recipe_hash") == digest
        base_done = base_done and "eval_base" not in redo
        if shared_base is not None and not base_done:
            shutil.rmtree(folder.eval_dir("base"), ignore_errors=True)
            shutil.copytree(shared_base, folder.eval_dir("base"))
            state["eval_base"] = {"recipe_hash": digest, "status": "done", "seconds": 0, "shared": str(shared_base)}
            write_json(state_path, state)
        for index, step in enumerate(steps, start=1):
            previous = state.get(step.name, {})
            same_recipe = previous.get("recipe_hash") == digest
            if same_recipe and previous.get("status") == "done" and step.name not in redo:
                echo(f"[{index}/{len(steps)}] {step.name}: done earlier, skipped")
                continue
            command = list(step.command)
            if step.name == "train":
                if same_recipe and previous.get("status") == "running" and step.name not in redo:
                    command.append("--resume")  # interrupted: continue from its last checkpoint
                else:  # a new recipe or a forced redo starts from scratch, and older evals are stale
                    shutil.rmtree(folder.train, ignore_errors=True)
                    redo |= {"eval_tuned", "report"}
            if step.name.startswith("eval") and step.name in redo:
                shutil.rmtree(folder.eval_dir(step.name.removeprefix("eval_")), ignore_errors=True)
            echo(f"[{index}/{len(steps)}] {step.name}{' (resuming)' if '--resume' in command else ''} ...")
            state[step.name] = {"recipe_hash": digest, "status": "running"}
            write_json(state_path, state)
            started = time.perf_counter()
            result = subprocess.run(command, env=step_env(step.clean_env))
            if result.returncode != 0:
                raise RunError(
                    f"step {step.name} failed (exit code {result.returncode}); fix the cause and run again: "
                    "finished steps are kept"
                )
            state[step.name] = {
                "recipe_hash": digest,
                "status": "done",
                "seconds": round(time.perf_counter() - started, 1),
            }
            write_json(state_path, state)
    return state
