"""BFCL's multi-turn categories judged as bfcl-eval 2026.3.23's eval runner judges them, without running model
text as Python.

BFCL re-plays a conversation's decoded calls in fresh instances of its environment classes (file system,
trading, travel, messaging, ...), beside the ground truth's calls in instances of their own, and after each
turn whose ground truth calls something checks that the model's instances hold the same public state and that
every result the ground truth's calls gave this turn is among the results the model's calls gave so far
(`state_checker`, `response_checker`: BFCL's own functions, used as they are). Its executor builds each call
as text and runs it with `eval`; here `BfclWorld` reads the call with `ast` and dispatches it by name to a
method of an environment instance, its arguments literals (`ast.literal_eval`), with the rest of BFCL's
executor kept (the instance-name rewriting, even inside string literals; the forbidden names; how results
become strings; `Error during execution: ...` for a call that fails). The eval runner's checks before the
checker are kept too: a result that is not a list of turns, a turn count that differs from the ground
truth's (a conversation cut short by the step limit), steps that do not decode or decode to nothing (text)
skipped.

The environment classes and the two checks come from the installed `bfcl-eval` (Apache-2.0), like the data.
"""

from __future__ import annotations

import ast
import copy
import decimal
import importlib
import inspect
import json
import re
from functools import cache

import mpmath

from harness.evaluate.episodes import read_result, step_calls
from harness.evaluate.scorers import Verdict, failed

BACKEND = "bfcl_eval.eval_checker.multi_turn_eval"
FORBIDDEN = ("kill", "exit", "quit", "remove", "unlink", "popen", "Popen", "run")  # BFCL's executor refuses these
CALL_NAME = re.compile(r"\b([a-zA-Z_]\w*)\s*(?=\()")  # BFCL's `_process_method_calls`
MAX_PRECISION = 10_000  # digits; BFCL's math tools would compute any precision asked, for as long as it takes
MAX_POWER_BITS = 1_000_000  # an integer power whose result would be larger than this fails instead


class BfclMissing(RuntimeError):
    pass


@cache
def bfcl_backend():
    """(CLASS_FILE_PATH_MAPPING, STATELESS_CLASSES, state_checker, response_checker) from bfcl-eval."""
    try:
        config = importlib.import_module("bfcl_eval.constants.executable_backend_config")
        checker = importlib.import_module(f"{BACKEND}.multi_turn_checker")
    except ImportError as error:
        raise BfclMissing(
            f"BFCL's multi-turn categories need bfcl-eval's environments ({error}): "
            "pip install --no-deps bfcl-eval==2026.3.23"
        ) from None
    return config.CLASS_FILE_PATH_MAPPING, config.STATELESS_CLASSES, checker.state_checker, checker.response_checker


def fc_call(name: str, arguments: dict) -> str:
    """A call as BFCL's function-calling decoder writes it (`convert_to_function_call`)."""
    return f"{name}({','.join(f'{key}={value!r}' for key, value in arguments.items())})"


class BfclWorld:
    """The environment instances of one conversation, on one side (the model's or the ground truth's): what
    BFCL keeps in its executor's globals under `<side>_eval_<id>_<class>_instance`."""

    def __init__(self, entry_id: str, classes: list[str], initial_config: dict, long_context: bool, side: str):
        modules, stateless, _, _ = bfcl_backend()
        self.instances: dict[str, object] = {}
        self.by_instance_name: dict[str, object] = {}
        self.method_owner: dict[str, str] = {}
        for class_name in classes:
            instance = getattr(importlib.import_module(modules[class_name]), class_name)()
            if class_name not in stateless:
                instance._load_scenario(copy.deepcopy(initial_config.get(class_name, {})), long_context=long_context)
            instance_name = re.sub(r"[-./:]", "_", f"{side}_eval_{entry_id}_{class_name}_instance")
            self.instances[class_name] = instance
            self.by_instance_name[instance_name] = instance
            for method, _ in inspect.getmembers(instance, predicate=inspect.ismethod):
                if not method.startswith("_"):
                    self.method_owner[method] = instance_name

    def call(self, name: str, arguments: dict) -> str:
        """An `Environment` for the evaluation loop: a parsed call, run as BFCL would run its decoded form."""
        return self.execute(fc_call(name, arguments))

    def execute(self, call: str) -> str:
        """One call string -> its result as BFCL records it."""
        call = CALL_NAME.sub(
            lambda m: (
                f"{self.method_owner[m.group(1)]}.{m.group(1)}" if m.group(1) in self.method_owner else m.group(1)
            ),
            call,
        )
        callee = call.split("(")[0] if "(" in call else call
        callee = callee.split(".")[1] if "." in callee else callee
        if callee in FORBIDDEN:
            return f"Error during execution: Function call {callee} is not allowed."
        precision = mpmath.mp.dps
        try:
            with decimal.localcontext():  # BFCL's maths tools set the process's precision; it stays theirs
                return _as_text(self._evaluate(ast.parse(call.strip(" \t"), mode="eval").body))
        except RecursionError:
            return "Error during execution: the call is nested too deeply"
        except Exception as error:  # what the environment raised, or a call it could not read
            return f"Error during execution: {error}"
        finally:
            mpmath.mp.dps = precision

    def _evaluate(self, node: ast.expr):
        """A call on an environment method, its arguments literals or such calls; anything else fails."""
        if not isinstance(node, ast.Call):
            return ast.literal_eval(node)
        function = node.func
        if isinstance(function, ast.Name):
            raise NameError(f"name '{function.id}' is not defined")
        if not (
            isinstance(function, ast.Attribute)
            and isinstance(function.value, ast.Name)
            and function.value.id in self.by_instance_name
            and self.method_owner.get(function.attr) == function.value.id  # public methods only
        ):
            raise ValueError(f"unsupported call: {ast.unparse(function)[:200]}")
        if any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords):
            raise ValueError("unpacked arguments are not supported")
        method = getattr(self.by_instance_name[function.value.id], function.attr)
        args = [self._evaluate(a) for a in node.args]
        kwargs = {k.arg: self._evaluate(k.value) for k in node.keywords}
        _check_cost(function.attr, inspect.signature(method).bind(*args, **kwargs).arguments)
        return method(*args, **kwargs)

    def state(self) -> dict:
        """The public state BFCL's state checker compares, as JSON-able data."""
        return {name: _plain(vars(instance)) for name, instance in self.instances.items()}


def _as_text(result) -> str:
    """A result as BFCL's executor records it: text as it is, a dict as JSON (or its str), the rest as str."""
    if type(result) is str:
        return result
    if type(result) is dict:
        try:
            return json.dumps(result)
        except (TypeError, ValueError):
            return str(result)
    return str(result)


def _check_cost(method: str, arguments: dict) -> None:
    """Refuse the calls that would keep BFCL's math tools busy without bound (huge precision or powers)."""
    precision = arguments.get("precision")
    if type(precision) is int and precision > MAX_PRECISION:
        raise ValueError(f"precision {precision} is above {MAX_PRECISION}")
    base, exponent = arguments.get("base"), arguments.get("exponent")
    if method == "power" and type(base) is int and type(exponent) is int:
        if abs(exponent) * max(abs(base).bit_length(), 1) > MAX_POWER_BITS:
            raise ValueError(f"{base}**{exponent} is too large to compute")


def _plain(value, depth: int = 0):
    if depth > 12:
        return "..."
    if isinstance(value, dict):
        return {
            str(k): _plain(v, depth + 1) for k, v in value.items() if not (isinstance(k, str) and k.startswith("_"))
        }
    if isinstance(value, list | tuple | set):
        return [_plain(v, depth + 1) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if hasattr(value, "__dict__"):
        public = {k: v for k, v in vars(value).items() if not k.startswith("_") and k != "parent"}
        return _plain(public, depth + 1)
    return str(value)


def decode_step(step) -> list[str]:
    """One step of a result -> its call strings, as BFCL's function-calling decoder writes them. Text (and so
    the Python-call text of BFCL's prompting handlers) decodes to no call, as there."""
    return [fc_call(call["name"], call["arguments"]) for call in step_calls(step)]


def bfcl_world(meta: dict, side: str) -> BfclWorld:
    return BfclWorld(
        meta["entry_id"], meta["involved_classes"], meta["initial_config"], "long_context" in meta["category"], side
    )


def score(prediction: str, reference: list[list[str]], meta: dict) -> Verdict:
    """A conversation's result (BFCL's format, as JSON text) against the ground truth's calls, turn by turn."""
    _, _, state_checker, response_checker = bfcl_backend()
    result = read_result(prediction)
    if result is None:
        return failed("multi_turn:inference_error", "the result is not a list of turns")
    if len(result) != len(reference):
        return failed(
            "multi_turn:force_terminated",
            f"{len(result)} turns in the result, {len(reference)} in the ground truth (cut short at the step limit?)",
        )
    decoded = [
        [calls for step in turn if (calls := decode_step(step))] if isinstance(turn, list) else [] for turn in result
    ]
    unoffered = _unoffered_calls(decoded, meta)
    model, truth = bfcl_world(meta, "harness"), bfcl_world(meta, "harness_ground_truth")
    results_so_far: list[str] = []
    for turn, truth_calls in enumerate(reference):
        results_so_far += [model.execute(call) for calls in decoded[turn] for call in calls]
        truth_results = [truth.execute(call) for call in truth_calls]
        if not truth_calls:
            continue  # a turn where the right move is to call nothing (or to ask): BFCL checks nothing here
        if not decoded[turn]:
            return failed("multi_turn:empty_turn_model_response", f"no call in turn {turn}", turn)
        for check in (
            state_checker(model.instances, truth.instances),
            response_checker(results_so_far, truth_results, turn),
        ):
            if not check["valid"]:
                return failed(check["error_type"], check["error_message"], turn)
    details = {"turns": len(reference), "strict": not unoffered}
    if unoffered:
        details["unoffered_calls"] = unoffered[:10]
    return Verdict(True, 1.0, parsed=decoded, details=details)


def _unoffered_calls(decoded: list[list[list[str]]], meta: dict) -> list[str]:
    """Calls to functions the conversation had not offered by then: one that does not exist, or a missed
    function before the turn that adds it. BFCL lets them pass when they change nothing its checks see; the
    stricter verdict (`strict`, beside BFCL's) fails them."""
    if "tools" not in meta:
        return []
    offered = {tool["function"]["name"] for tool in meta.get("tools") or []}
    added = {int(turn): names for turn, names in meta.get("added_functions", {}).items()}
    found = []
    for turn, steps in enumerate(decoded):
        offered |= set(added.get(turn, []))
        found += [f"turn {turn}: {name}" for calls in steps for c in calls if (name := c.split("(")[0]) not in offered]
    return found
