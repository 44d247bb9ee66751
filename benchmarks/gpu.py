"""The GPU check of issue 17, one prepared script: about 8 minutes on one H100, no internet.

    bash benchmarks/gpu.sh [OUT]     # installs the wheels in .whl (if any), then runs this

1. `harness run recipes/reasoning.yaml` on the embedded default: wall time per step, tuned accuracy
   (the CPU figure: 97% in 263-272 s on 2 cores; the goal on the GPU: within 5 points of it).
2. harness vs bare TRL, time per step (`training.py`'s overhead part) on a random-init model of a real
   architecture: Qwen2.5-0.5B's configuration, bfloat16, 2,048-token sequences, padding-free packing.
3. The transformers backend vs plain `model.generate` on the same 240 reasoning prompts (`generation.py`),
   with part 1's tuned model (natural output lengths) and with part 2's Qwen-shaped one (real size).
Each part has its own time limit; a part that fails is recorded with its error and the next one runs.
Writes OUT/gpu.json (default benchmarks/results) after every part, with the card's name.
`--smoke` runs every part at toy size (a CPU can check the script itself in a few minutes).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import REPO, machine

# Qwen/Qwen2.5-0.5B's config.json (the architecture; the weights are random: nothing is downloaded).
QWEN_05B = {
    "hidden_size": 896,
    "intermediate_size": 4864,
    "num_hidden_layers": 24,
    "num_attention_heads": 14,
    "num_key_value_heads": 2,
    "vocab_size": 151936,
    "max_position_embeddings": 32768,
    "rope_theta": 1000000.0,
    "rms_norm_eps": 1e-6,
    "tie_word_embeddings": True,
    "hidden_act": "silu",
}
SMOKE = {**QWEN_05B, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 2}


def run(command: list[str], limit: int, work: Path) -> tuple[float, str]:
    """Run a part's command; the benchmark scripts write their JSON into work/results, not the repository's."""
    started = time.perf_counter()
    environment = {**os.environ, "HARNESS_BENCH_RESULTS": str(work / "results")}
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=limit, env=environment)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:6])} ... exit {result.returncode}:\n{result.stderr[-3000:]}")
    return time.perf_counter() - started, result.stdout


def reasoning_run(work: Path, smoke: bool) -> dict:
    out = work / "reasoning"
    command = [sys.executable, "-m", "harness.cli", "run", "recipes/reasoning.yaml", "-o", str(out)]
    if smoke:
        command += ["--set", "train.max_steps=20", "--set", "eval.suites.0.samples=10"]
    wall, _ = run(command, 360, work)
    steps = json.loads((out / "steps.json").read_text())
    board = json.loads((out / "report" / "report.json").read_text())
    tuned = next(row for row in board["rows"] if not row["is_base"])
    return {
        "wall_s": round(wall, 1),
        "step_seconds": {name: step.get("seconds") for name, step in steps.items()},
        "tuned": {name: result["value"] for name, result in tuned["results"].items()},
    }


def qwen_shaped_model(work: Path, smoke: bool) -> Path:
    """A random-init model of Qwen2.5-0.5B's shape in bfloat16, with the embedded base's tokenizer (its ids
    are a subset of the vocabulary, so the embedding and output layers keep their real size)."""
    import torch
    from transformers import AutoModelForCausalLM, Qwen2Config

    from harness.models.loading import load_tokenizer, resolve_model

    tokenizer = load_tokenizer(resolve_model("embedded"))
    config = Qwen2Config(
        **(SMOKE if smoke else QWEN_05B),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    folder = work / "qwen2.5-0.5b-shape"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def training_overhead(work: Path, smoke: bool) -> dict:
    folder = qwen_shaped_model(work, smoke)
    settings = {
        "model.name": str(folder),
        "data.sources.0.samples": 800 if smoke else 8000,
        "train.per_device_train_batch_size": 2 if smoke else 8,
        "train.max_length": 256 if smoke else 2048,
        "train.packing": "true",
        "train.padding_free": "true",
        "train.learning_rate": "1e-4",
        "eval.suites": "[]",
    }
    command = [sys.executable, "benchmarks/training.py", "--part", "overhead", "--steps", "4" if smoke else "30"]
    command += ["--repeats", "1"]
    for key, value in settings.items():
        command += ["--set", f"{key}={value}"]
    _, stdout = run(command, 300, work)
    result = json.loads((work / "results" / "training_overhead.json").read_text())
    return {"printed": stdout[-1500:], **result["overhead"]}


def generation(work: Path, smoke: bool) -> dict:
    results = {}
    models = {"tuned reasoning": work / "reasoning", "qwen2.5-0.5b shape": work / "qwen2.5-0.5b-shape"}
    for name, model in models.items():
        if not model.exists():  # its part failed
            continue
        command = [sys.executable, "benchmarks/generation.py", "--model", str(model), "--reference", "generate"]
        command += ["--prompts", "16" if smoke else "240", "--repeats", "1" if smoke else "2"]
        command += ["--lm-eval-batch-sizes", "8" if smoke else "32,64"]
        _, stdout = run(command, 150, work)
        result = json.loads((work / "results" / "generation_vs_generate.json").read_text())
        results[name] = {"printed": stdout[-1500:], **result}
    return results


PARTS = {"reasoning_run": reasoning_run, "training_overhead": training_overhead, "generation": generation}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    parser.add_argument("--smoke", action="store_true", help="toy sizes: check the script itself, on any machine")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="harness-gpu-"))
    results: dict = {"machine": machine(), "date": time.strftime("%Y-%m-%d"), "smoke": args.smoke, "parts": {}}
    out = Path(args.out) / ("gpu_smoke.json" if args.smoke else "gpu.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    for name, part in PARTS.items():
        started = time.perf_counter()
        try:
            results["parts"][name] = part(work, args.smoke)
        except Exception as error:  # the next part still runs; the error is the result
            results["parts"][name] = {"error": f"{type(error).__name__}: {error}"[-4000:]}
        results["parts"][name]["part_seconds"] = round(time.perf_counter() - started, 1)
        out.write_text(json.dumps(results, indent=2))
        print(f"{name}: {json.dumps(results['parts'][name])[:600]}", flush=True)
    print(f"results in {out}")


if __name__ == "__main__":
    main()
