"""The multi-turn tool loop on the transformers backend: wall time per 100 conversations, batched (each round
sends the next step of every live conversation to the backend in one call, as `harness eval` does) and one
conversation at a time, side by side in one process on one machine.

    python benchmarks/multi_turn_loop.py [--model runs/tools/model] [--conversations 100] [--repeats 1]

The conversations are the built-in tools suite's multi-step items (test split: a world, one or two user turns,
two or three tool calls). Give a tuned tools model: an untuned one answers in words at its first step, which
measures one step per turn instead of a conversation. Both cases play the same conversations, greedy, with the
same outputs (checked), so the ratio is the batching alone.
"""

from __future__ import annotations

import json
import sys

from common import case_parser, save, spread, table, timed

from harness.evaluate.backends.transformers import TransformersBackend
from harness.evaluate.episodes import run_episodes
from harness.evaluate.runner import render_prompt
from harness.evaluate.suites import Item, build_suite
from harness.recipe import GenerationSettings, SuiteSettings


def main() -> None:
    parser = case_parser(__doc__.splitlines()[0])
    parser.add_argument("--model", default="embedded")
    parser.add_argument("--conversations", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()
    from harness.models.loading import resolve_model

    path = resolve_model(args.model, None, 0)
    items = []
    samples = args.conversations * 6
    while len(items) < args.conversations:
        items = [i for i in build_suite(SuiteSettings(suite="tools", samples=samples)).items if i.episode]
        samples *= 2
    items = items[: args.conversations]
    backend = TransformersBackend(path, batch_size=args.batch_size)
    settings = GenerationSettings(max_new_tokens=96)
    rounds = []

    def render(messages, tools):
        return render_prompt(backend.tokenizer, Item("", messages, None, tools), {})

    def generate(requests):
        rounds.append(len(requests))
        return [outputs[0] for outputs in backend.generate(requests, settings)]

    def batched():
        return run_episodes(items, render, generate)

    def one_at_a_time():
        return [played for item in items for played in run_episodes([item], render, generate)]

    batched_time, batched_out = timed(batched, args.repeats)
    batched_rounds = len(rounds)
    single_time, single_out = timed(one_at_a_time, args.repeats)
    same = [a.text for a in batched_out] == [b.text for b in single_out]
    steps = sum(len(p.trajectory["steps"]) for p in batched_out)
    scale = 100 / len(items)
    result = {
        "model": args.model,
        "conversations": len(items),
        "steps": steps,
        "batch_size": args.batch_size,
        "batched": batched_time,
        "one_at_a_time": single_time,
        "per_100_batched_s": round(batched_time["median_s"] * scale, 2),
        "per_100_one_at_a_time_s": round(single_time["median_s"] * scale, 2),
        "speedup": round(single_time["median_s"] / batched_time["median_s"], 2),
        "same_outputs": same,
        "generate_calls_per_batched_run": batched_rounds // (args.repeats + 1),
    }
    print(
        table(
            ["conversations", "steps", "batched", "one at a time", "speedup", "same outputs"],
            [[len(items), steps, spread(batched_time), spread(single_time), f"{result['speedup']}x", same]],
        )
    )
    print(json.dumps(result))
    save("multi_turn_loop", result)
    sys.exit(0 if same else 1)


if __name__ == "__main__":
    main()
