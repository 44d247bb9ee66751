"""End to end: `harness run recipes/reasoning.yaml` on the embedded default, wall time per step.

    python benchmarks/end_to_end.py [--recipe recipes/reasoning.yaml] [--repeats 2]

Each repeat is a whole fresh run (every step forced) into runs/bench-e2e; the first, untimed run
builds the tiny model and warms the caches. Reports the median per step (train, eval_base,
eval_tuned, report), the total, and the headline accuracy. Goal (issue 6): at most 5 minutes on 2 cores.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import REPO, case_parser, save, table

STEPS = ("train", "eval_base", "eval_tuned", "report")


def one_run(recipe: str, run_dir: Path) -> dict:
    force = [arg for step in STEPS for arg in ("--force", step)]
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", recipe, "-o", str(run_dir), *force],
        check=True,
        capture_output=True,
        cwd=REPO,
    )
    total = time.perf_counter() - started
    steps = json.loads((run_dir / "steps.json").read_text())
    report = json.loads((run_dir / "report" / "report.json").read_text())
    tuned = next(row for row in report["rows"] if not row["is_base"])
    return {
        "total_s": total,
        **{step: steps[step]["seconds"] for step in STEPS},
        "tuned": {suite: result["value"] for suite, result in tuned["results"].items()},
    }


def main() -> None:
    parser = case_parser(__doc__)
    parser.set_defaults(repeats=2)
    parser.add_argument("--recipe", default="recipes/reasoning.yaml")
    parser.add_argument("--no-warmup", action="store_true", help="skip the untimed first run")
    args = parser.parse_args()
    run_dir = REPO / "runs" / "bench-e2e"
    if not args.no_warmup:
        one_run(args.recipe, run_dir)
    runs = [one_run(args.recipe, run_dir) for _ in range(args.repeats)]
    rows = []
    for key in (*STEPS, "total_s"):
        values = [r[key] for r in runs]
        rows.append(
            [key.removesuffix("_s"), f"{statistics.median(values):.0f} s ({min(values):.0f}-{max(values):.0f})"]
        )
    total = statistics.median(r["total_s"] for r in runs)
    print(table(["step", f"median of {args.repeats} (min-max)"], rows))
    print(
        f"\nwhole run {total:.0f} s (goal <= 300 s: {'met' if total <= 300 else 'not met'}); "
        f"tuned model: {runs[-1]['tuned']}"
    )
    print(save("end_to_end", {"recipe": args.recipe, "repeats": args.repeats, "runs": runs, "median_total_s": total}))


if __name__ == "__main__":
    main()
