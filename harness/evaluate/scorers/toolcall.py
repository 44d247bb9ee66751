"""Tool calls, parsed with `json` (never executed) and judged by the rules of BFCL's AST checker.

The reference is BFCL's possible-answer form: a list of `{function_name: {param: [allowed values]}}`,
where `""` among the allowed values marks an optional parameter that may be left out; `[]` means no call
is due (irrelevance: output that does not decode to a call passes), None that some call is due and any
will do (relevance). The declared types come with the item (`meta["functions"]` or `meta["tools"]`).
Rules, in the order they are checked (the first failure is the reason):
1. the output parses (`<tool_call>{...}</tool_call>` blocks or plain JSON: models/tool_calls.py);
2. as many calls as expected, or none when none is due;
3. the function name matches (a name not among the offered tools is a hallucinated function);
4. every required parameter is present; then, argument by argument, it is declared and expected, its
   value has the declared type (an int passes where a float is declared; a value of the type the allowed
   values have passes as a variable name; Java and JavaScript values are strings in the language's syntax,
   converted by `source_values`), and it is one of the allowed values (strings compared without spaces
   and `,./-_*^`, lower-cased; list elements and dict entries one level deep, as BFCL does);
5. every expected parameter not marked optional is given.
Parallel calls may come in any order and are matched one to one (BFCL matches greedily, in the gold
order; the two differ only when one call fits several gold calls).
"""

from __future__ import annotations

import re

from harness.evaluate.scorers import Verdict, source_values
from harness.models.tool_calls import ParseError, parse_tool_calls

# --- checking -----------------------------------------------------------------------------------

# Declared parameter types -> the Python type a value must have; BFCL's Python table, plus the JSON-schema
# names (number, object) that OpenAI-style tools use. `any` means a string, as in BFCL.
PYTHON_TYPES = {
    "string": str,
    "integer": int,
    "float": float,
    "number": float,
    "boolean": bool,
    "array": list,
    "tuple": list,
    "dict": dict,
    "object": dict,
    "any": str,
}
NESTED = ("array", "tuple")  # Python types whose elements are type-checked too (one level, as BFCL does)
IGNORED = re.compile(r"[ ,./\-_*^]")


def standardize(text: str) -> str:
    """BFCL's string comparison: without spaces and `,./-_*^`, lower-cased, single quotes as double."""
    return IGNORED.sub("", text).lower().replace("'", '"')


def _answer_type(allowed: list):
    """The type of the first allowed value (`""` marks an optional parameter and has none)."""
    return next((type(a) for a in allowed if a != ""), None)


def _type_ok(value, allowed: list, expected: type | None, element: type | None) -> tuple[bool, bool]:
    """(type is right, value is a variable name): BFCL's type checker. A value of the type the allowed
    values have (a string naming a variable where a number is declared) passes as a variable."""
    if expected is None:
        return True, False
    answer_type = _answer_type(allowed)
    is_variable = answer_type is not None and answer_type is not expected
    if type(value) is expected:
        if element is None:
            return True, is_variable
        for candidate in allowed:
            if type(candidate) is not list or all(_type_ok(v, candidate, element, None)[0] for v in value):
                return True, is_variable
        return False, is_variable
    return answer_type is not None and type(value) is answer_type, True


def _standardized(value):
    """Strings as BFCL compares them; other values as they are."""
    return standardize(value) if type(value) is str else value


def _strings_standardized(values) -> list:
    return [_standardized(v) for v in values]


def _dict_ok(value: dict, allowed: list) -> bool:
    """Some allowed dict (`{key: [allowed values]}`) holds every key given, each at an allowed value,
    and every key it does not mark optional."""
    if not isinstance(value, dict):
        return False
    for candidate in allowed:
        if not isinstance(candidate, dict):
            continue
        given = all(
            key in candidate and _standardized(v) in _strings_standardized(candidate[key]) for key, v in value.items()
        )
        if given and all(key in value or "" in options for key, options in candidate.items()):
            return True
    return False


def _value_ok(value, allowed: list, expected: type | None, element: type | None) -> bool:
    if expected is dict:
        return _dict_ok(value, allowed)
    if expected is list and element is dict:
        return any(
            isinstance(candidate, (list, str))
            and len(candidate) == len(value)
            and all(_dict_ok(v, [c]) for v, c in zip(value, candidate, strict=True))
            for candidate in allowed
        )
    if expected is str:
        return standardize(value) in _strings_standardized(a for a in allowed if type(a) is str)
    if expected is list:
        candidates = [_strings_standardized(a) for a in allowed if isinstance(a, (list, str))]
        return _strings_standardized(value) in candidates
    return value in allowed


def _schemas(tools: list[dict] | None) -> dict[str, dict]:
    schemas = {}
    for tool in tools or []:
        function = tool.get("function", tool)
        schemas[function["name"]] = function.get("parameters") or {}
    return schemas


def _argument_error(name: str, value, allowed: list, spec: dict, language: str):
    """(error type, reason) for one argument, or None: BFCL's type and value rules for one language."""
    declared, items = spec.get("type"), (spec.get("items") or {}).get("type")
    if language in source_values.TYPES:
        table = source_values.TYPES[language]
        if declared not in table:
            return "wrong_type", f"{name}: BFCL has no {language} type {declared!r}"
        if type(value) is not str:
            return "wrong_type", f"{name}: a {language} value is given as a string, got {value!r}"
        element_declared = items if declared in source_values.COLLECTIONS else None
        expected, element = table[declared], table.get(element_declared) if element_declared else None
        try:
            value = source_values.convert(language, value, declared, element_declared)
        except source_values.Unsupported as error:
            return "wrong_type", f"{name}: {error}"
    else:
        expected = PYTHON_TYPES.get(declared)
        element = PYTHON_TYPES.get(items) if declared in NESTED else None
        if expected is float and type(value) is int:
            value = float(value)  # an int is accepted where a float is expected
    type_ok, is_variable = _type_ok(value, allowed, expected, element)
    if not type_ok:
        return "wrong_type", f"{name}: {value!r} is not of type {declared}"
    if not (value in allowed if is_variable else _value_ok(value, allowed, expected, element)):
        return "wrong_value", f"{name}: {value!r} not among the allowed {allowed!r}"
    return None


def check_call(call: dict, gold: dict, schemas: dict[str, dict], language: str = "python"):
    """(error type, reason) for one call against one gold `{name: {param: allowed}}`; (None, None) if right."""
    ((gold_name, gold_params),) = gold.items()
    if call["name"] != gold_name:
        kind = "hallucinated_function" if call["name"] not in schemas else "wrong_function"
        return kind, f"called {call['name']!r}, expected {gold_name!r}"
    schema = schemas.get(gold_name, {})
    properties = schema.get("properties", {})
    arguments = call["arguments"]
    for name in schema.get("required", []):
        if name not in arguments:
            return "missing_required", f"{gold_name}: required parameter {name!r} missing"
    for name, value in arguments.items():
        if name not in properties or name not in gold_params:
            return "unknown_param", f"{gold_name}: unexpected parameter {name!r}"
        error = _argument_error(f"{gold_name}.{name}", value, gold_params[name], properties[name], language)
        if error:
            return error
    for name, allowed in gold_params.items():
        if name not in arguments and "" not in allowed:
            return "missing_param", f"{gold_name}: parameter {name!r} missing"
    return None, None


def score_calls(
    calls: list[dict], reference: list[dict] | None, tools: list[dict] | None, language: str = "python"
) -> Verdict:
    """`reference` [] means no call is due (irrelevance); None that a call is due and any will do
    (BFCL's live_relevance)."""
    schemas = _schemas(tools)
    details = {
        "n_calls": len(calls),
        "name_correct": False,
        "error_type": None,
        "hallucinated": any(c["name"] not in schemas for c in calls),
    }
    if reference is None:
        details["name_correct"] = bool(calls)
        if not calls:
            details["error_type"] = "missing_call"
            return Verdict(False, 0.0, "no tool call where one is due", calls, details)
        return Verdict(True, 1.0, None, calls, details)
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
    checks = [[check_call(call, gold, schemas, language) for gold in reference] for call in calls]
    if _perfect_matching([[error is None for error, _ in row] for row in checks]):
        return Verdict(True, 1.0, None, calls, details)  # parallel calls may come in any order
    # Report the first call that matches no gold call, with its error against the gold of its name.
    for call, row in zip(calls, checks, strict=True):
        if all(error for error, _ in row):
            same_name = [e for e, g in zip(row, reference, strict=True) if next(iter(g)) == call["name"]]
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
    """`meta["functions"]` (the declared types, when the tools shown differ: BFCL's Java and JavaScript
    tools are shown with string parameters) or `meta["tools"]`; `meta["language"]`: python, java, javascript."""
    meta = meta or {}
    try:
        calls = parse_tool_calls(prediction)
    except ParseError as error:
        if reference == []:  # as in BFCL, output that does not decode to a call makes no call
            return Verdict(
                True,
                1.0,
                None,
                [],
                {"n_calls": 0, "name_correct": True, "error_type": None, "hallucinated": False, "unparsed": str(error)},
            )
        details = {"n_calls": 0, "name_correct": False, "error_type": "parse_error", "hallucinated": False}
        return Verdict(False, 0.0, str(error), None, details)
    return score_calls(calls, reference, meta.get("functions") or meta.get("tools"), meta.get("language", "python"))


def gold_from_calls(calls: list[dict]) -> list[dict]:
    """Exact gold calls ({name, arguments}) -> the possible-answer form, each value the only one allowed."""
    return [{call["name"]: {k: [v] for k, v in call["arguments"].items()}} for call in calls]
