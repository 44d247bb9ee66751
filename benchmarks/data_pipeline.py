"""Data at hub scale: time to the first training step and peak memory, `harness train` against a bare TRL script.

    python benchmarks/data_pipeline.py [--rows 200000] [--row-chars 5000]

Writes a chat jsonl of `--rows` conversations (built-in chat turns, each user turn padded to about
`--row-chars` characters of varied words: 200,000 x 5,000 is about 1 GB), then runs, each in a fresh process:
`harness train` on it (the tiny model with 4,096 positions, one step, no checkpoint, no evaluation) and
`bare_trl_sft.py`, which
loads the same file with `load_dataset("json")` and gets the harness's saved SFTConfig. Reports process wall
time (to the end of the one step) and peak RSS. Goal (issue 17): harness at most 1.2x the time and 1.5x the
memory of the bare script.
"""

from __future__ import annotations

import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import REPO, case_parser, emit, run_case, save, table

WORDS = "alpha beta gamma delta river stone cloud amber forest signal paper window orbit garden copper".split()


def write_chat_file(path: Path, rows: int, row_chars: int) -> int:
    from harness.data import builtin

    turns = builtin.generate("chat", "train", 2000, 0)
    rng = random.Random(0)
    with path.open("w", encoding="utf-8") as stream:
        for index in range(rows):
            messages = [dict(m) for m in turns[index % len(turns)]["messages"]]
            filler = " ".join(rng.choice(WORDS) for _ in range(row_chars // 6))
            messages[0]["content"] = f"{filler}\n\n{messages[0]['content']}"
            stream.write(json.dumps({"messages": messages}) + "\n")
    return path.stat().st_size


def timed_child(command: list[str], datasets_cache: Path) -> dict:
    """Run in this (fresh) case process, so the children's peak RSS is this command's own. Each case gets an
    empty `datasets` cache of its own: both read the file cold, neither reuses the other's Arrow copy."""
    started = time.perf_counter()
    environment = {**os.environ, "HF_DATASETS_CACHE": str(datasets_cache)}
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO, env=environment)
    wall = time.perf_counter() - started
    cache_bytes = sum(f.stat().st_size for f in datasets_cache.rglob("*") if f.is_file())
    shutil.rmtree(datasets_cache, ignore_errors=True)  # 200,000 rows leave about 20 GB of Arrow files
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-3000:])
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {
        "wall_s": round(wall, 1),
        "child_peak_rss_mib": round(peak),
        "datasets_cache_gb": round(cache_bytes / 1e9, 1),
    }


def case_command(name: str, work: Path) -> list[str]:
    if name == "harness":
        return [
            sys.executable,
            "-m",
            "harness.cli",
            "train",
            str(work / "recipe.yaml"),
            "-o",
            str(work / "harness-run"),
        ]
    from harness.models.loading import resolve_model
    from harness.recipe import load_recipe

    recipe = load_recipe(work / "recipe.yaml")
    model = resolve_model(recipe.model.name, recipe.model.tiny, recipe.seed)
    return [sys.executable, "benchmarks/bare_trl_sft.py", model, str(work / "chat.jsonl")] + [
        str(work / "training_args.json"),
        str(work / "bare-run"),
    ]


def main() -> None:
    parser = case_parser(__doc__)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--row-chars", type=int, default=5000)
    parser.add_argument("--work", help="(internal) shared work folder")
    args = parser.parse_args()
    if args.case:
        emit(timed_child(case_command(args.case, Path(args.work)), Path(args.work) / f"{args.case}-datasets-cache"))
        return
    work = Path(tempfile.mkdtemp(prefix="harness-bench-data-"))
    data = work / "chat.jsonl"
    size = write_chat_file(data, args.rows, args.row_chars)
    (work / "recipe.yaml").write_text(
        "name: data-bench\nmode: chat\nmodel: {name: tiny, tiny: {max_position_embeddings: 4096}}\n"
        f"data: {{sources: [{{path: {data}}}]}}\n"
        "train: {max_steps: 1, per_device_train_batch_size: 8, max_length: 4096, save_strategy: 'no', "
        "logging_steps: 1, report_to: none}\n"
    )
    results = {"harness": run_case(__file__, "harness", "--work", str(work), timeout=7200)}
    saved = json.loads((work / "harness-run" / "model" / "training_args.json").read_text())
    (work / "training_args.json").write_text(json.dumps(saved))
    results["bare"] = run_case(__file__, "bare", "--work", str(work), timeout=7200)
    shutil.rmtree(work)
    rows = [[name, r["wall_s"], r["child_peak_rss_mib"], r["datasets_cache_gb"]] for name, r in results.items()]
    print(f"{args.rows} rows, {size / 1e9:.2f} GB")
    print(table(["trainer", "wall s to the end of step 1", "peak RSS MiB", "datasets cache GB"], rows))
    time_ratio = results["harness"]["wall_s"] / results["bare"]["wall_s"]
    memory_ratio = results["harness"]["child_peak_rss_mib"] / results["bare"]["child_peak_rss_mib"]
    print(f"\nharness / bare: {time_ratio:.2f}x time (goal <= 1.2), {memory_ratio:.2f}x peak RSS (goal <= 1.5)")
    output = {"rows": args.rows, "bytes": size, "results": results, "time_ratio": time_ratio}
    print(save("data_pipeline", {**output, "memory_ratio": memory_ratio}))


if __name__ == "__main__":
    main()
