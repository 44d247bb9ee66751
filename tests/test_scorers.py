"""Scorers on hand-made cases and on the real GSM8K and BFCL files: gold scores right, wrong scores wrong."""

import json
import random

import pytest
from conftest import BFCL, GSM8K

from harness.evaluate.scorers import reasoning, source_values, text, toolcall
from harness.evaluate.suites.bfcl import bfcl_tool
from harness.models import tool_calls

# --- reasoning ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "prediction,gold",
    [
        ("<think>\n2 + 2 = 4\n</think>\n\nThe answer is 4.", "4"),
        ("The final answer is: 1,250", "1250"),
        ("so we get \\boxed{\\frac{1}{2}}", "0.5"),
        ("The answer is 18.0", "18"),
        ("#### 72", "Natalia sold 48/2 = 24 clips in May.\n#### 72"),
        ("The answer is $5.", "5"),
        ("I think it is 7, no wait, 9", "9"),
    ],
)
def test_reasoning_gold_equivalents_score_correct(prediction, gold):
    assert reasoning.score(prediction, gold).correct


@pytest.mark.parametrize(
    "prediction,gold,reason",
    [
        ("<think>\n2 + 2 = 4\n</think>\n\nThe answer is 5.", "4", "answered 5, expected 4"),
        ("<think>\nstill thinking about 4", "4", "no final answer after the thinking trace"),
        ("", "4", "no answer found"),
        ("The answer is forty", "40", "answered forty, expected 40"),
        ("<think>The answer is 4</think> The answer is 3", "4", "answered 3, expected 4"),
    ],
)
def test_reasoning_wrong_answers_score_wrong_with_a_reason(prediction, gold, reason):
    verdict = reasoning.score(prediction, gold)
    assert not verdict.correct and verdict.reason == reason


def test_strict_needs_the_format_flexible_takes_the_last_number():
    loose = reasoning.score("so it must be 12", "12")
    assert loose.correct and not loose.details["strict"] and loose.details["flexible"]
    formatted = reasoning.score("<think>x</think>The answer is 12.", "12")
    assert formatted.details["strict"] and formatted.details["has_trace"]


def test_enormous_and_binary_outputs_do_not_hang_or_crash():
    assert not reasoning.score("9" * 2_000_000 + " x", "3").correct
    assert not reasoning.score("\udcff\x00 <think>", "3").correct


def test_every_gsm8k_gold_solution_scores_correct_and_changed_answers_do_not():
    rows = [json.loads(line) for line in GSM8K.read_text().splitlines()]
    assert len(rows) == 1319
    for row in rows:
        assert reasoning.score(row["answer"], row["answer"]).correct, row["answer"][-40:]
        gold = reasoning.gold_answer(row["answer"])
        changed = row["answer"].rsplit("####", 1)[0] + f"#### {int(gold.replace(',', '')) + 1}"
        assert not reasoning.score(changed, row["answer"]).correct


# --- text ---------------------------------------------------------------------------------------


def test_exact_match_normalizes_case_punctuation_and_articles():
    assert text.exact_match("This is a Positive sentiment.", "this is a positive sentiment").correct
    assert text.exact_match("¿Dónde? Lima", "dónde lima").correct
    assert not text.exact_match("this is a negative sentiment", "this is a positive sentiment").correct


def test_rouge_l_gives_partial_credit_in_every_language():
    assert text.rouge_l("chat chien", "chat chien").score == 1.0
    partial = text.rouge_l("árbol casa perro", "perro casa árbol")
    assert 0 < partial.score < 1 and not partial.correct
    assert text.rouge_l("xyz", "árbol").score == 0.0


# --- tool calls ---------------------------------------------------------------------------------

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer"},
                "lat": {"type": "number"},
            },
            "required": ["city"],
        },
    },
}
META = {"tools": [WEATHER]}
GOLD = [
    {"get_weather": {"city": ["Paris", "paris, france"], "unit": ["celsius", ""], "days": [3, ""], "lat": [48.0, ""]}}
]


def call(name="get_weather", **arguments):
    return f"<tool_call>{json.dumps({'name': name, 'arguments': arguments})}</tool_call>"


@pytest.mark.parametrize(
    "prediction",
    [
        call(city="Paris"),
        call(city="PARIS, France", unit="celsius"),
        call(city="paris", lat=48),  # an int where a float is expected
        '{"name": "get_weather", "arguments": {"city": "Paris"}}',  # plain JSON
        '[{"name": "get_weather", "parameters": {"city": "Paris", "days": 3}}]',
    ],
)
def test_right_calls_pass(prediction):
    verdict = toolcall.score(prediction, GOLD, META)
    assert verdict.correct, verdict.reason


@pytest.mark.parametrize(
    "prediction,error_type",
    [
        (call("get_forecast", city="Paris"), "hallucinated_function"),
        (call(unit="celsius"), "missing_required"),
        (call(city="Paris", country="FR"), "unknown_param"),
        (call(city="Paris", days="3"), "wrong_type"),
        (call(city="Paris", days=3.5), "wrong_type"),
        (call(city="Rome"), "wrong_value"),
        (call(city="Paris") + call(city="Paris"), "wrong_count"),
        ("It is sunny in Paris.", "missing_call"),
        ('<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}', "parse_error"),
        ("<tool_call>{'name': 'get_weather'}</tool_call>", "parse_error"),
        ('<tool_call>{"name": "get_weather", "arguments": "[1]"}</tool_call>', "parse_error"),
        ("<tool_call>" + "[" * 100_000 + "]" * 100_000 + "</tool_call>", "parse_error"),
        (
            '<tool_call>{"name": "__import__(\'os\').system(\'echo pwned\')", "arguments": {}}</tool_call>',
            "hallucinated_function",
        ),
    ],
)
def test_wrong_calls_fail_for_the_stated_reason(prediction, error_type):
    verdict = toolcall.score(prediction, GOLD, META)
    assert not verdict.correct and verdict.details["error_type"] == error_type, verdict


def test_optional_parameter_must_be_omitted_unless_allowed():
    gold = [{"get_weather": {"city": ["Paris"], "unit": ["celsius"]}}]  # unit required by the answer
    assert toolcall.score(call(city="Paris"), gold, META).details["error_type"] == "missing_param"


def test_parallel_calls_match_in_any_order_and_irrelevance_needs_no_call():
    gold = [{"get_weather": {"city": ["Paris"]}}, {"get_weather": {"city": ["Rome"]}}]
    assert toolcall.score(call(city="Rome") + call(city="Paris"), gold, META).correct
    assert not toolcall.score(call(city="Rome") + call(city="Oslo"), gold, META).correct
    assert toolcall.score("Sorry, no tool fits.", [], META).correct
    assert toolcall.score(call(city="Paris"), [], META).details["error_type"] == "unexpected_call"


def test_openai_tool_calls_field_is_read():
    """A server's `tool_calls` (chat mode of the openai backend) reach the scorer as <tool_call> text."""
    from harness.evaluate.backends.openai import _chat_text

    message = {"content": None, "tool_calls": [{"function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]}
    assert toolcall.score(_chat_text(message, {}), GOLD, META).correct


def bfcl_rows(category):
    questions = [json.loads(line) for line in (BFCL / f"BFCL_v4_{category}.json").read_text().splitlines()]
    answer_file = BFCL / "possible_answer" / f"BFCL_v4_{category}.json"
    answers = (
        {a["id"]: a["ground_truth"] for a in map(json.loads, answer_file.read_text().splitlines())}
        if answer_file.exists()
        else {}
    )
    return [(q, answers.get(q["id"], [])) for q in questions]


def fits(value, kind: str | None) -> bool:
    expected = toolcall.PYTHON_TYPES.get(kind)
    return expected is None or type(value) is expected or (expected is float and type(value) is int)


def chosen(value):
    """A gold dict value lists each entry's allowed values (`{"city": ["Paris", "paris"]}`): take the first."""
    if isinstance(value, dict):
        return {k: next(a for a in v if a != "") if isinstance(v, list) else v for k, v in value.items()}
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return [chosen(v) for v in value]
    return value


def render_gold(ground_truth, pick=0, tools=()):
    """A model output that makes the gold calls, each parameter at one of its allowed values.

    `""` (may be left out) is honoured only for parameters the schema does not require: BFCL's checker
    tests the schema's required list first, so leaving those out fails there too."""
    required = {t["function"]["name"]: set(t["function"]["parameters"].get("required", [])) for t in tools}
    types = {
        (t["function"]["name"], k): p.get("type")
        for t in tools
        for k, p in t["function"]["parameters"]["properties"].items()
    }
    out = ""
    for entry in ground_truth:
        ((name, params),) = entry.items()
        arguments = {}
        for key, allowed in params.items():
            if (name, key) not in types:
                return None  # parallel_multiple_12 expects a parameter its function does not declare
            # A few BFCL answers list a value of another type than the schema's (simple_python_307 allows
            # venue=true for a string): BFCL's own checker rejects those, so they are not gold outputs.
            usable = [
                a
                for a in allowed
                if (a == "" and key not in required.get(name, ())) or (a != "" and fits(a, types.get((name, key))))
            ]
            if not usable:
                return None  # parallel_multiple_21 allows only the string "data['sales']" for an array
            value = usable[min(pick, len(usable) - 1)]
            if value != "":
                arguments[key] = chosen(value)
        out += f"<tool_call>{json.dumps({'name': name, 'arguments': arguments})}</tool_call>"
    return out


@pytest.mark.parametrize("category", ["simple_python", "multiple", "parallel", "parallel_multiple", "irrelevance"])
def test_every_bfcl_gold_call_scores_correct(category):
    rows = bfcl_rows(category)
    assert rows
    inconsistent = []
    for question, gold in rows:
        meta = {"tools": [bfcl_tool(f) for f in question["function"]]}
        if render_gold(gold, 0, meta["tools"]) is None:
            inconsistent.append(question["id"])
            continue
        for pick in (0, 1):
            verdict = toolcall.score(render_gold(gold, pick, meta["tools"]), gold, meta)
            assert verdict.correct, (question["id"], verdict.reason)
        if len(gold) > 1:
            assert toolcall.score(render_gold(list(reversed(gold)), 0, meta["tools"]), gold, meta).correct
    assert inconsistent == {
        "parallel_multiple": ["parallel_multiple_12", "parallel_multiple_21", "parallel_multiple_26"]
    }.get(category, [])


def mutate(ground_truth, tools, kind, rng):
    """A gold output broken in one stated way; None when this item offers no such mutation."""
    gold_output = render_gold(ground_truth, 0, tools)
    if gold_output is None:
        return None
    calls = [tool_calls.parse_tool_calls(gold_output)[0]] + tool_calls.parse_tool_calls(gold_output)[1:]
    target = calls[0]
    schema = next(t["function"]["parameters"] for t in tools if t["function"]["name"] == target["name"])
    required = [p for p in schema.get("required", []) if p in target["arguments"]]
    if kind == "wrong_function":
        target["name"] = target["name"] + "_v2"
    elif kind == "missing_required":
        if not required:
            return None
        del target["arguments"][required[0]]
    elif kind == "wrong_type":
        strings = [
            k
            for k, v in target["arguments"].items()
            if isinstance(v, str) and schema["properties"].get(k, {}).get("type") == "string"
        ]
        if not strings:
            return None
        target["arguments"][strings[0]] = {"not": "a string"}
    elif kind == "wrong_value":
        numbers = [k for k, v in target["arguments"].items() if isinstance(v, int) and not isinstance(v, bool)]
        if not numbers:
            return None
        allowed = ground_truth[0][target["name"]][numbers[0]]
        target["arguments"][numbers[0]] = max(a for a in allowed if a != "") + 1000
    elif kind == "unknown_param":
        target["arguments"]["zz_unknown_param"] = 1
    return "".join(f"<tool_call>{json.dumps(c)}</tool_call>" for c in calls)


EXPECTED = {
    "wrong_function": {"hallucinated_function"},
    "missing_required": {"missing_required"},
    "wrong_type": {"wrong_type"},
    "wrong_value": {"wrong_value"},
    "unknown_param": {"unknown_param"},
}


@pytest.mark.parametrize("category", ["simple_python", "multiple", "parallel", "parallel_multiple"])
@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_bfcl_mutations_score_wrong_for_the_stated_reason(category, kind):
    rng = random.Random(0)
    tried = 0
    for question, gold in bfcl_rows(category):
        tools = [bfcl_tool(f) for f in question["function"]]
        broken = mutate(gold, tools, kind, rng)
        if broken is None:
            continue
        tried += 1
        verdict = toolcall.score(broken, gold, {"tools": tools})
        assert not verdict.correct, (question["id"], kind)
        if len(gold) == 1:  # with several calls, order-free matching may report another call's error first
            assert verdict.details["error_type"] in EXPECTED[kind], (question["id"], verdict.reason)
    assert tried > 10


def test_a_call_where_none_is_due_scores_wrong_on_bfcl_irrelevance():
    for question, _ in bfcl_rows("irrelevance"):
        name = question["function"][0]["name"]
        verdict = toolcall.score(
            f'<tool_call>{{"name": "{name}", "arguments": {{}}}}</tool_call>',
            [],
            {"tools": [bfcl_tool(f) for f in question["function"]]},
        )
        assert verdict.details["error_type"] == "unexpected_call"


def test_irrelevance_and_relevance_follow_bfcl():
    """[] = no call is due: an output that does not decode to a call passes, as in BFCL; None = some call is due
    and any call passes (live_relevance)."""
    for no_call in ("I cannot help with that.", "<tool_call>{broken</tool_call>", ""):
        assert toolcall.score(no_call, [], META).correct
        assert not toolcall.score(no_call, None, META).correct
    assert not toolcall.score(call(city="Paris"), [], META).correct
    assert toolcall.score(call(name="anything", x=1), None, META).correct


@pytest.mark.parametrize(
    "text,declared,element,value",
    [
        ("50", "integer", None, 50),
        ("50L", "long", None, 50),
        ("1.5f", "float", None, 1.5),
        ("true", "boolean", None, True),
        ("fifty", "integer", None, "fifty"),  # a value that does not parse stays text, and fails the value check
        ('new ArrayList<>(Arrays.asList("a", "b"))', "ArrayList", "String", ["a", "b"]),
        ("new int[]{2, 7}", "Array", "integer", [2, 7]),
        (
            'new HashMap<String, String>() {{ put("limit", 50); put("on", true); }}',
            "HashMap",
            None,
            {"limit": 50, "on": True},
        ),
    ],
)
def test_java_values_convert_by_the_declared_type(text, declared, element, value):
    assert source_values.convert("java", text, declared, element) == value


@pytest.mark.parametrize(
    "text,declared,element,value",
    [
        ("'abc'", "String", None, "abc"),
        ("12n", "Bigint", None, 12),
        ("[1, 'two', true]", "array", None, [1, "two", True]),
        ("[1.5, 2]", "array", "float", [1.5, 2.0]),
        ("{'key1': 123, 'key2': 'value'}", "dict", None, {"key1": 123, "key2": "value"}),
        ("[[1, 2], [3]]", "array", None, [[1, 2], [3]]),
        ("not a list", "array", None, "not a list"),
    ],
)
def test_javascript_values_convert_by_the_declared_type(text, declared, element, value):
    assert source_values.convert("javascript", text, declared, element) == value


def test_java_values_must_be_strings_and_unconvertible_types_fail_with_a_reason():
    tool = {
        "name": "f",
        "parameters": {"properties": {"n": {"type": "integer"}, "q": {"type": "Queue"}}, "required": []},
    }
    gold = [{"f": {"n": [5], "q": ["", "x"]}}]
    assert toolcall.score_calls([{"name": "f", "arguments": {"n": "5"}}], gold, [tool], "java").correct
    assert (
        toolcall.score_calls([{"name": "f", "arguments": {"n": 5}}], gold, [tool], "java").details["error_type"]
        == "wrong_type"
    )
    verdict = toolcall.score_calls([{"name": "f", "arguments": {"n": "5", "q": "x"}}], gold, [tool], "java")
    assert "BFCL does not convert Java Queue values" in verdict.reason


@pytest.mark.parametrize(
    "prediction,gold,correct",
    [
        ("The answer is \\frac{24}{2}.", "12", True),
        ("The answer is $\\sqrt{144}$", "12", True),
        ("The answer is $\\boxed{12}$", "12", True),
        ("The answer is \\boxed{12 + 0}.", "12", True),
        ("The final answer is \\frac{1}{2} + \\frac{1}{2}", "1", True),
        ("The answer is \\frac{1}{3}.", "0.5", False),
    ],
)
def test_latex_answers_after_the_answer_line_go_to_math_verify_whole(prediction, gold, correct):
    verdict = reasoning.score(prediction, gold)
    assert verdict.correct is correct and verdict.details["found_by"] == "answer_line"
