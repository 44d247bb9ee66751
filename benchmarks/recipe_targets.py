"""Train and evaluate each shipped recipe on the embedded default, for several seeds, against its targets.

    python benchmarks/recipe_targets.py                          # all four recipes, seeds 0 1 2
    python benchmarks/recipe_targets.py reasoning --seeds 0 1 2  # some of them

Runs `harness run recipes/<mode>.yaml --set seed=S` into runs/bench-<mode>-s<S> (from scratch; the seed
picks the data drawn and their order, and for a `tiny` recipe the model's initial weights and tokenizer
corpus too; the `embedded` base is the same for every seed), then prints
the headline metric of the base and the tuned model per seed with its min and median, the train time
and the whole run's wall time, and writes benchmarks/results/recipe_targets.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
# mode -> (suite, metric, target for the tuned model, wall-time target in seconds) from the table
TARGETS = {
    "reasoning": ("reasoning", "accuracy", 0.95, 300),
    "chat": ("chat", "accuracy", 0.90, 300),
    "tools": ("tools", "call_accuracy", 0.90, 300),
    "instruct": ("instruct", "seen", 0.90, 600),  # seen: mean over the clusters trained on (the report's)
}


def run_once(mode: str, seed: int, collect: bool = False) -> dict:
    """Run the recipe from scratch (or, with `collect`, read the run folder an earlier run left)."""
    run_dir = REPO / "runs" / f"bench-{mode}-s{seed}"
    if collect:
        steps = json.loads((run_dir / "steps.json").read_text())
        return _figures(mode, seed, run_dir, sum(step["seconds"] for step in steps.values()))
    shutil.rmtree(run_dir, ignore_errors=True)
    started = time.perf_counter()
    command = [
        sys.executable,
        "-m",
        "harness.cli",
        "run",
        str(REPO / "recipes" / f"{mode}.yaml"),
        "-o",
        str(run_dir),
        "--set",
        f"seed={seed}",
    ]
    subprocess.run(command, check=True)
    return _figures(mode, seed, run_dir, time.perf_counter() - started)


def _figures(mode: str, seed: int, run_dir: Path, wall: float) -> dict:
    suite, metric, _, _ = TARGETS[mode]
    steps = json.loads((run_dir / "steps.json").read_text())
    metrics = {
        model: json.loads((run_dir / "eval" / model / suite / "summary.json").read_text())["metrics"]
        for model in ("base", "tuned")
    }
    clusters = json.loads((run_dir / "report" / "report.json").read_text())["runs"][0].get("clusters", {})
    for model in metrics:  # instruct: seen and held-out clusters as the report's zero-shot section scores them
        for status, key in (("seen", "seen"), ("held-out", "held_out")):
            values = [c[model]["value"] for c in clusters.values() if c["status"] == status and model in c]
            metrics[model][key] = round(sum(values) / len(values), 4) if values else None
    values = {model: metrics[model][metric] for model in metrics}
    extra = {f"{model}_held_out": metrics[model]["held_out"] for model in metrics}
    for model in metrics:  # tools: the targets are per tool set (seen / unseen tools)
        for tool_set, value in metrics[model].get("by_tool_set", {}).items():
            extra[f"{model}_{tool_set}_tools"] = value
        if "multi_step" in metrics[model].get("by_category", {}):  # conversations played in the tools worlds
            extra[f"{model}_multi_step"] = metrics[model]["by_category"]["multi_step"]
    return {"seed": seed, **values, **extra, "train_seconds": steps["train"]["seconds"], "wall_seconds": round(wall, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("modes", nargs="*", help=f"recipes to run (default: all of {list(TARGETS)})")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument(
        "--collect", action="store_true", help="read the runs/bench-* folders left by an earlier run (wall = step sum)"
    )
    args = parser.parse_args()
    args.modes = args.modes or list(TARGETS)
    unknown = [mode for mode in args.modes if mode not in TARGETS]
    if unknown:
        parser.error(f"unknown recipe(s) {unknown}; choose from {list(TARGETS)}")
    rows = []
    for mode in args.modes:
        suite, metric, target, wall_target = TARGETS[mode]
        runs = [run_once(mode, seed, args.collect) for seed in args.seeds]
        tuned = [r["tuned"] for r in runs]
        walls = [r["wall_seconds"] for r in runs]
        recipe = yaml.safe_load((REPO / "recipes" / f"{mode}.yaml").read_text())
        rows.append(
            {
                "mode": mode,
                "model": recipe["model"]["name"],
                "suite": suite,
                "metric": metric,
                "seeds": args.seeds,
                "runs": runs,
                "tuned_min": min(tuned),
                "tuned_median": statistics.median(tuned),
                "base_max": max(r["base"] for r in runs),
                "target": target,
                "met": min(tuned) >= target,
                "wall_max": max(walls),
                "wall_target": wall_target,
                "wall_met": max(walls) <= wall_target,
            }
        )
    print(
        f"{'mode':10} {'metric':14} {'seeds':8} {'base':>6} {'tuned min':>9} {'median':>7} "
        f"{'target':>6} {'wall max':>8}"
    )
    for r in rows:
        print(
            f"{r['mode']:10} {r['metric']:14} {','.join(map(str, r['seeds'])):8} {r['base_max']:6.3f} "
            f"{r['tuned_min']:9.3f} {r['tuned_median']:7.3f} {r['target']:6.2f} {r['wall_max']:8.0f}  "
            f"{'met' if r['met'] and r['wall_met'] else 'NOT met'}"
        )
    out = REPO / "benchmarks" / "results" / "recipe_targets.json"
    out.parent.mkdir(exist_ok=True)
    earlier = json.loads(out.read_text()).get("rows", []) if out.exists() else []
    rows = [r for r in earlier if r["mode"] not in args.modes and "runs" in r] + rows  # keep the modes not rerun
    machine = f"{platform.machine()}, {platform.processor() or '?'}, {os.cpu_count()} cores, no GPU"
    out.write_text(json.dumps({"machine": machine, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
