"""Training: `harness train` against a bare TRL script, and batching strategies on variable-length data.

    python benchmarks/training.py [--steps 120] [--repeats 3] [--part overhead|batching|both]
                                  [--recipe recipes/reasoning.yaml] [--set KEY=VALUE ...]

1. Overhead: a recipe's data and SFTConfig (the reasoning recipe's by default, with `--set` overrides; the
   harness's saved `training_args.json`, no checkpoints, no evaluation during training) run by `harness
   train` and by `bare_trl_sft.py`: steps per second of the training loop, whole-process wall time, peak
   memory. Goal: ratio at most 1.02.
2. Batching: conversations of 20-500 tokens (built-in chat turns chained), one epoch, with naive padded
   batches, length-grouped batches, padding-free batches, and packing (bfd, wrapped): real (non-pad)
   tokens per second and the share of compute wasted on padding. Goal: best at least 1.3x naive.
Each case runs in fresh processes; peak memory is the training process's max RSS.
"""

from __future__ import annotations

import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import REPO, case_parser, emit, run_case, save, table

HARNESS = [sys.executable, "-m", "harness.cli"]
BATCHING = {  # name -> SFTConfig fields
    "naive padding": {},
    "group_by_length": {"train_sampling_strategy": "group_by_length"},
    "padding_free": {"padding_free": True, "max_length": None},  # TRL: no truncation without packing
    "packing bfd": {"packing": True, "packing_strategy": "bfd"},
    "packing wrapped": {"packing": True, "packing_strategy": "wrapped"},
}


def child_peak_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)


def repeat(command: list[str], metrics_of, repeats: int) -> dict:
    """Warm-up run, then `repeats` runs: loop seconds (the trainer's train_runtime) and process wall seconds."""
    loops, walls, last = [], [], None
    for attempt in range(repeats + 1):
        started = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
        if result.returncode != 0:
            raise RuntimeError(result.stderr[-3000:])
        wall = time.perf_counter() - started
        last = metrics_of(result)
        if attempt:
            loops.append(last["train_runtime"])
            walls.append(wall)
    return {
        "loop_s": statistics.median(loops),
        "loop_min_s": min(loops),
        "loop_max_s": max(loops),
        "wall_s": statistics.median(walls),
        "wall_min_s": min(walls),
        "wall_max_s": max(walls),
        "global_step": last["global_step"],
        "loss": last.get("loss"),
        "peak_rss_mib": child_peak_mib(),
    }


def overhead_case(name: str, work: Path, steps: int, repeats: int, recipe: str, extra: list[str]) -> dict:
    overrides = [
        *extra,
        "--set",
        f"train.max_steps={steps}",
        "--set",
        "train.save_strategy=no",
        "--set",
        "eval.during_training=null",
        "--set",
        "train.disable_tqdm=true",
        "--set",
        "train.logging_steps=10",
    ]
    if name == "harness":
        out = work / "harness-run"
        command = HARNESS + ["train", recipe, "-o", str(out), *overrides]

        def metrics(_):
            data = json.loads((out / "train" / "metrics.json").read_text())
            history = json.loads((out / "train" / "log_history.json").read_text())
            return {**data, "loss": [e["loss"] for e in history if "loss" in e]}
    else:
        command = [
            sys.executable,
            "benchmarks/bare_trl_sft.py",
            str(work / "model"),
            str(work / "data.jsonl"),
            str(work / "training_args.json"),
            str(work / "bare-run"),
            json.loads((work / "probe" / "model" / "config.json").read_text()).get("dtype", "float32"),
        ]

        def metrics(result):
            return json.loads(result.stdout.strip().splitlines()[-1])

    return repeat(command, metrics, repeats)


def prepare_overhead(work: Path, steps: int, recipe_path: str, extra: list[str]) -> None:
    """The exact rows, model and SFTConfig `harness train` uses, for the bare script."""
    from harness.data.sources import ORIGIN, build_mixture
    from harness.models.loading import load_tokenizer, resolve_model
    from harness.recipe import load_recipe

    recipe = load_recipe(REPO / recipe_path, [value for value in extra if value != "--set"])
    model = resolve_model(recipe.model.name, recipe.model.tiny, recipe.seed)
    (work / "model").symlink_to(model)
    dataset, _ = build_mixture(recipe, recipe.data.sources, tokenizer=load_tokenizer(model))
    dataset.remove_columns(list(ORIGIN)).to_json(str(work / "data.jsonl"))  # the harness's bookkeeping
    out = work / "probe"
    subprocess.run(
        HARNESS
        + [
            "train",
            recipe_path,
            "-o",
            str(out),
            *extra,
            "--set",
            "train.max_steps=1",
            "--set",
            "train.save_strategy=no",
            "--set",
            "eval.during_training=null",
        ],
        check=True,
        capture_output=True,
        cwd=REPO,
    )
    saved = json.loads((out / "model" / "training_args.json").read_text())
    saved.update(max_steps=steps, logging_steps=10, disable_tqdm=True)
    (work / "training_args.json").write_text(json.dumps(saved))


def variable_length_data(work: Path, conversations: int = 400) -> dict:
    """Chained built-in chat turns, 20-500 template tokens each; their lengths; naive padding waste."""
    from harness.data.builtin import generate
    from harness.data.formats import canonical_row
    from harness.models.loading import load_tokenizer, resolve_model

    tokenizer = load_tokenizer(resolve_model("tiny"))
    rng = random.Random(0)
    pool = [canonical_row(r, "chat")["messages"] for r in generate("chat", "train", 4000, 0)]
    rows, lengths = [], []
    while len(rows) < conversations:
        target = rng.randint(20, 500)
        messages = list(rng.choice(pool))
        while True:
            length = len(tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True)["input_ids"])
            if length >= target or length > 500:
                break
            messages += [m for m in rng.choice(pool) if m["role"] != "system"]
        if 20 <= length <= 500:
            rows.append({"messages": messages})
            lengths.append(length)
    (work / "variable.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    order = list(range(len(lengths)))
    random.Random(42).shuffle(order)
    padded = sum(8 * max(lengths[i] for i in order[s : s + 8]) for s in range(0, len(order), 8))
    return {
        "conversations": len(rows),
        "real_tokens": sum(lengths),
        "min": min(lengths),
        "max": max(lengths),
        "mean": round(statistics.mean(lengths), 1),
        "naive_padding_waste": round(1 - sum(lengths) / padded, 3),
    }


def batching_case(name: str, work: Path, repeats: int) -> dict:
    out = work / f"batching-{name.replace(' ', '-')}"
    recipe = work / "variable.yaml"
    settings = [f"--set=train.{k}={json.dumps(v)}" for k, v in BATCHING[name].items()]
    command = HARNESS + ["train", str(recipe), "-o", str(out), *settings]

    def metrics(_):
        return json.loads((out / "train" / "metrics.json").read_text())

    return repeat(command, metrics, repeats)


def write_variable_recipe(work: Path) -> None:
    import yaml

    recipe = {
        "name": "variable-length",
        "mode": "chat",
        "data": {"sources": [{"path": str(work / "variable.jsonl")}]},
        "train": {
            "num_train_epochs": 1,
            "per_device_train_batch_size": 8,
            "learning_rate": 1e-3,
            "max_length": 512,
            "save_strategy": "no",
            "logging_steps": 10,
            "disable_tqdm": True,
            "seed": 0,
        },
    }
    (work / "variable.yaml").write_text(yaml.safe_dump(recipe))


def main() -> None:
    parser = case_parser(__doc__)
    parser.add_argument("--steps", type=int, default=120)
    parser.add_argument("--part", choices=["overhead", "batching", "both"], default="both")
    parser.add_argument("--recipe", default="recipes/reasoning.yaml", help="overhead: the recipe trained")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="overhead: recipe overrides")
    parser.add_argument("--work", help="(internal) shared work folder")
    args = parser.parse_args()
    extra = [part for value in args.set for part in ("--set", value)]
    if args.case:
        kind, name = args.case.split(":", 1)
        work = Path(args.work)
        result = (
            overhead_case(name, work, args.steps, args.repeats, args.recipe, extra)
            if kind == "overhead"
            else batching_case(name, work, args.repeats)
        )
        emit(result)
        return
    work = Path(tempfile.mkdtemp(prefix="harness-bench-train-"))
    output = {"steps": args.steps, "repeats": args.repeats}
    if args.part in ("overhead", "both"):
        prepare_overhead(work, args.steps, args.recipe, extra)
        runs = {
            name: run_case(
                __file__,
                f"overhead:{name}",
                "--work",
                str(work),
                "--steps",
                str(args.steps),
                "--repeats",
                str(args.repeats),
                "--recipe",
                args.recipe,
                *extra,
            )
            for name in ("harness", "bare")
        }
        ratio = (runs["harness"]["loop_s"] / runs["harness"]["global_step"]) / (
            runs["bare"]["loop_s"] / runs["bare"]["global_step"]
        )
        rows = [
            [
                name,
                r["global_step"],
                f"{r['global_step'] / r['loop_s']:.2f}",
                f"{r['loop_s']:.1f} ({r['loop_min_s']:.1f}-{r['loop_max_s']:.1f})",
                f"{r['wall_s']:.1f} ({r['wall_min_s']:.1f}-{r['wall_max_s']:.1f})",
                r["peak_rss_mib"],
            ]
            for name, r in runs.items()
        ]
        print(
            table(["trainer", "steps", "steps/s", "loop s (min-max)", "process wall s (min-max)", "peak RSS MiB"], rows)
        )
        same_loss = runs["harness"]["loss"] == runs["bare"]["loss"]
        print(
            f"\nharness / bare TRL time per step: {ratio:.3f} (goal <= 1.02: {'met' if ratio <= 1.02 else 'not met'}); "
            f"identical loss curves: {same_loss}"
        )
        output["overhead"] = {"runs": runs, "ratio": ratio, "identical_loss": same_loss}
        save(f"training_{args.part}", output)  # each part as soon as it is done
    if args.part in ("batching", "both"):
        data = variable_length_data(work)
        write_variable_recipe(work)
        runs = {
            name: run_case(__file__, f"batching:{name}", "--work", str(work), "--repeats", str(args.repeats))
            for name in BATCHING
        }
        naive = data["real_tokens"] / runs["naive padding"]["loop_s"]
        rows = [
            [
                name,
                r["global_step"],
                f"{r['loop_s']:.1f} ({r['loop_min_s']:.1f}-{r['loop_max_s']:.1f})",
                f"{data['real_tokens'] / r['loop_s']:.0f}",
                f"{data['real_tokens'] / r['loop_s'] / naive:.2f}x",
                r["peak_rss_mib"],
            ]
            for name, r in runs.items()
        ]
        print(
            f"\n{data['conversations']} conversations, {data['min']}-{data['max']} tokens (mean {data['mean']}); "
            f"naive batches of 8 waste {data['naive_padding_waste']:.0%} of their tokens on padding"
        )
        print(table(["batching", "steps", "epoch s (min-max)", "real tok/s", "vs naive", "peak RSS MiB"], rows))
        output["batching"] = {"data": data, "runs": runs}
    print(save(f"training_{args.part}", output))


if __name__ == "__main__":
    main()
