"""BFCL's multi-turn categories: the harness's verdicts side by side with bfcl-eval's own evaluation path (its
eval runner's per-entry function, its function-calling decoder and its `eval`-based checker), on the ground
truth of all 800 conversations and on systematic mutations of them; and the evaluation loop that plays them.
"""

from __future__ import annotations

import ast
import copy
import importlib
import inspect
import itertools
import json
import random
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.cli import main
from harness.evaluate.backends import Generation
from harness.evaluate.episodes import run_episodes
from harness.evaluate.runner import evaluate
from harness.evaluate.scorers.bfcl_multi_turn import bfcl_world
from harness.evaluate.suites import build_suite
from harness.evaluate.suites.bfcl import MULTI_TURN_CATEGORIES
from harness.recipe import EvalSettings, GenerationSettings, SuiteSettings
from harness.report.leaderboard import collect
from harness.report.render import markdown

pytest.importorskip("bfcl_eval", reason="BFCL's environments: pip install --no-deps bfcl-eval==2026.3.23")
BFCL = "bfcl_eval.eval_checker.multi_turn_eval"


def bfcl_function(module: str, name: str, namespace: dict):
    """One function of bfcl-eval, compiled from its own source: the modules around these functions import
    every provider SDK and parser BFCL supports, which a --no-deps install does not have."""
    path = Path(importlib.util.find_spec(module).origin)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    [node] = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name]
    exec(compile(ast.Module([node], []), str(path), "exec"), namespace)
    return namespace[name]


@pytest.fixture(scope="module")
def bfcl_verdict():
    """bfcl-eval's verdict on one entry as its eval runner reaches it (`_evaluate_single_multi_turn_entry`
    with the function-calling handler's decoder), each call under a model name of its own: BFCL keeps
    environment instances in its executor's globals by (model, entry), and they are dropped afterwards."""
    checker = importlib.import_module(f"{BFCL}.multi_turn_checker")
    utils = importlib.import_module(f"{BFCL}.multi_turn_utils")
    decode = bfcl_function("bfcl_eval.model_handler.utils", "convert_to_function_call", {"json": json})

    class Handler:
        @staticmethod
        def decode_execute(result, has_tool_call_tag):
            return decode(result)

    namespace = {
        "multi_turn_checker": checker.multi_turn_checker,
        "is_empty_execute_response": utils.is_empty_execute_response,
    }
    evaluate = bfcl_function("bfcl_eval.eval_checker.eval_runner", "_evaluate_single_multi_turn_entry", namespace)
    counter = itertools.count()

    def verdict(result, entry: dict, ground_truth: list) -> bool:
        model = f"oracle{next(counter)}"
        try:
            outcome = evaluate(Handler, entry["id"], copy.deepcopy(result), ground_truth, dict(entry), model, "x")
        finally:
            for name in [n for n in vars(utils) if n.startswith(model)]:
                del vars(utils)[name]
        return outcome["valid"]

    return verdict


@pytest.fixture(scope="module")
def multi_turn_suite():
    return build_suite(SuiteSettings(suite="bfcl", options={"categories": list(MULTI_TURN_CATEGORIES)}))


def method_parameters(classes: list[str]) -> dict[str, list[str]]:
    mapping = importlib.import_module("bfcl_eval.constants.executable_backend_config").CLASS_FILE_PATH_MAPPING
    parameters = {}
    for class_name in classes:
        cls = getattr(importlib.import_module(mapping[class_name]), class_name)
        for name, method in inspect.getmembers(cls, predicate=inspect.isfunction):
            parameters[name] = list(inspect.signature(method).parameters)[1:]
    return parameters


def as_fc_call(call: str, parameters: dict[str, list[str]]) -> dict:
    """A ground-truth call string (`mv(source='a', destination='b')`, positional arguments too) -> the
    `{name: arguments-JSON}` a function-calling model's step holds."""
    node = ast.parse(call, mode="eval").body
    names = parameters[node.func.id]
    arguments = {names[i]: ast.literal_eval(a) for i, a in enumerate(node.args)}
    arguments |= {k.arg: ast.literal_eval(k.value) for k in node.keywords}
    return {node.func.id: arguments}


def gold_result(ground_truth: list[list[str]], parameters: dict) -> list[list]:
    """Each turn: one step with all its calls, then the model's closing text (as BFCL records both)."""
    return [
        [[{name: json.dumps(args)} for c in turn for name, args in as_fc_call(c, parameters).items()], "Done."]
        if turn
        else ["I cannot do that with the functions I have."]
        for turn in ground_truth
    ]


def changed(value):
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + 1
    if isinstance(value, str):
        return value + "_x"
    if isinstance(value, list):
        return value[:-1] if value else ["x"]
    return value


def mutations(result: list[list], rng: random.Random) -> dict[str, list[list]]:
    """Systematic mistakes a model makes, each applied to one place of the gold result."""
    out = {"gold_one_call_per_step": [[[call] for step in turn[:-1] for call in step] + turn[-1:] for turn in result]}
    called = [(t, i) for t, turn in enumerate(result) for i, _ in enumerate(turn[0]) if isinstance(turn[0], list)]
    if called:
        t, i = rng.choice(called)
        ((name, arguments),) = result[t][0][i].items()
        arguments = json.loads(arguments)
        wrong = copy.deepcopy(result)
        if arguments:
            key = rng.choice(sorted(arguments))
            wrong[t][0][i] = {name: json.dumps({**arguments, key: changed(arguments[key])})}
            out["wrong_argument"] = wrong
        dropped = copy.deepcopy(result)
        del dropped[t][0][i]
        out["dropped_call"] = dropped
        extra = copy.deepcopy(result)
        extra[t][0].insert(i, extra[t][0][i])
        out["repeated_call"] = extra
        moved = copy.deepcopy(result)
        call = moved[t][0].pop(i)
        target = t - 1 if t > 0 else t + 1
        if target < len(moved):
            if not isinstance(moved[target][0], list):
                moved[target].insert(0, [])
            moved[target][0].append(call)
            out["call_in_wrong_turn"] = moved
        unavailable = copy.deepcopy(result)
        unavailable[t][0].insert(i, {"delete_all_files": json.dumps({"confirm": True})})
        out["call_to_unavailable_function"] = unavailable
        swapped = copy.deepcopy(result)
        swapped[t][0].reverse()
        out["calls_reordered"] = swapped
        text_only = copy.deepcopy(result)
        text_only[t] = ["Sure, done."]
        out["text_instead_of_calls"] = text_only
        broken = copy.deepcopy(result)
        broken[t][0][i] = {name: "{not json"}
        out["undecodable_step"] = broken
    out["cut_short"] = result[:-1]
    return out


def test_verdicts_agree_with_bfcl_eval_on_all_800_conversations_and_their_mutations(bfcl_verdict, multi_turn_suite):
    rng = random.Random(0)
    agree, disagreements, verdicts, stricter = Counter(), [], Counter(), Counter()
    items = multi_turn_suite.items
    assert Counter(i.meta["category"] for i in items) == {c: 200 for c in MULTI_TURN_CATEGORIES}
    for index, item in enumerate(items):
        parameters = method_parameters(item.meta["involved_classes"])
        gold = gold_result(item.reference, parameters)
        cases = {"gold": gold}
        every = mutations(gold, rng)
        for name in sorted(every)[index % 3 :: 3]:  # a third of the mutation kinds on each conversation, in turn
            cases[name] = every[name]
        entry = {"id": item.meta["entry_id"], "initial_config": item.meta["initial_config"]}
        entry["involved_classes"] = item.meta["involved_classes"]
        for kind, result in cases.items():
            verdict = multi_turn_suite.score(json.dumps(result), item)
            ours, theirs = verdict.correct, bfcl_verdict(result, entry, item.reference)
            if kind == "call_to_unavailable_function":  # BFCL passes it: nothing it checks changes
                stricter[verdict.details.get("strict", False)] += 1
            agree[ours == theirs] += 1
            verdicts[kind, theirs] += 1
            if ours != theirs:
                disagreements.append((item.id, kind, ours, theirs))
    total = sum(agree.values())
    assert verdicts["gold", True] == 800  # BFCL passes every ground truth written as a model's steps
    assert {kind for (kind, valid) in verdicts if not valid} >= {"wrong_argument", "dropped_call", "cut_short"}
    assert agree[True] / total >= 0.995, disagreements[:10]
    assert total > 3000
    assert stricter == {False: verdicts["call_to_unavailable_function", True]}  # the strict verdict fails each


def replay_policy(items, parameters_of):
    """A stand-in model that replays each conversation's ground truth: per turn one step with its calls as
    `<tool_call>` blocks, then a closing text; it knows the turn from the user messages it has seen."""

    def generate(requests):
        outputs = []
        for request in requests:
            item = items[request.messages[0]["content"]]
            turn = sum(m["role"] == "user" for m in request.messages) - 1
            calls = item.reference[turn]
            if request.messages[-1]["role"] == "tool" or not calls:
                outputs.append(Generation("Done.", "stop", 2))
                continue
            parameters = parameters_of(item)
            blocks = [
                f"<tool_call>{json.dumps({'name': n, 'arguments': a})}</tool_call>"
                for c in calls
                for n, a in as_fc_call(c, parameters).items()
            ]
            outputs.append(Generation("".join(blocks), "stop", 10))
        return outputs

    return generate


def test_the_loop_plays_gold_trajectories_to_correct_verdicts_and_cuts_loops_at_the_step_limit(multi_turn_suite):
    by_first_message = {}  # the stand-in knows its conversation by the first user message
    for category in ("multi_turn_base", "multi_turn_miss_func"):
        chosen = [i for i in multi_turn_suite.items if i.meta["category"] == category]
        for item in [i for i in chosen if i.messages[0]["content"] not in by_first_message][:5]:
            by_first_message[item.messages[0]["content"]] = item
    items = list(by_first_message.values())
    policy = replay_policy(by_first_message, lambda item: method_parameters(item.meta["involved_classes"]))
    played = run_episodes(items, lambda messages, tools: "prompt", policy)
    for item, generation in zip(items, played, strict=True):
        verdict = multi_turn_suite.score(generation.text, item)
        assert verdict.correct, (item.id, verdict.reason)
        steps = generation.trajectory["steps"]
        assert all(isinstance(r, str) for s in steps for r in s.get("results", []))
        assert {s["turn"] for s in steps} == set(range(len(item.reference)))
    miss_func = next(i for i in items if i.meta["category"] == "multi_turn_miss_func")
    added = next(iter(miss_func.episode.added_tools.values()))
    assert added and not {t["function"]["name"] for t in added} & {t["function"]["name"] for t in miss_func.tools}

    def loop_forever(requests):
        return [Generation('<tool_call>{"name": "ls", "arguments": {}}</tool_call>', "stop", 5) for _ in requests]

    looping = next(i for i in items if "GorillaFileSystem" in i.meta["involved_classes"])
    [generation] = run_episodes([looping], lambda messages, tools: "prompt", loop_forever)
    assert generation.finish_reason == "step_limit"
    assert len(generation.trajectory["steps"]) == 21  # BFCL's limit: 20 steps, the 21st ends it
    verdict = multi_turn_suite.score(generation.text, looping)
    assert not verdict.correct and "force_terminated" in verdict.reason


def test_hostile_calls_fail_as_steps_with_their_reason_and_run_nothing(multi_turn_suite):
    item = next(i for i in multi_turn_suite.items if "MathAPI" in i.meta["involved_classes"])
    hostile = [
        '<tool_call>{"name": "power", "arguments": {"base": 10, "exponent": 100000000}}</tool_call>',
        '<tool_call>{"name": "square_root", "arguments": {"number": 2, "precision": 1000000000}}</tool_call>',
        '<tool_call>{"name": "__import__", "arguments": {"name": "os"}}</tool_call>',
        '<tool_call>{"name": "add", "arguments": {"a": "' + "9" * 40_000 + '", "b": []}}</tool_call>',
        '<tool_call>{"name": "mean", "arguments": {"numbers": "__import__(\'os\').system(\'touch /tmp/pwned\')"}}'
        "</tool_call>",
        "<tool_call>{not json</tool_call>",
        '<tool_call>{"name": "add", "arguments": {"a": ' + "1" * 5000 + ', "b": 1}}</tool_call>',
    ]
    script = iter(hostile + ["Done."] * 50)
    [generation] = run_episodes(
        [item], lambda m, t: "prompt", lambda rs: [Generation(next(script), "stop") for _ in rs]
    )
    steps = generation.trajectory["steps"]
    results = [r for s in steps for r in s.get("results", [])]
    assert results[0].startswith("Error during execution") and "too large" in results[0]
    assert results[1].startswith("Error during execution") and "precision" in results[1]
    assert results[2] == "Error during execution: name '__import__' is not defined"
    assert not Path("/tmp/pwned").exists()
    assert "unparseable tool call" in steps[5]["error"]  # the turn ends with it
    assert "unparseable tool call" in steps[6]["error"]  # 5,000 digits: Python will not read such an integer
    assert not multi_turn_suite.score(generation.text, item).correct
    math = bfcl_world(item.meta, "harness")
    assert math.execute("power(base=10,exponent=5000)").startswith("Error during execution")  # too long to print
    assert math.execute("_load_scenario(scenario={})").startswith("Error during execution: name '_load_scenario'")
    instance = next(iter(math.by_instance_name))
    assert "unsupported call" in math.execute(f"{instance}._load_scenario(scenario={{}})")


class ReplayBackend:
    """A backend whose model is the replaying stand-in: the runner, the records and resume as in any eval."""

    name = "replay"

    def __init__(self, items):
        by_first_message = {i.messages[0]["content"]: i for i in items}
        assert len(by_first_message) == len(items)
        self.policy = replay_policy(by_first_message, lambda item: method_parameters(item.meta["involved_classes"]))
        self.calls = 0

    def generate(self, requests, settings):
        self.calls += 1
        return [[output] for output in self.policy(requests)]


def test_the_runner_plays_records_and_resumes_multi_turn_conversations(tmp_path):
    suite = SuiteSettings(suite="bfcl", options={"categories": ["multi_turn_miss_func"], "per_category": 5})
    settings = EvalSettings(backend="transformers", generation=GenerationSettings(max_new_tokens=16), suites=[suite])
    backend = ReplayBackend(build_suite(suite).items)
    summary = evaluate("tiny", settings, tmp_path, backend=backend)["bfcl"]
    metrics = summary["metrics"]
    assert metrics["by_category"] == {"multi_turn_miss_func": 1.0}
    assert metrics["bfcl"]["multi_turn"] is None and metrics["bfcl"]["overall"] is None  # one of four categories
    assert metrics["bfcl"]["weight_ran"] == 0.0 and "multi_turn_miss_param" in metrics["bfcl"]["missing"]
    rounds = backend.calls
    assert rounds < 5 * 4  # every live conversation's step in one generate call, not one call per conversation
    records = [json.loads(line) for line in (tmp_path / "bfcl" / "samples.jsonl").read_text().splitlines()]
    steps = records[0]["trajectories"][0]["steps"]
    assert steps[0]["calls"] and steps[0]["results"] and records[0]["trajectories"][0]["state"]
    assert json.loads(records[0]["outputs"][0])[0][0]  # BFCL's result format: turn 0, step 0 holds the calls
    table = [
        line for line in markdown(collect([tmp_path])).splitlines() if "Overall (BFCL v4)" in line or "| bfcl |" in line
    ]
    header, row = ([cell.strip() for cell in line.strip("|").split("|")] for line in table)
    assert row[header.index("Overall (BFCL v4)")] == "–" and row[header.index("Missing function")] == "100.0"
    written = (tmp_path / "bfcl" / "summary.json").read_text()
    evaluate("tiny", settings, tmp_path, backend=backend)
    assert backend.calls == rounds and (tmp_path / "bfcl" / "summary.json").read_text() == written


def test_harness_score_reads_bfcl_eval_multi_turn_result_files(multi_turn_suite, tmp_path):
    items = [i for i in multi_turn_suite.items if i.meta["category"] == "multi_turn_base"][:4]
    rows = []
    for index, item in enumerate(items):
        result = gold_result(item.reference, method_parameters(item.meta["involved_classes"]))
        rows.append({"id": item.id, "result": result[:-1] if index == 3 else result, "latency": [[1.0]]})
    path = tmp_path / "BFCL_v4_multi_turn_base_result.json"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows) + "{cut\n")
    options = "{categories: [multi_turn_base]}"
    command = ["score", "--suite", "bfcl", "--predictions", str(path), "--options", options, "-o", str(tmp_path / "s")]
    outcome = CliRunner().invoke(main, command)
    assert outcome.exit_code == 0, outcome.output
    summary = json.loads((tmp_path / "s" / "bfcl" / "summary.json").read_text())
    assert summary["metrics"]["by_category"] == {"multi_turn_base": 0.75}  # the fourth was cut short
    assert summary["n_items"] == 4 and summary["n_unreadable_lines"] == 1 and summary["n_missing"] == 196
    simple = build_suite(SuiteSettings(suite="bfcl", options={"categories": ["simple_python"], "per_category": 2}))
    rows = []
    for item in simple.items:  # BFCL's single-turn result rows of a function-calling model
        ((name, allowed),) = item.reference[0].items()
        arguments = {key: values[0] for key, values in allowed.items() if values[0] != ""}
        rows.append({"id": item.id, "result": [{name: json.dumps(arguments)}]})
    single = tmp_path / "BFCL_v4_simple_python_result.json"
    single.write_text("".join(json.dumps(row) + "\n" for row in rows))
    options = "{categories: [simple_python], per_category: 2}"
    outcome = CliRunner().invoke(main, ["score", "--suite", "bfcl", "--predictions", str(single), "--options", options])
    assert outcome.exit_code == 0, outcome.output
    assert (
        json.loads((tmp_path / "BFCL_v4_simple_python_result" / "bfcl" / "summary.json").read_text())["metrics"][
            "accuracy"
        ]
        == 1.0
    )
    outcome = CliRunner().invoke(main, [*command[:5], "--options", "{categories: [", "-o", str(tmp_path / "t")])
    assert outcome.exit_code == 2 and "--options" in outcome.output and "Traceback" not in outcome.output
