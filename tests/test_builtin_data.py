"""Built-in generators: deterministic, disjoint splits, held-out tasks and unseen tools kept out of training."""

import json

import pytest

from harness.data import builtin
from harness.data.builtin import instruct, tools


@pytest.mark.parametrize("mode", builtin.MODES)
def test_generators_are_deterministic_by_seed(mode):
    first = builtin.generate(mode, "train", 50, seed=1)
    assert first == builtin.generate(mode, "train", 50, seed=1)
    assert first != builtin.generate(mode, "train", 50, seed=2)


@pytest.mark.parametrize("mode", builtin.MODES)
def test_splits_never_share_an_item(mode):
    keys = {
        split: {row["meta"]["key"] for row in builtin.generate(mode, split, 400, seed=0)} for split in builtin.SPLITS
    }
    # Other seeds draw other items of the same split, never items of another split.
    other_seed_train = {row["meta"]["key"] for row in builtin.generate(mode, "train", 400, seed=7)}
    assert all(keys.values())
    assert not keys["train"] & keys["validation"]
    assert not keys["train"] & keys["test"]
    assert not keys["validation"] & keys["test"]
    assert not other_seed_train & keys["test"]


def test_instruct_has_many_families_languages_and_phrasings():
    rows = builtin.generate("instruct", "test", 600, seed=0)
    assert len({r["meta"]["task"] for r in rows}) >= 8
    assert {r["meta"]["language"] for r in rows} == {"en", "fr", "de", "es"}
    for family, languages in instruct.INSTRUCTIONS.items():
        assert all(len(phrasings) >= 2 for phrasings in languages.values()), family
    sentiment = [r["completion"][0]["content"] for r in rows if r["meta"]["task"] == "sentiment"]
    assert {"this is a positive sentiment", "this is a negative sentiment"} & set(sentiment)


def test_every_instruct_family_is_in_every_split_with_its_cluster():
    """Held-out clusters are a recipe's choice (generalization.held_out), so the generator holds none back."""
    for split in ("train", "validation", "test"):
        rows = builtin.generate("instruct", split, 900, seed=0)
        assert {r["meta"]["task"] for r in rows} == set(instruct.FAMILIES), split
        assert all(r["meta"]["cluster"] == instruct.FAMILIES[r["meta"]["task"]].cluster for r in rows)


def test_tools_cover_every_category_with_typed_schemas():
    assert len(tools.TOOLS) >= 8
    types = {p["type"] for t in tools.TOOLS for p in t.schema["function"]["parameters"]["properties"].values()}
    assert {"string", "integer", "number", "boolean"} <= types
    assert any("enum" in p for t in tools.TOOLS for p in t.schema["function"]["parameters"]["properties"].values())
    rows = builtin.generate("tools", "train", 300, seed=0)
    assert {r["meta"]["category"] for r in rows} == set(tools.CATEGORIES)
    for row in rows:
        for message in row["messages"]:
            for call in message["tool_calls"] or []:
                assert isinstance(json.loads(call["function"]["arguments"]), dict)  # arguments are JSON strings


def test_unseen_tools_appear_only_in_the_test_split():
    unseen = {t.name for t in tools.UNSEEN_TOOLS}
    for split in ("train", "validation"):
        for row in builtin.generate("tools", split, 500, seed=0):
            assert not unseen & {t["function"]["name"] for t in json.loads(row["tools"])}
    test = builtin.generate("tools", "test", 300, seed=0)
    assert {r["meta"]["tool"] for r in test if r["meta"]["tool_set"] == "unseen"} == unseen


def test_reasoning_answers_are_right_and_the_hard_split_is_longer():
    for difficulty, steps in (("standard", {1, 2}), ("hard", {3, 4})):
        rows = builtin.generate("reasoning", "test", 200, seed=0, difficulty=difficulty)
        assert {r["meta"]["steps"] for r in rows} == steps
        for row in rows:
            answer = row["messages"][-1]["content"]
            assert answer.startswith("<think>\n") and answer.endswith(
                f"</think>\n\nThe answer is {row['meta']['answer']}."
            )
            # The trace's last line of each step is the running total: the final one is the answer.
            trace_lines = answer.split("</think>")[0].strip().splitlines()
            assert trace_lines[-1].endswith(f"= {row['meta']['answer']}")


def test_column_trace_is_arithmetic():
    from harness.data.builtin.reasoning import column_trace

    assert column_trace(78, "+", 45) == "78 + 45:\n8 + 5 = 13, carry 1\n7 + 4 + 1 = 12\n78 + 45 = 123"
    assert column_trace(92, "-", 63) == "92 - 63:\n12 - 3 = 9, borrow 1\n9 - 1 - 6 = 2\n92 - 63 = 29"
    for a in range(10, 400, 7):
        for b in range(10, a, 11):
            assert column_trace(a, "-", b).endswith(f"= {a - b}")
            assert column_trace(a, "+", b).endswith(f"= {a + b}")


def test_chat_answers_depend_on_earlier_turns():
    rows = builtin.generate("chat", "test", 200, seed=0)
    assert {r["meta"]["kind"] for r in rows} == {"recall", "list", "persona", "style", "number"}
    for row in (r for r in rows if r["meta"]["kind"] == "recall"):
        answer_value = row["messages"][-1]["content"].split()[-1].rstrip(".")
        assert any(answer_value in m["content"] for m in row["messages"][:-2])
    assert any(r["messages"][0]["role"] == "system" for r in rows)


def test_unknown_generator_or_split_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown built-in generator 'poetry'"):
        builtin.generate("poetry", "train", 1)
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        builtin.generate("chat", "dev", 1)
