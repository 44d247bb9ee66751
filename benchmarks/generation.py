"""Generation for evaluation: the harness's transformers backend against lm-eval's `hf` backend.

    python benchmarks/generation.py [--model PATH_OR_HUB_ID] [--prompts 240] [--max-new-tokens 128] [--repeats 3]

Same model, same rendered prompts (the reasoning suite through the model's chat template), greedy,
same max new tokens, the end-of-turn token as the stop. lm-eval runs at each batch size in
`--lm-eval-batch-sizes` and its best is the reference (`--reference generate`: plain `model.generate` on
left-padded batches instead, for machines without lm-eval); each case runs in a fresh process (its own peak
memory). Also checks that both produce the same texts. Goal (issue 6): harness wall time at most
0.7x lm-eval's best. Default model: the trained reasoning model of `recipe_targets.py`
(runs/bench-reasoning/model) when present, else the untrained tiny model.
"""

from __future__ import annotations

import hashlib
import json

from common import REPO, case_parser, emit, run_case, save, spread, table, timed

DEFAULT_MODEL = REPO / "runs" / "bench-reasoning" / "model"


def prompts(model_path: str, count: int) -> list[str]:
    from harness.evaluate.runner import render_prompt
    from harness.evaluate.suites import build_suite
    from harness.models.loading import load_tokenizer
    from harness.recipe import SuiteSettings

    tokenizer = load_tokenizer(model_path)
    suite = build_suite(SuiteSettings(suite="reasoning", samples=count))
    return [render_prompt(tokenizer, item, {}) for item in suite.items]


def run_harness(model_path: str, texts: list[str], batch_size: int, max_new_tokens: int, repeats: int) -> dict:
    from harness.evaluate.backends import Request
    from harness.evaluate.backends.transformers import TransformersBackend
    from harness.recipe import GenerationSettings

    backend = TransformersBackend(model_path, batch_size=batch_size)
    requests = [Request(text, []) for text in texts]
    settings = GenerationSettings(max_new_tokens=max_new_tokens, temperature=0.0)
    timing, outputs = timed(lambda: backend.generate(requests, settings), repeats)
    return {**timing, "texts": [o[0].text for o in outputs], "tokens": sum(o[0].tokens for o in outputs)}


def run_lm_eval(model_path: str, texts: list[str], batch_size: int, max_new_tokens: int, repeats: int) -> dict:
    import torch
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    from harness.models.loading import load_tokenizer

    cuda = torch.cuda.is_available()
    model = HFLM(
        pretrained=model_path,
        batch_size=batch_size,
        device="cuda" if cuda else "cpu",
        dtype="bfloat16" if cuda else "float32",
        max_length=2048,
    )
    stop = load_tokenizer(model_path).eos_token
    requests = [
        Instance("generate_until", {}, (text, {"until": [stop], "max_gen_toks": max_new_tokens, "do_sample": False}), i)
        for i, text in enumerate(texts)
    ]
    timing, outputs = timed(lambda: model.generate_until(requests, disable_tqdm=True), repeats)
    tokenizer = load_tokenizer(model_path)
    return {
        **timing,
        "texts": outputs,
        "tokens": sum(len(tokenizer(o, add_special_tokens=False)["input_ids"]) for o in outputs),
    }


def run_generate(model_path: str, texts: list[str], batch_size: int, max_new_tokens: int, repeats: int) -> dict:
    """Plain `model.generate` on left-padded batches in prompt order: what a user's own loop does."""
    import torch

    from harness.models.loading import load_model, load_tokenizer
    from harness.models.template_checks import stop_token_ids

    tokenizer = load_tokenizer(model_path)
    tokenizer.padding_side = "left"
    model = load_model(model_path).eval().to("cuda" if torch.cuda.is_available() else "cpu")
    stops = sorted(stop_token_ids(tokenizer, model.generation_config.eos_token_id))

    def generate_all() -> list[list[int]]:
        outputs = []
        for start in range(0, len(texts), batch_size):
            batch = texts[start : start + batch_size]
            inputs = tokenizer(batch, return_tensors="pt", padding=True, add_special_tokens=False)
            with torch.inference_mode():
                generated = model.generate(
                    **inputs.to(model.device),
                    max_new_tokens=max_new_tokens,
                    do_sample=False,
                    eos_token_id=stops,
                    pad_token_id=tokenizer.pad_token_id,
                )
            for row in generated[:, inputs["input_ids"].shape[1] :].tolist():
                end = next((i for i, token in enumerate(row) if token in stops), len(row))
                outputs.append(row[:end])
        return outputs

    timing, outputs = timed(generate_all, repeats)
    return {
        **timing,
        "texts": [tokenizer.decode(o, skip_special_tokens=True) for o in outputs],
        "tokens": sum(len(o) for o in outputs),
    }


REFERENCES = {"lm_eval": run_lm_eval, "generate": run_generate}


def main() -> None:
    parser = case_parser(__doc__)
    parser.add_argument("--model", default=str(DEFAULT_MODEL) if DEFAULT_MODEL.exists() else "tiny")
    parser.add_argument("--prompts", type=int, default=240)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=64, help="the harness's (the default eval.batch_size)")
    parser.add_argument("--reference", choices=sorted(REFERENCES), default="lm_eval", help="timed against what")
    parser.add_argument("--lm-eval-batch-sizes", default="8,32,64", help="the reference's batch sizes")
    args = parser.parse_args()
    from harness.models.loading import resolve_model

    model_path = resolve_model(args.model)
    common = [str(args.prompts), str(args.max_new_tokens), str(args.repeats), model_path]
    if args.case:
        kind, batch_size = args.case.split(":")
        texts = prompts(model_path, args.prompts)
        run = run_harness if kind == "harness" else REFERENCES[kind]
        result = run(model_path, texts, int(batch_size), args.max_new_tokens, args.repeats)
        result["texts_sha256"] = hashlib.sha256(json.dumps([t.strip() for t in result["texts"]]).encode()).hexdigest()
        emit(result)
        return

    def case(name):
        return run_case(
            __file__,
            name,
            "--model",
            model_path,
            "--prompts",
            common[0],
            "--max-new-tokens",
            common[1],
            "--repeats",
            common[2],
        )

    results = {f"harness:{args.batch_size}": case(f"harness:{args.batch_size}")}
    for size in args.lm_eval_batch_sizes.split(","):
        results[f"{args.reference}:{size}"] = case(f"{args.reference}:{size}")
    best = min((k for k in results if k.startswith(args.reference)), key=lambda k: results[k]["median_s"])
    ours = results[f"harness:{args.batch_size}"]
    reference = results[best]
    same = [a.strip() == b.strip() for a, b in zip(ours["texts"], reference["texts"], strict=True)]
    ratio = ours["median_s"] / reference["median_s"]
    rows = [
        [name, spread(r), f"{r['tokens'] / r['median_s']:.0f}", r["peak_rss_mib"], r["texts_sha256"][:12]]
        for name, r in results.items()
    ]
    print(table(["backend:batch", "wall (min-max)", "generated tok/s", "peak RSS MiB", "outputs sha256"], rows))
    print(
        f"\nharness / {args.reference} best ({best}): {ratio:.2f}x wall time "
        f"(goal <= 0.70: {'met' if ratio <= 0.7 else 'not met'}); "
        f"identical outputs: {sum(same)}/{len(same)}"
    )
    for result in results.values():
        result.pop("texts")
    print(
        save(
            "generation" if args.reference == "lm_eval" else f"generation_vs_{args.reference}",
            {
                "model": args.model,
                "prompts": args.prompts,
                "max_new_tokens": args.max_new_tokens,
                "repeats": args.repeats,
                "results": results,
                "reference": args.reference,
                "reference_best": best,
                "ratio": ratio,
                "identical_outputs": sum(same),
                "compared": len(same),
            },
        )
    )


if __name__ == "__main__":
    main()
