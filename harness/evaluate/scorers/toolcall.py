"""Tool calls, parsed with `json` (never executed) and judged by BFCL's AST-checker rules.

The reference is BFCL's possible-answer form: a list of `{function_name: {param: [allowed values]}}`,
where `""` among the allowed values marks an optional parameter that may be left out; an empty list
means no call is due (irrelevance). The tool schemas come with the item (`meta["tools"]`). Rules, in
the order they are checked (the first failure is the reason):
1. the output parses (`<tool_call>{...}</tool_call>` blocks, plain JSON, or OpenAI `tool_calls`);
2. as many calls as expected, or none when none is due;
3. the function name matches (a name not among the offered tools is a hallucinated function);
4. every required parameter is present and no unknown one is;
5. each value has the schema's type (an int is accepted where a float is expected);
6. each value is one of the allowed ones (strings compared without spaces and `,./-_*^`, lower-cased;
   lists and dicts element by element); parallel calls may come in any order.
"""

from __future__ import annotations

import json
import re

from harness.evaluate.scorers import Verdict

TOOL_CALL = re.compile(r"<tool_call>(.*?)</tool_call>", re.DOTALL)
MAX_CHARS = 50_000  # tool calls longer than this are rejected unparsed


class ParseError(ValueError):
    pass


def parse_tool_calls(text: str) -> list[dict]:
    """[{name, arguments}] from model output; [] when it makes no call. Raises ParseError."""
    if len(text) > MAX_CHARS:
        raise ParseError(f"output of {len(text)} characters is too long to parse")
    if "<tool_call>" in text:
        blocks = TOOL_CALL.findall(text)
        if len(blocks) != text.count("<tool_call>"):
            raise ParseError("unclosed <tool_call>")
        return [_call(_loads(block), f"tool call {i}") for i, block in enumerate(blocks)]
    stripped = text.strip()
    if stripped.startswith(("{", "[")):
        data = _loads(stripped)
        items = data if isinstance(data, list) else [data]
        if all(isinstance(item, dict) and "name" in item for item in items):
            return [_call(item, f"call {i}") for i, item in enumerate(items)]
    return []


def calls_from_openai(tool_calls: list[dict]) -> list[dict]:
    """The OpenAI chat-completions `tool_calls` field -> [{name, arguments}]."""
    return [_call(call.get("function", call), f"tool_calls[{i}]") for i, call in enumerate(tool_calls)]


def _loads(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ParseError(f"invalid JSON in tool call ({error.msg})") from None
    except RecursionError:
        raise ParseError("JSON nested too deeply") from None


def _call(data, where: str) -> dict:
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        raise ParseError(f"{where} has no function name")
    arguments = data.get("arguments", data.get("parameters", {}))
    if isinstance(arguments, str):
        arguments = _loads(arguments)
    if not isinstance(arguments, dict):
        raise ParseError(f"{where} arguments are not a JSON object")
    return {"name": data["name"], "arguments": arguments}


# --- checking -----------------------------------------------------------------------------------

BFCL_TYPES = {"dict": "object", "float": "number", "tuple": "array", "any": "any"}
STRIP = re.compile(r"[ ,./\-_*^]")


def normalize_schema_type(kind: str | None) -> str:
    return BFCL_TYPES.get(kind or "any", kind or "any")


def _type_ok(value, kind: str) -> bool:
    kind = normalize_schema_type(kind)
    if kind == "any":
        return True
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    checks = {"string": str, "boolean": bool, "array": list, "object": dict}
    return isinstance(value, checks.get(kind, object))


def _norm(value):
    if isinstance(value, str):
        return STRIP.sub("", value).lower()
    if isinstance(value, list):
        return [_norm(v) for v in value]
    if isinstance(value, dict):
        return {k: _norm(v) for k, v in value.items()}
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _value_ok(value, allowed: list) -> bool:
    target = _norm(value)
    return any(candidate != "" and _norm(candidate) == target for candidate in allowed)


def _schemas(tools: list[dict] | None) -> dict[str, dict]:
    schemas = {}
    for tool in tools or []:
        function = tool.get("function", tool)
        schemas[function["name"]] = function.get("parameters") or {}
    return schemas


def check_call(call: dict, gold: dict, schemas: dict[str, dict]) -> tuple[str | None, str | None]:
    """(error type, reason) for one call against one gold `{name: {param: allowed}}`; (None, None) if right."""
    (gold_name, gold_params), = gold.items()
    if call["name"] != gold_name:
        kind = "hallucinated_function" if call["name"] not in schemas else "wrong_function"
        return kind, f"called {call['name']!r}, expected {gold_name!r}"
    schema = schemas.get(gold_name, {})
    properties = schema.get("properties", {})
    arguments = call["arguments"]
    for name in schema.get("required", []):
        if name not in arguments:
            return "missing_required", f"{gold_name}: required parameter {name!r} missing"
    for name in arguments:
        if name not in properties and name not in gold_params:
            return "unknown_param", f"{gold_name}: unknown parameter {name!r}"
    for name, value in arguments.items():
        kind = properties.get(name, {}).get("type")
        if not _type_ok(value, kind):
            return "wrong_type", f"{gold_name}.{name}: {value!r} is not of type {normalize_schema_type(kind)}"
        allowed = gold_params.get(name)
        if allowed is None:
            return "unknown_param", f"{gold_name}: parameter {name!r} is not expected"
        if not _value_ok(value, allowed):
            return "wrong_value", f"{gold_name}.{name}: {value!r} not among the allowed {allowed!r}"
    for name, allowed in gold_params.items():
        if name not in arguments and "" not in allowed:
            return "missing_param", f"{gold_name}: parameter {name!r} missing"
    return None, None


def score_calls(calls: list[dict], reference: list[dict], tools: list[dict] | None) -> Verdict:
    schemas = _schemas(tools)
    details = {"n_calls": len(calls), "name_correct": False, "error_type": None,
               "hallucinated": any(c["name"] not in schemas for c in calls)}  # fmt: skip
    if not reference:
        details["name_correct"] = not calls
        if calls:
            details["error_type"] = "unexpected_call"
            return Verdict(False, 0.0, f"called {calls[0]['name']!r} where no call is due", calls, details)
        return Verdict(True, 1.0, None, calls, details)
    if not calls:
        details["error_type"] = "missing_call"
        return Verdict(False, 0.0, "no tool call", calls, details)
    if len(calls) != len(reference):
        details["error_type"] = "wrong_count"
        return Verdict(False, 0.0, f"{len(calls)} call(s), expected {len(reference)}", calls, details)
    details["name_correct"] = sorted(c["name"] for c in calls) == sorted(next(iter(g)) for g in reference)
    checks = [[check_call(call, gold, schemas) for gold in reference] for call in calls]
    if _perfect_matching([[error is None for error, _ in row] for row in checks]):
        return Verdict(True, 1.0, None, calls, details)  # parallel calls may come in any order
    # Report the first call that matches no gold call, with its error against the gold of its name.
    for call, row in zip(calls, checks, strict=True):
        if all(error for error, _ in row):
            same_name = [e for e, g in zip(row, reference) if next(iter(g)) == call["name"]]
            error_type, reason = (same_name or row)[0]
            break
    else:
        error_type, reason = "wrong_count", "calls match gold calls, but not one to one"
    details["error_type"] = error_type
    return Verdict(False, 0.0, reason, calls, details)


def _perfect_matching(ok: list[list[bool]]) -> bool:
    """Whether every call can be paired with a distinct gold call it satisfies (Kuhn's algorithm)."""
    owner: dict[int, int] = {}

    def assign(call: int, seen: set[int]) -> bool:
        for gold, fits in enumerate(ok[call]):
            if fits and gold not in seen:
                seen.add(gold)
                if gold not in owner or assign(owner[gold], seen):
                    owner[gold] = call
                    return True
        return False

    return all(assign(call, set()) for call in range(len(ok)))


def score(prediction: str, reference: list[dict], meta: dict | None = None) -> Verdict:
    meta = meta or {}
    try:
        calls = parse_tool_calls(prediction)
    except ParseError as error:
        details = {"n_calls": 0, "name_correct": False, "error_type": "parse_error", "hallucinated": False}
        return Verdict(False, 0.0, str(error), None, details)
    return score_calls(calls, reference, meta.get("tools"))


def gold_from_calls(calls: list[dict]) -> list[dict]:
    """Exact gold calls ({name, arguments}) -> the possible-answer form, each value the only one allowed."""
    return [{call["name"]: {k: [v] for k, v in call["arguments"].items()}} for call in calls]
