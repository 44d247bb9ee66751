"""Dataset layouts: how popular datasets store a training example, each turned into TRL's row format.

A layout is a name, the columns it reads, a detector (on the first row) and a converter to a row of
`messages` (+ `tools`) or `prompt`/`completion`, which `formats.canonical_row` then checks. Sources pick
theirs automatically (logged as "layout X") or by `layout:` in the recipe. Adding a layout is one
function and one entry in `LAYOUTS`. Everything is parsed as data (`json`, `ast.literal_eval` for the
Python-literal dumps some datasets hold); nothing in a row is ever executed.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness.data.formats import TOOL_CALL, RowError

# ShareGPT speakers and their roles; Hermes and LLaMA-Factory add tool turns.
SPEAKERS = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "model": "assistant",
    "chatgpt": "assistant",
    "bing": "assistant",
    "system": "system",
    "tool": "tool",
    "observation": "tool",
    "function_response": "tool",
    "ipython": "tool",
    "function_call": "function_call",
}
MAX_LITERAL_CHARS = 1_000_000  # a Python-literal dump longer than this is not parsed


@dataclass(frozen=True)
class Layout:
    name: str
    columns: tuple[str, ...]  # what it reads; other non-empty columns are reported as unused
    detect: Callable[[dict], bool]
    convert: Callable[[dict], dict]
    description: str
    refusal: str | None = None  # known, but not trainable as rows: the hint


def _identity(row: dict) -> dict:
    return row


# --- messages and prompt/completion: TRL's own formats -------------------------------------------------


def _is_messages(row: dict) -> bool:
    return isinstance(row.get("messages"), list)


def _is_prompt_completion(row: dict) -> bool:
    return "prompt" in row and "completion" in row


# --- ShareGPT and Hermes function calling ----------------------------------------------------------------


def _turns(row: dict) -> list[tuple[str, Any]]:
    """(role, text) of each ShareGPT turn; `from`/`value` or `role`/`content` keys."""
    turns = row.get("conversations")
    if not isinstance(turns, list) or not turns:
        raise RowError("`conversations` is empty or not a list")
    out = []
    for index, turn in enumerate(turns):
        if not isinstance(turn, dict):
            raise RowError(f"conversations[{index}] is not an object")
        speaker = turn.get("from", turn.get("role"))
        role = SPEAKERS.get(str(speaker).lower()) if speaker is not None else None
        if role is None:
            raise RowError(f"conversations[{index}] has speaker {speaker!r}; expected one of {sorted(SPEAKERS)}")
        text = turn.get("value", turn.get("content"))
        if not isinstance(text, str):
            raise RowError(f"conversations[{index}] has no text (`value` or `content`)")
        out.append((role, text))
    return out


def _is_sharegpt(row: dict) -> bool:
    turns = row.get("conversations")
    return isinstance(turns, list) and bool(turns) and isinstance(turns[0], dict)


def _is_hermes(row: dict) -> bool:
    if not _is_sharegpt(row):
        return False
    texts = [t.get("value", t.get("content")) for t in row["conversations"] if isinstance(t, dict)]
    return any(isinstance(t, str) and ("<tool_call>" in t or "<tools>" in t) for t in texts)


def _sharegpt(row: dict) -> dict:
    """ShareGPT -> messages. LLaMA-Factory's `function_call` turns (a JSON call) become assistant tool calls,
    `observation` turns tool results; a `system` column becomes the system turn."""
    messages = (
        [{"role": "system", "content": row["system"]}] if isinstance(row.get("system"), str) and row["system"] else []
    )
    for role, text in _turns(row):
        if role == "function_call":
            calls = _loads(text, "function_call turn")
            calls = calls if isinstance(calls, list) else [calls]
            messages.append({"role": "assistant", "content": "", "tool_calls": [_call(c) for c in calls]})
        else:
            messages.append({"role": role, "content": text})
    return {"messages": messages, "tools": row.get("tools")}


TOOLS_BLOCK = re.compile(r"<tools>(.*?)</tools>", re.DOTALL)
THINK = re.compile(r"^\s*<think>(.*?)</think>", re.DOTALL)
TOOL_RESPONSE = re.compile(r"^\s*<tool_response>(.*?)</tool_response>\s*$", re.DOTALL)


def _hermes(row: dict) -> dict:
    """Hermes function calling (ShareGPT with tools in the system turn, `<tool_call>` blocks in the model's
    turns, `<tool_response>` in tool turns), and its thinking variant (`<think>` before the calls). The tools
    and calls become structured, so the model's own template renders them in its own format; the system
    turn that lists the tools gives way to the template's tool preamble."""
    messages, tools = [], None
    for role, text in _turns(row):
        if role == "system" and TOOLS_BLOCK.search(text):
            tools = _system_tools(text)
        elif role == "assistant":
            message: dict = {"role": "assistant"}
            thought = THINK.match(text)
            if thought:
                message["reasoning_content"] = thought.group(1).strip()
                text = text[thought.end() :]
            calls = [_call(_loads(block, "<tool_call> block")) for block in TOOL_CALL.findall(text)]
            message["content"] = TOOL_CALL.sub("", text).strip()
            if calls:
                message["tool_calls"] = calls
            messages.append(message)
        elif role == "tool":
            response = TOOL_RESPONSE.match(text)
            messages.append({"role": "tool", "content": (response.group(1) if response else text).strip()})
        else:
            messages.append({"role": role, "content": text})
    if not tools and any("tool_calls" in message for message in messages):
        raise RowError("hermes: the assistant calls tools but no system turn lists them in a <tools> block")
    return {"messages": messages, "tools": tools}


def _system_tools(text: str) -> list:
    """The tools of a Hermes system turn. Its standard prompt names the tags in prose ("within <tools> </tools>
    XML tags") before the real block, so blank blocks are passed over and prose between tags that is not a
    tool list too, as long as some block is one."""
    blocks = [block for block in TOOLS_BLOCK.findall(text) if block.strip()]
    tools, problems = [], []
    for block in blocks:
        try:
            tools.extend(_tool_list(block))
        except RowError as error:
            problems.append(error)
    if problems and not tools:
        raise problems[0]
    return tools


def _tool_list(text: str) -> list:
    """The tool schemas of a `<tools>` block: a JSON or Python-literal list, or one object per line."""
    text = text.strip()
    try:
        value = _loads(text, "<tools> block")
    except RowError:
        value = [_loads(line, "<tools> block") for line in text.splitlines() if line.strip()]
    return value if isinstance(value, list) else [value]


# --- xLAM, Alpaca, FLAN / Super-NaturalInstructions, glaive ------------------------------------------------


def _is_xlam(row: dict) -> bool:
    return {"query", "answers", "tools"} <= set(row)


def _xlam(row: dict) -> dict:
    """xLAM function calling: `answers` become structured tool calls; each tool's parameter map becomes a JSON
    schema (parameters with a `default` are optional)."""
    tools = [_json_schema_tool(tool) for tool in _as_list(row["tools"], "tools")]
    calls = [_call(call) for call in _as_list(row["answers"], "answers")]
    message = {"role": "assistant", "content": "", "tool_calls": calls} if calls else None
    if message is None:
        raise RowError("`answers` is empty: no call to learn")
    return {"messages": [{"role": "user", "content": row["query"]}, message], "tools": tools}


def _json_schema_tool(tool: Any) -> dict:
    if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
        raise RowError("a tool has no name")
    parameters = tool.get("parameters") or {}
    if isinstance(parameters, dict) and parameters.get("type") != "object":
        required = [name for name, spec in parameters.items() if not (isinstance(spec, dict) and "default" in spec)]
        parameters = {"type": "object", "properties": parameters, "required": required}
    function = {"name": tool["name"], "description": tool.get("description", ""), "parameters": parameters}
    return {"type": "function", "function": function}


def _is_alpaca(row: dict) -> bool:
    return "instruction" in row and "output" in row


def _alpaca(row: dict) -> dict:
    prompt = _join(row.get("instruction"), row.get("input"))
    messages = (
        [{"role": "system", "content": row["system"]}] if isinstance(row.get("system"), str) and row["system"] else []
    )
    return {
        "messages": [*messages, {"role": "user", "content": prompt}, {"role": "assistant", "content": row["output"]}]
    }


def _is_natural_instructions(row: dict) -> bool:
    return "definition" in row and "inputs" in row and "targets" in row


def _natural_instructions(row: dict) -> dict:
    return {"prompt": _join(row.get("definition"), row.get("inputs")), "completion": row["targets"]}


def _is_flan(row: dict) -> bool:
    return "inputs" in row and "targets" in row


def _flan(row: dict) -> dict:
    return {"prompt": row["inputs"], "completion": row["targets"]}


def _is_glaive(row: dict) -> bool:
    return isinstance(row.get("chat"), str) and "USER:" in row["chat"]


GLAIVE_TURN = re.compile(r"(USER|ASSISTANT|FUNCTION RESPONSE):")
GLAIVE_CALL = re.compile(r"<functioncall>\s*(\{.*\})\s*$", re.DOTALL)


def _glaive(row: dict) -> dict:
    """glaive-function-calling: `system` holds the tools after "-", `chat` the turns as text; a call is
    `<functioncall> {"name": ..., "arguments": '{...}'}` (arguments quoted as a string)."""
    system = row.get("system") or ""
    tools = []
    if "{" in system:
        body = system[system.index("{") :]
        decoder, position = json.JSONDecoder(), 0
        while position < len(body):
            try:
                tool, end = decoder.raw_decode(body, position)
            except json.JSONDecodeError:
                raise RowError("glaive: the tool schemas in `system` are not JSON") from None
            tools.append({"type": "function", "function": tool})
            position = end
            while position < len(body) and body[position] in " \n\t,":
                position += 1
    parts = GLAIVE_TURN.split(row["chat"])
    messages = []
    for speaker, text in zip(parts[1::2], parts[2::2], strict=True):
        text = text.replace("<|endoftext|>", "").strip()
        if speaker == "USER":
            messages.append({"role": "user", "content": text})
        elif speaker == "FUNCTION RESPONSE":
            messages.append({"role": "tool", "content": text})
        elif "<functioncall>" in text:
            call = GLAIVE_CALL.search(text)
            quoted = re.sub(r"'(\{.*\})'", r"\1", call.group(1), flags=re.DOTALL) if call else text
            content = text[: call.start()].strip() if call else ""
            messages.append(
                {"role": "assistant", "content": content, "tool_calls": [_call(_loads(quoted, "functioncall"))]}
            )
        else:
            messages.append({"role": "assistant", "content": text})
    if not messages:
        raise RowError("glaive: no USER/ASSISTANT turns in `chat`; map the columns yourself (columns:)")
    return {"messages": messages, "tools": tools or None}


def _is_oasst(row: dict) -> bool:
    return "message_id" in row and "parent_id" in row


# --- helpers -------------------------------------------------------------------------------------------


def _loads(text: Any, what: str) -> Any:
    """JSON, or a Python literal (dicts printed with single quotes); parsed as data, never run."""
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        pass
    if len(text) <= MAX_LITERAL_CHARS:
        try:
            return ast.literal_eval(text.strip())
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            pass
    raise RowError(f"{what} is neither JSON nor a literal")


def _as_list(value: Any, field: str) -> list:
    value = _loads(value, f"`{field}`")
    if not isinstance(value, list):
        raise RowError(f"`{field}` is a {type(value).__name__}, expected a list")
    return value


def _call(call: Any) -> dict:
    if not isinstance(call, dict):
        raise RowError("a tool call is not an object")
    function = call.get("function", call)
    if not isinstance(function, dict):
        raise RowError("a tool call is not an object")
    arguments = function.get("arguments", function.get("parameters", {}))
    kept = {key: value for key, value in call.items() if key in ("id", "type")}
    return {
        "type": "function",
        **kept,
        "function": {"name": function.get("name"), "arguments": _loads(arguments, "arguments")},
    }


def _join(*parts: Any) -> str:
    return "\n\n".join(p.strip() for p in parts if isinstance(p, str) and p.strip())


LAYOUTS: dict[str, Layout] = {
    layout.name: layout
    for layout in [
        Layout(
            "messages",
            ("messages", "tools", "chat_template_kwargs"),
            _is_messages,
            _identity,
            "OpenAI/TRL `messages` (+ `tools`)",
        ),
        Layout(
            "prompt_completion",
            ("prompt", "completion", "tools", "chat_template_kwargs"),
            _is_prompt_completion,
            _identity,
            "TRL prompt/completion",
        ),
        Layout(
            "hermes",
            ("conversations",),
            _is_hermes,
            _hermes,
            "Hermes function calling: tools from the system turn, <tool_call> blocks -> tool_calls, <think> -> "
            "reasoning_content",
        ),
        Layout(
            "sharegpt",
            ("conversations", "system", "tools"),
            _is_sharegpt,
            _sharegpt,
            "ShareGPT `conversations` (from/value): human -> user, gpt -> assistant, function_call -> "
            "tool_calls, observation -> tool",
        ),
        Layout(
            "xlam",
            ("query", "tools", "answers"),
            _is_xlam,
            _xlam,
            "xLAM: query -> user, answers -> tool_calls, tools -> JSON schemas",
        ),
        Layout(
            "alpaca",
            ("instruction", "input", "output", "system"),
            _is_alpaca,
            _alpaca,
            "Alpaca: instruction + input -> user, output -> assistant",
        ),
        Layout(
            "natural_instructions",
            ("definition", "inputs", "targets"),
            _is_natural_instructions,
            _natural_instructions,
            "Super-NaturalInstructions: definition + inputs -> prompt, targets -> completion",
        ),
        Layout("flan", ("inputs", "targets"), _is_flan, _flan, "FLAN / P3: inputs -> prompt, targets -> completion"),
        Layout(
            "glaive",
            ("system", "chat"),
            _is_glaive,
            _glaive,
            "glaive function calling: USER/ASSISTANT/FUNCTION RESPONSE text parsed into turns",
        ),
        Layout(
            "oasst",
            (),
            _is_oasst,
            _identity,
            "OpenAssistant message trees",
            refusal="oasst-style rows are single messages of a tree (message_id/parent_id), not conversations: "
            "use a flattened export (e.g. OpenAssistant/oasst_top1_2023-08-25 in ShareGPT form) or build one "
            "`messages` list per path from the root to a leaf first",
        ),
    ]
}


def detect(row: Any) -> Layout | None:
    """The first layout whose detector accepts the row (None: no known layout)."""
    if not isinstance(row, dict):
        return None
    return next((layout for layout in LAYOUTS.values() if layout.detect(row)), None)
