"""The harness's BFCL scoring, side by side with BFCL's own AST checker (the `bfcl-eval` package, installed
with --no-deps: see the README), on every gold answer and systematic mutations of it, in every category.

Each output is scored twice: by the harness exactly as an evaluation does (the suite's items, the text a
model would write, `Suite.score`) and by BFCL's `ast_checker` on the raw BFCL function docs.
"""

from __future__ import annotations

import copy
import importlib
import itertools
import json
import random
import sys
import types
from collections import Counter

import pytest

from harness.evaluate.suites import build_suite
from harness.evaluate.suites.bfcl import BFCL_CATEGORIES, BFCL_LANGUAGES, BFCL_WITHOUT_ANSWERS, SHIPPED
from harness.recipe import SuiteSettings

AST_CATEGORIES = [c for c in BFCL_CATEGORIES if c not in BFCL_WITHOUT_ANSWERS]
GOLD_KINDS = ("gold", "gold_other_values", "gold_reordered")


@pytest.fixture(scope="module")
def bfcl():
    """BFCL's `ast_checker` and `Language`. The checker reads one model-config flag (dotted names renamed for
    OpenAI-style APIs); the real config module imports every provider SDK, so a stub with one entry stands in."""
    pytest.importorskip("bfcl_eval", reason="BFCL's checker: pip install --no-deps bfcl-eval==2026.3.23")
    config = types.ModuleType("bfcl_eval.constants.model_config")
    config.MODEL_CONFIG_MAPPING = {"harness": types.SimpleNamespace(underscore_to_dot=False)}
    sys.modules.setdefault("bfcl_eval.constants.model_config", config)
    checker = importlib.import_module("bfcl_eval.eval_checker.ast_eval.ast_checker")
    return checker.ast_checker, importlib.import_module("bfcl_eval.constants.enums").Language


# --- model outputs: gold calls written as a model would, and mutations of them -------------------


def java_literal(value, element_type: str | None = None, quote_strings: bool = True) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"' if quote_strings and element_type in (None, "String", "char") else value
    if element_type == "long":
        return f"{value}L"
    if element_type == "float":
        return f"{value}f"
    return str(value)


def java_text(value, declared: str, element: str | None) -> str:
    """A gold value as Java source, the way BFCL asks a model to write it."""
    if isinstance(value, str) and declared not in ("String", "any", "char"):
        return value  # a variable name
    if declared == "HashMap" and isinstance(value, dict):
        puts = " ".join(
            f'put("{k}", {java_literal(first(v) if isinstance(v, list) else v)});' for k, v in value.items()
        )
        return f"new HashMap<String, String>() {{{{ {puts} }}}}"
    if declared == "ArrayList" and isinstance(value, list):
        return f"new ArrayList<>(Arrays.asList({', '.join(java_literal(e, element) for e in value)}))"
    if declared == "Array" and isinstance(value, list):
        return f"new {element or 'Object'}[]{{{', '.join(java_literal(e, element, False) for e in value)}}}"
    if declared in ("String", "any", "char"):
        return value if isinstance(value, str) else json.dumps(value)
    return java_literal(value, declared)


def js_literal(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"'{value}'"
    if isinstance(value, list):
        return "[" + ", ".join(js_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return (
            "{"
            + ", ".join(f"{k}: {js_literal(first(v) if isinstance(v, list) else v)}" for k, v in value.items())
            + "}"
        )
    return str(value)


def javascript_text(value, declared: str, element: str | None) -> str:
    if isinstance(value, str):
        return value
    if declared == "Bigint":
        return f"{value}n"
    return js_literal(value)


def first(values: list):
    return next((v for v in values if v != ""), "")


def gold_calls(ground_truth: list[dict], function_docs: list[dict], language: str, pick: int) -> list[dict]:
    """The gold calls, each parameter at its `pick`-th allowed value (optional ones left out only when
    nothing else is allowed), in the language's syntax."""
    specs = {f["name"]: f["parameters"]["properties"] for f in function_docs}
    calls = []
    for entry in ground_truth:
        ((name, params),) = entry.items()
        arguments = {}
        for key, allowed in params.items():
            values = [a for a in allowed if a != ""]
            if not values:
                continue
            value = values[min(pick, len(values) - 1)]
            spec = specs.get(name, {}).get(key, {})
            declared, element = spec.get("type"), (spec.get("items") or {}).get("type")
            if language == "java":
                value = java_text(value, declared, element)
            elif language == "javascript":
                value = javascript_text(value, declared, element)
            arguments[key] = value
        calls.append({"name": name, "arguments": arguments})
    return calls


def mutations(calls: list[dict], function_docs: list[dict], rng: random.Random) -> dict[str, list[dict]]:
    """Gold calls broken in one stated way each (only the ways this item allows)."""
    out = {}
    specs = {f["name"]: f["parameters"] for f in function_docs}
    target = calls[0]
    schema = specs.get(target["name"], {})

    def changed(update) -> list[dict]:
        broken = copy.deepcopy(calls)
        update(broken[0])
        return broken

    out["wrong_name"] = changed(lambda c: c.update(name=c["name"] + "_v2"))
    out["other_offered_function"] = None
    others = [f["name"] for f in function_docs if f["name"] != target["name"]]
    if others:
        out["other_offered_function"] = changed(lambda c: c.update(name=rng.choice(others)))
    out["extra_param"] = changed(lambda c: c["arguments"].update(zz_unknown=1))
    for key, value in target["arguments"].items():
        declared = schema.get("properties", {}).get(key, {}).get("type")
        if key in schema.get("required", []) and "missing_required" not in out:
            out["missing_required"] = changed(lambda c, k=key: c["arguments"].pop(k))
        if key not in schema.get("required", []) and "missing_optional" not in out:
            out["missing_optional"] = changed(lambda c, k=key: c["arguments"].pop(k))
        if isinstance(value, str) and "wrong_value_string" not in out:
            out["wrong_value_string"] = changed(lambda c, k=key: c["arguments"].update({k: c["arguments"][k] + " x"}))
            out["string_case_and_spaces"] = changed(
                lambda c, k=key: c["arguments"].update({k: " " + c["arguments"][k].upper().replace(" ", "_")})
            )
            out["wrong_type_string_as_int"] = changed(lambda c, k=key: c["arguments"].update({k: 7}))
        if isinstance(value, bool) and "wrong_value_bool" not in out:
            out["wrong_value_bool"] = changed(lambda c, k=key: c["arguments"].update({k: not c["arguments"][k]}))
            out["wrong_type_bool_as_string"] = changed(
                lambda c, k=key: c["arguments"].update({k: str(c["arguments"][k])})
            )
        if type(value) in (int, float) and "wrong_value_number" not in out:
            out["wrong_value_number"] = changed(lambda c, k=key: c["arguments"].update({k: c["arguments"][k] + 1000}))
            out["wrong_type_number_as_string"] = changed(
                lambda c, k=key: c["arguments"].update({k: str(c["arguments"][k])})
            )
            out["int_float_swap"] = changed(
                lambda c, k=key: c["arguments"].update(
                    {k: float(c["arguments"][k]) if isinstance(c["arguments"][k], int) else int(c["arguments"][k])}
                )
            )
        if isinstance(value, list) and "list_dropped_element" not in out:
            out["list_dropped_element"] = changed(lambda c, k=key: c["arguments"][k].pop()) if value else None
            out["list_extra_element"] = changed(
                lambda c, k=key: c["arguments"][k].append(c["arguments"][k][0] if c["arguments"][k] else 1)
            )
            out["list_reversed"] = changed(lambda c, k=key: c["arguments"][k].reverse())
            out["list_as_scalar"] = changed(
                lambda c, k=key: c["arguments"].update({k: c["arguments"][k][0] if c["arguments"][k] else ""})
            )
            if value and isinstance(value[0], dict):
                out["list_of_dicts_changed_entry"] = changed(lambda c, k=key: c["arguments"][k][0].update(zz=1))
        if isinstance(value, dict) and "dict_extra_key" not in out:
            out["dict_extra_key"] = changed(lambda c, k=key: c["arguments"][k].update(zz_key="v"))
            if value:
                inner = next(iter(value))
                out["dict_dropped_key"] = changed(lambda c, k=key, i=inner: c["arguments"][k].pop(i))
                out["dict_value_as_list"] = changed(
                    lambda c, k=key, i=inner: c["arguments"][k].update({i: [c["arguments"][k][i]]})
                )
                out["dict_wrong_value"] = changed(lambda c, k=key, i=inner: c["arguments"][k].update({i: "zz-wrong"}))
        if declared == "string" and isinstance(value, str) and "wrong_type_string_as_list" not in out:
            out["wrong_type_string_as_list"] = changed(lambda c, k=key: c["arguments"].update({k: [c["arguments"][k]]}))
    if len(calls) > 1:
        out["dropped_call"] = calls[1:]
        out["duplicated_call"] = [calls[0]] + calls[:-1]
        out["extra_call"] = calls + [calls[0]]
    out["no_call"] = []
    return {kind: broken for kind, broken in out.items() if broken is not None}


def as_text(calls: list[dict]) -> str:
    return "".join(f"<tool_call>{json.dumps(call)}</tool_call>" for call in calls)


# --- the comparison ------------------------------------------------------------------------------


def compare(bfcl, category: str) -> dict:
    ast_checker, language_enum = bfcl
    language = BFCL_LANGUAGES.get(category, "python")
    suite = build_suite(SuiteSettings(suite="bfcl", options={"categories": [category]}))
    docs = {}
    for line in (SHIPPED / f"BFCL_v4_{category}.json").read_text().splitlines():
        row = json.loads(line)
        docs[row["id"]] = row["function"]
    rng = random.Random(0)
    tally = Counter()
    disagreements = []
    for item in suite.items:
        function_docs = docs[item.id]
        outputs = {
            "gold": gold_calls(item.reference, function_docs, language, 0),
            "gold_other_values": gold_calls(item.reference, function_docs, language, 1),
        }
        if len(item.reference) > 1:
            outputs["gold_reordered"] = gold_calls(item.reference[::-1], function_docs, language, 0)
        outputs |= mutations(outputs["gold"], function_docs, rng)
        for kind, calls in outputs.items():
            ours = suite.score(as_text(calls), item).correct
            try:
                theirs = ast_checker(
                    copy.deepcopy(function_docs),
                    [{c["name"]: copy.deepcopy(c["arguments"])} for c in calls],
                    item.reference,
                    getattr(language_enum, language.upper()),
                    category,
                    "harness",
                )["valid"]
            except (KeyError, TypeError, AttributeError, ValueError, IndexError, NotImplementedError):
                # BFCL's checker crashes on some malformed outputs; those are not compared
                tally["bfcl_raised"] += 1
                continue
            group = "gold" if kind in GOLD_KINDS else "mutation"
            tally[f"{group}_total"] += 1
            tally[f"{group}_agree"] += ours == theirs
            tally[f"{group}_both_correct"] += ours and theirs
            if ours != theirs and ours and greedy_order_fails(bfcl, function_docs, calls, item.reference, category):
                tally["one_to_one_matching"] += 1  # the harness's deliberate difference: see README
            elif ours != theirs:
                disagreements.append((item.id, kind, ours, theirs))
    return {"tally": tally, "disagreements": disagreements}


def greedy_order_fails(bfcl, function_docs, calls, reference, category) -> bool:
    """Whether BFCL rejects these calls only for its greedy matching: some order of them passes its checker."""
    ast_checker, language_enum = bfcl
    return len(calls) > 1 and any(
        ast_checker(
            copy.deepcopy(function_docs),
            [{c["name"]: c["arguments"]} for c in order],
            reference,
            language_enum.PYTHON,
            category,
            "harness",
        )["valid"]
        for order in itertools.permutations(calls)
    )


@pytest.mark.parametrize("category", AST_CATEGORIES)
def test_the_harness_agrees_with_bfcls_checker(bfcl, category):
    result = compare(bfcl, category)
    tally, disagreements = result["tally"], result["disagreements"]
    assert not [d for d in disagreements if d[1] in GOLD_KINDS], disagreements[:5]
    assert tally["one_to_one_matching"] <= {"parallel": 1}.get(category, 0)  # parallel_178, reordered gold
    assert tally["gold_both_correct"] >= 0.9 * tally["gold_total"], tally  # the outputs exercise the value rules
    assert tally["mutation_total"] > 2 * tally["gold_total"] / 3
    compared = tally["gold_total"] + tally["mutation_total"]
    assert (compared - len(disagreements)) / compared >= 0.995, disagreements[:10]
    assert tally["bfcl_raised"] <= 0.01 * compared
