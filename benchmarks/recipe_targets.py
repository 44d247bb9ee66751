"""Train and evaluate each shipped recipe on the embedded default and check its stated target.

    python benchmarks/recipe_targets.py                 # all four recipes
    python benchmarks/recipe_targets.py reasoning chat  # some of them

Runs `harness run recipes/<mode>.yaml` into runs/bench-<mode> (from scratch), then prints the train
time, the whole run's time and the headline metric of the base and the tuned model, and writes
benchmarks/results/recipe_targets.json.
"""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# mode -> (suite, metric, target for the tuned model, train-time target in seconds)
TARGETS = {
    "reasoning": ("reasoning", "accuracy", 0.80, 300),
    "tools": ("tools", "call_accuracy", 0.80, 300),
    "chat": ("chat", "accuracy", 0.80, 300),
    "instruct": ("instruct", "seen", 0.70, 300),
}


def main(modes: list[str]) -> None:
    rows = []
    for mode in modes:
        run_dir = REPO / "runs" / f"bench-{mode}"
        shutil.rmtree(run_dir, ignore_errors=True)
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "harness.cli", "run", str(REPO / "recipes" / f"{mode}.yaml"),
                        "-o", str(run_dir)], check=True)  # fmt: skip
        total = time.perf_counter() - started
        suite, metric, target, train_target = TARGETS[mode]
        steps = json.loads((run_dir / "steps.json").read_text())
        value = {}
        for model in ("base", "tuned"):
            metrics = json.loads((run_dir / "eval" / model / suite / "summary.json").read_text())["metrics"]
            value[model] = metrics[metric]
        rows.append({"mode": mode, "suite": suite, "metric": metric, "base": value["base"], "tuned": value["tuned"],
                     "target": target, "met": value["tuned"] >= target, "train_seconds": steps["train"]["seconds"],
                     "train_target_seconds": train_target, "run_seconds": round(total, 1)})  # fmt: skip
    print(f"{'mode':10} {'metric':16} {'base':>6} {'tuned':>6} {'target':>6} {'train s':>8} {'run s':>7}")
    for r in rows:
        print(f"{r['mode']:10} {r['metric']:16} {r['base']:6.2f} {r['tuned']:6.2f} {r['target']:6.2f} "
              f"{r['train_seconds']:8.0f} {r['run_seconds']:7.0f}  {'met' if r['met'] else 'NOT met'}")  # fmt: skip
    out = REPO / "benchmarks" / "results" / "recipe_targets.json"
    out.parent.mkdir(exist_ok=True)
    earlier = json.loads(out.read_text())["rows"] if out.exists() else []  # keep the modes not rerun
    rows = [r for r in earlier if r["mode"] not in modes] + rows
    out.write_text(json.dumps({"machine": f"{platform.machine()}, {platform.processor() or '?'}, "
                                          f"{__import__('os').cpu_count()} cores", "rows": rows}, indent=2) + "\n")  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1:] or list(TARGETS))
