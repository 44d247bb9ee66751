"""Scoring speed: 10,000 reasoning predictions (math-verify included) and 10,000 tool-call predictions.

    python benchmarks/scoring.py [--repeats 3]

Goals (issue 6, 2-core CPU): at most 10 s and 2 s, and no single item able to hang the run. The
predictions are a realistic mix: right and wrong answers, answers only math-verify can judge (LaTeX
fractions, expressions), unparseable and enormous outputs; right calls, wrong arguments, wrong
functions, invalid JSON, plain-text answers where a call is due.
"""

from __future__ import annotations

import functools
import json
import random
import time

from common import case_parser, save, table, timed

N = 10_000


def reasoning_predictions(suite, rng: random.Random) -> list[tuple[str, object]]:
    pairs = []
    for index in range(N):
        item = suite.items[index % len(suite.items)]
        gold = int(str(item.reference).rsplit("####", 1)[-1].strip())
        trace = (
            "<think>\n" + "\n".join(f"{gold - i} + {i} = {gold}" for i in range(rng.randint(1, 6))) + "\n</think>\n\n"
        )
        kind = index % 10
        text = {
            0: f"{trace}The answer is {gold}.",
            1: f"{trace}The answer is {gold}.",
            2: f"{trace}The answer is {gold}.",
            3: f"{trace}The answer is {gold + rng.randint(1, 9)}.",
            4: f"{trace}The answer is \\frac{{{2 * gold}}}{{2}}.",  # math-verify decides
            5: f"{trace}The answer is \\boxed{{{gold} + 0}}.",  # math-verify decides
            6: f"{trace}So it must be {gold} apples",  # flexible only
            7: trace.rstrip(),  # no answer after the trace
            8: f"<think>{'still thinking ' * 400}",  # unclosed, long
            9: f"The answer is $\\sqrt{{{gold * gold}}}$",  # math-verify decides
        }[kind]
        pairs.append((text, item))
    return pairs


def tool_predictions(suite, rng: random.Random) -> list[tuple[str, object]]:
    pairs = []
    for index in range(N):
        item = suite.items[index % len(suite.items)]
        gold = item.reference if isinstance(item.reference, list) else []
        calls = [
            {
                "name": next(iter(g)),
                "arguments": {k: v[0] for k, v in next(iter(g.values())).items() if v and v[0] != ""},
            }
            for g in gold
        ]
        right = "".join(f"<tool_call>\n{json.dumps(c)}\n</tool_call>" for c in calls) or "I cannot help with that."
        kind = index % 8
        if kind == 3 and calls:
            calls[0]["arguments"] = {k: "wrong" for k in calls[0]["arguments"]}
        if kind == 4 and calls:
            calls[0]["name"] = "no_such_function"
        text = {
            0: right,
            1: right,
            2: right,
            3: "".join(f"<tool_call>{json.dumps(c)}</tool_call>" for c in calls),
            4: "".join(f"<tool_call>{json.dumps(c)}</tool_call>" for c in calls),
            5: '<tool_call>{"name": "f", "arguments": {</tool_call>',
            6: "Sure! Here is the weather: sunny.",
            7: json.dumps(calls),
        }[kind]
        pairs.append((text, item))
    return pairs


def score_all(suite, pairs) -> dict:
    worst, correct = 0.0, 0
    for text, item in pairs:
        started = time.perf_counter()
        correct += suite.score(text, item).correct
        worst = max(worst, time.perf_counter() - started)
    return {"correct": correct, "worst_item_s": worst}


def main() -> None:
    from harness.evaluate.suites import build_suite
    from harness.recipe import SuiteSettings

    args = case_parser(__doc__).parse_args()
    rng = random.Random(0)
    results, rows = {}, []
    for name, make, goal in (("reasoning", reasoning_predictions, 10.0), ("tools", tool_predictions, 2.0)):
        suite = build_suite(SuiteSettings(suite=name, samples=500))
        pairs = make(suite, rng)
        timing, outcome = timed(functools.partial(score_all, suite, pairs), args.repeats)
        results[name] = {**timing, **outcome, "n": len(pairs), "goal_s": goal, "met": timing["median_s"] <= goal}
        rows.append(
            [
                name,
                len(pairs),
                f"{timing['median_s']:.2f} s ({timing['min_s']:.2f}-{timing['max_s']:.2f})",
                f"{outcome['worst_item_s'] * 1000:.0f} ms",
                f"{outcome['correct'] / len(pairs):.0%}",
                f"<= {goal:.0f} s: {'met' if timing['median_s'] <= goal else 'not met'}",
            ]
        )
    print(table(["predictions", "n", "median (min-max)", "slowest item", "correct", "goal"], rows))
    print(save("scoring", {"repeats": args.repeats, "results": results}))


if __name__ == "__main__":
    main()
