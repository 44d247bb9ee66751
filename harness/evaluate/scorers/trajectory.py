"""Conversations played in the built-in tools worlds (`data/builtin/environments.py`), judged by what they did.

The model's calls of each turn (read from the conversation's result, BFCL's format) are played again in a
fresh world beside the gold calls in another, and after each turn the two worlds must hold the same state:
the right files, cart or calendar, however many look-ups it took. A turn whose gold acts needs at least one
call; the closing texts are not judged.
"""

from __future__ import annotations

from harness.data.builtin.environments import world
from harness.evaluate.episodes import read_result, step_calls
from harness.evaluate.scorers import Verdict, failed


def score(prediction: str, reference: list[list[dict]], meta: dict) -> Verdict:
    result = read_result(prediction)
    if result is None or not all(isinstance(turn, list) for turn in result):
        return failed("not_a_result", "the output is not a list of turns")
    if len(result) != len(reference):
        return failed("cut_short", f"{len(result)} turns played, {len(reference)} asked (the step limit?)")
    model, gold = world(meta["world"], meta["world_seed"]), world(meta["world"], meta["world_seed"])
    calls_made = 0
    for turn, (steps, gold_calls) in enumerate(zip(result, reference, strict=True)):
        calls = [call for step in steps for call in step_calls(step)]
        calls_made += len(calls)
        for call in calls:
            model.call(call["name"], call["arguments"])
        for call in gold_calls:
            gold.call(call["name"], call["arguments"])
        if gold_calls and not calls:
            return failed("no_call", f"no tool call in turn {turn}", turn)
        if model.state() != gold.state():
            return failed("wrong_state", f"after turn {turn}: {model.state()} instead of {gold.state()}", turn)
    gold_count = sum(len(calls) for calls in reference)
    return Verdict(True, 1.0, details={"calls": calls_made, "gold_calls": gold_count})
