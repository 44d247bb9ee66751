"""The vLLM backend against the transformers backend: engine start-up and steady-state throughput.

    python benchmarks/vllm_vs_transformers.py [--model PATH_OR_HUB_ID] [--prompts 240] [--repeats 3]

On this CPU it runs vLLM's CPU build; on a GPU machine the same command runs the GPU build (install
`vllm`; pass a hub model with --model for a meaningful size). Reports start-up time (model load and,
for vLLM, engine start) separately from steady-state generated tokens per second (median of timed
runs after a warm-up), and the eval-set size from which vLLM wins end to end:
    n* = (start_vllm - start_transformers) / (seconds per prompt, transformers - vLLM).
`eval.backend: auto` picks vLLM from that size on (harness/evaluate/backends/__init__.py).
Goal on a GPU (issue 6): vLLM at least 10x the tokens per second.
"""

from __future__ import annotations

import time

from common import case_parser, emit, run_case, save, table, timed
from generation import DEFAULT_MODEL, prompts


def main() -> None:
    parser = case_parser(__doc__)
    parser.add_argument("--model", default=str(DEFAULT_MODEL) if DEFAULT_MODEL.exists() else "tiny")
    parser.add_argument("--prompts", type=int, default=240)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    from harness.models.loading import resolve_model

    model_path = resolve_model(args.model)
    if args.case:
        from harness.evaluate.backends import Request
        from harness.recipe import GenerationSettings

        texts = prompts(model_path, args.prompts)
        started = time.perf_counter()
        if args.case == "vllm":
            from harness.evaluate.backends.vllm import VllmBackend

            backend = VllmBackend(model_path)
        else:
            from harness.evaluate.backends.transformers import TransformersBackend

            backend = TransformersBackend(model_path, batch_size=args.batch_size)
        startup = time.perf_counter() - started
        requests = [Request(text, []) for text in texts]
        settings = GenerationSettings(max_new_tokens=args.max_new_tokens, temperature=0.0)
        timing, outputs = timed(lambda: backend.generate(requests, settings), args.repeats)
        emit(
            {
                "startup_s": startup,
                **timing,
                "tokens": sum(o[0].tokens for o in outputs),
                "texts": [o[0].text for o in outputs],
            }
        )
        return

    results = {
        name: run_case(
            __file__,
            name,
            "--model",
            model_path,
            "--prompts",
            str(args.prompts),
            "--max-new-tokens",
            str(args.max_new_tokens),
            "--repeats",
            str(args.repeats),
            timeout=1800,
        )
        for name in ("transformers", "vllm")
    }
    same = sum(a == b for a, b in zip(results["vllm"].pop("texts"), results["transformers"].pop("texts"), strict=True))
    rows = []
    for name, r in results.items():
        r["tokens_per_s"] = r["tokens"] / r["median_s"]
        r["seconds_per_prompt"] = r["median_s"] / args.prompts
        rows.append(
            [
                name,
                f"{r['startup_s']:.1f}",
                f"{r['median_s']:.2f} ({r['min_s']:.2f}-{r['max_s']:.2f})",
                f"{r['tokens_per_s']:.0f}",
                r["peak_rss_mib"],
            ]
        )
    vllm, hf = results["vllm"], results["transformers"]
    speedup = vllm["tokens_per_s"] / hf["tokens_per_s"]
    gain = hf["seconds_per_prompt"] - vllm["seconds_per_prompt"]
    crossover = (vllm["startup_s"] - hf["startup_s"]) / gain if gain > 0 else None
    print(
        table(["backend", "start-up s", f"{args.prompts} prompts s (min-max)", "generated tok/s", "peak RSS MiB"], rows)
    )
    print(
        f"\nvLLM / transformers steady-state tokens per second: {speedup:.2f}x; "
        f"identical outputs {same}/{args.prompts}; "
        + (
            f"vLLM wins end to end from {crossover:.0f} prompts"
            if crossover is not None
            else "vLLM never wins end to end here"
        )
    )
    print(
        save(
            "vllm_vs_transformers",
            {
                "model": args.model,
                "prompts": args.prompts,
                "max_new_tokens": args.max_new_tokens,
                "results": results,
                "speedup": speedup,
                "crossover_prompts": crossover,
                "identical_outputs": same,
            },
        )
    )


if __name__ == "__main__":
    main()
