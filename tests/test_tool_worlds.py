"""The built-in tools worlds: gold trajectories played in them, their loss mask, and the evaluation that plays
the model's calls in a fresh world and judges the state it leaves."""

from __future__ import annotations

import json

import pytest

from harness.data import builtin
from harness.data.builtin.environments import WORLDS, world
from harness.data.formats import canonical_row
from harness.evaluate.backends import Generation
from harness.evaluate.episodes import run_episodes
from harness.evaluate.suites import build_suite
from harness.models.template_checks import check_template
from harness.recipe import SuiteSettings


@pytest.fixture(scope="module")
def multi_step_rows():
    return [r for r in builtin.generate("tools", "train", 300, seed=0) if r["meta"]["category"] == "multi_step"]


@pytest.fixture(scope="module")
def suite():
    return build_suite(SuiteSettings(suite="tools", samples=200))


def test_trajectories_carry_the_worlds_own_results_and_later_turns_refer_back(multi_step_rows):
    assert {r["meta"]["world"] for r in multi_step_rows} == set(WORLDS)
    assert any(sum(m["role"] == "user" for m in r["messages"]) == 2 for r in multi_step_rows)
    for row in multi_step_rows:
        replay = world(row["meta"]["world"], row["meta"]["world_seed"])
        messages = row["messages"]
        for call_message, result in zip(messages, messages[1:], strict=False):
            if call_message["role"] == "assistant" and call_message["tool_calls"]:
                [call] = call_message["tool_calls"]
                arguments = json.loads(call["function"]["arguments"])
                assert result == {
                    "role": "tool",
                    "tool_call_id": call["id"],
                    "content": replay.call(call["function"]["name"], arguments),
                    "tool_calls": None,
                }
        lookups = [json.loads(m["content"]) for m in messages if m["role"] == "tool"]
        assert "error" not in json.dumps(lookups)


def test_worlds_answer_bad_calls_with_errors_and_never_raise():
    shop = world("shop", 1)
    assert "no tool named" in json.loads(shop.call("__init__", {}))["error"]
    assert "bad arguments" in json.loads(shop.call("add_to_cart", {"product": "x"}))["error"]
    assert (
        "quantity"
        in json.loads(shop.call("add_to_cart", {"product_id": next(iter(shop.products)), "quantity": 10**9}))["error"]
    )
    assert "bad arguments" in json.loads(world("files", 1).call("read_file", {"name": ["x"]}))["error"]
    assert shop.state() == {"cart": {}}


def test_a_trajectory_trains_on_every_assistant_step_and_on_no_tool_result(tokenizer, multi_step_rows):
    row = next(r for r in multi_step_rows if sum(m["role"] == "user" for m in r["messages"]) == 2)
    report = check_template(tokenizer, canonical_row(row, "tools"), "tools")
    assert report.ok, report.problems
    trained = "".join(token for token, carries_loss in report.tokens if carries_loss)
    calls = [m["tool_calls"][0]["function"]["name"] for m in row["messages"] if m["tool_calls"]]
    answers = [m["content"] for m in row["messages"] if m["role"] == "assistant" and m["content"]]
    assert all(name in trained for name in calls) and all(answer in trained for answer in answers)
    assert trained.count("<|im_end|>") == len(calls) + len(answers)  # every assistant turn ends trained
    for result in (m["content"] for m in row["messages"] if m["role"] == "tool"):
        assert result not in trained
    assert "<tool_response>" not in trained


def gold_script(item):
    for calls in item.reference:
        yield from (f"<tool_call>{json.dumps(call)}</tool_call>" for call in calls)
        yield "Done."


def test_gold_plays_pass_and_wrong_ids_skipped_turns_and_loops_fail(suite):
    items = [i for i in suite.items if i.episode]
    assert len(items) >= 20 and {i.meta["world"] for i in items} == set(WORLDS)

    def policy(item):
        return lambda requests: [Generation(next(item), "stop") for _ in requests]

    for item in items:
        [played] = run_episodes([item], lambda m, t: "p", policy(gold_script(item)))
        assert suite.score(played.text, item).correct, item.id
    two_turns = next(i for i in items if len(i.reference) == 2)
    first, second = two_turns.reference
    wrong = [
        f"<tool_call>{json.dumps(first[0])}</tool_call>",
        "<tool_call>"
        + json.dumps(
            {"name": first[1]["name"], "arguments": {**first[1]["arguments"], next(iter(first[1]["arguments"])): "zzz"}}
        )
        + "</tool_call>",
        "Done.",
        "Done.",
    ]
    [played] = run_episodes([two_turns], lambda m, t: "p", policy(iter(wrong)))
    verdict = suite.score(played.text, two_turns)
    assert not verdict.correct and verdict.details["error_type"] == "wrong_state"
    skipped = [*(f"<tool_call>{json.dumps(c)}</tool_call>" for c in first), "Done.", "Sorry, no."]
    [played] = run_episodes([two_turns], lambda m, t: "p", policy(iter(skipped)))
    assert suite.score(played.text, two_turns).details["error_type"] == "no_call"
    looping = iter([f"<tool_call>{json.dumps(first[0])}</tool_call>"] * 100)
    [played] = run_episodes([two_turns], lambda m, t: "p", policy(looping))
    assert (
        played.finish_reason == "step_limit"
        and suite.score(played.text, two_turns).details["error_type"] == "cut_short"
    )
