"""Shared by the benchmark scripts: cases in fresh processes (peak memory per case), medians, tables, JSON.

Every figure is the median of `--repeats` timed runs after one warm-up run, with the spread (min-max).
A case runs in its own process so its peak memory (max RSS, and max CUDA memory on a GPU) is its own.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

# Where `save` writes; HARNESS_BENCH_RESULTS sends a run elsewhere (gpu.py's parts, smoke runs).
RESULTS = Path(os.environ.get("HARNESS_BENCH_RESULTS") or Path(__file__).resolve().parent / "results")
REPO = Path(__file__).resolve().parent.parent


def machine() -> dict:
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {
        "cpu_cores": os.cpu_count(),
        "gpu": gpu,
        "platform": platform.platform(),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }


def timed(function, repeats: int) -> tuple[dict, object]:
    """One warm-up call, then `repeats` timed calls: {median_s, min_s, max_s, runs_s}, last result."""
    result = function()
    runs = []
    for _ in range(repeats):
        started = time.perf_counter()
        result = function()
        runs.append(time.perf_counter() - started)
    return {"median_s": statistics.median(runs), "min_s": min(runs), "max_s": max(runs), "runs_s": runs}, result


def peak_memory_mib() -> dict:
    import torch

    memory = {"peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    if torch.cuda.is_available():
        memory["peak_cuda_mib"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return memory


def run_case(script: str, case: str, *args: str, env: dict | None = None, timeout: int = 3600) -> dict:
    """Run `python <script> --case <case> ...` in a fresh process; its last stdout line is the JSON result."""
    command = [sys.executable, script, "--case", case, *args]
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=timeout,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", **(env or {})},
    )
    if result.returncode != 0:
        raise RuntimeError(f"case {case} failed:\n{result.stderr[-4000:]}")
    for line in reversed(result.stdout.strip().splitlines()):  # engines may log to stdout after it
        if line.startswith('{"'):
            return json.loads(line)
    raise RuntimeError(f"case {case} printed no result:\n{result.stdout[-2000:]}")


def emit(data: dict) -> None:
    """A case's result, as the last line of its stdout."""
    print(json.dumps({**data, **peak_memory_mib()}), flush=True)


def case_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--case", help="(internal) run one case in this process")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per case, after one warm-up")
    return parser


def save(name: str, data: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), "date": time.strftime("%Y-%m-%d"), **data}, indent=2) + "\n")
    return path


def table(headers: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def spread(timing: dict) -> str:
    return f"{timing['median_s']:.2f} s ({timing['min_s']:.2f}-{timing['max_s']:.2f})"
