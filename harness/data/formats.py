"""Rows in TRL's formats -> one canonical row per mode, or a `RowError` saying what is wrong.

Canonical rows (what SFTTrainer receives):
- `instruct`: conversational prompt/completion, `{"prompt": [messages], "completion": [assistant message]}`;
  the loss falls on the completion.
- `chat`, `tools`, `reasoning`: `{"messages": [...]}`; the loss falls on assistant turns.
Every row also has `tools` (the offered tool schemas with JSON Schema types, or None), and
`chat_template_kwargs` where its source sets them. Messages keep the keys the row gave them (`name`,
`tool_call_id`, call `id`s, `reasoning_content`, ...) and gain none: chat templates test for keys
(`'tool_calls' in message`), so an injected `tool_calls: None` breaks them. Tool-call `arguments` become
objects, the form Hugging Face chat templates expect (a JSON string would be encoded twice). Rows are stored
with `datasets.Json` features, so Arrow keeps each message as it is instead of padding every message to the
union of all keys.
"""

from __future__ import annotations

import json
import re
from typing import Any

from jinja2 import TemplateError

ROLES = ("system", "user", "assistant", "tool")
TOOL_CALL = re.compile(r"<tool_call>(.*?)</tool_call>", re.DOTALL)  # Hermes/Qwen-style call blocks, as text
CONVERSATION_MODES = ("chat", "tools", "reasoning")
# Everything a Jinja chat template can raise while rendering a row it does not expect.
RENDER_ERRORS = (TemplateError, TypeError, ValueError, KeyError, AttributeError, IndexError, RecursionError)


class RowError(ValueError):
    """A malformed row; the message is the reason, reported with the row's index."""


def canonical_row(row: Any, mode: str) -> dict:
    if not isinstance(row, dict):
        raise RowError(f"row is a {type(row).__name__}, not an object")
    tools = _tools(row.get("tools"))
    extra = {"chat_template_kwargs": row["chat_template_kwargs"]} if row.get("chat_template_kwargs") else {}
    if row.get("messages") is not None:
        messages = conversation(row["messages"], "messages")
        if mode in CONVERSATION_MODES:
            return {"messages": messages, "tools": tools, **extra}
        if messages[-1]["role"] != "assistant":
            raise RowError("the last message must be the assistant's answer")
        return {"prompt": messages[:-1], "completion": messages[-1:], "tools": tools, **extra}
    if row.get("prompt") is not None and row.get("completion") is not None:
        prompt = _as_messages(row["prompt"], "user", "prompt")
        completion = _as_messages(row["completion"], "assistant", "completion")
        if mode in CONVERSATION_MODES:
            return {"messages": conversation(prompt + completion, "messages"), "tools": tools, **extra}
        return {
            "prompt": conversation(prompt, "prompt", need_assistant=False),
            "completion": conversation(completion, "completion"),
            "tools": tools,
            **extra,
        }
    if "text" in row:
        raise RowError(
            "plain `text` rows have no turns to train on in a chat-template recipe; "
            "map them to prompt/completion or messages"
        )
    present = sorted(row) or "none"
    raise RowError(f"no `messages` and no `prompt`+`completion` field (fields: {present})")


def _as_messages(value: Any, role: str, field: str) -> list:
    if isinstance(value, str):
        return [{"role": role, "content": value}]
    if isinstance(value, list):
        return value
    raise RowError(f"`{field}` is a {type(value).__name__}, expected a string or a list of messages")


def conversation(value: Any, field: str, need_assistant: bool = True) -> list[dict]:
    if not isinstance(value, list) or not value:
        raise RowError(f"`{field}` is empty or not a list")
    messages = [_message(message, f"{field}[{index}]") for index, message in enumerate(value)]
    if need_assistant and not any(m["role"] == "assistant" for m in messages):
        raise RowError(f"`{field}` has no assistant turn to learn from")
    return messages


def _message(message: Any, where: str) -> dict:
    if not isinstance(message, dict):
        raise RowError(f"{where} is not an object")
    role = message.get("role")
    if role not in ROLES:
        raise RowError(f"{where} has role {role!r}; expected one of {ROLES}")
    # None values are dropped: Arrow and parquet fill absent keys with None, which templates read as present.
    out = {key: value for key, value in message.items() if value is not None}
    content = _content(message.get("content"), where)
    reasoning = message.get("reasoning_content")
    if reasoning is not None and not isinstance(reasoning, str):
        raise RowError(f"{where}.reasoning_content is a {type(reasoning).__name__}, expected a string")
    tool_calls = message.get("tool_calls")
    if tool_calls:
        if role != "assistant":
            raise RowError(f"{where}: only assistant turns make tool calls")
        if not isinstance(tool_calls, list):
            raise RowError(f"{where}.tool_calls is a {type(tool_calls).__name__}, expected a list")
        out["tool_calls"] = [read_tool_call(call, f"{where}.tool_calls[{i}]") for i, call in enumerate(tool_calls)]
    else:
        out.pop("tool_calls", None)
        if not (content or "").strip() and not reasoning and role != "tool":
            raise RowError(f"{where} ({role}) is empty")
    if content is None and not tool_calls:
        content = ""
    out["content"] = content  # None stays None on a tool-call turn: some templates (DeepSeek) test for it
    return out


def _content(content: Any, where: str) -> str | None:
    """A string; OpenAI-style content parts are joined when they are all text."""
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, list) and all(isinstance(p, dict) and p.get("type") == "text" for p in content):
        if all(isinstance(p.get("text"), str) for p in content):
            return "".join(p["text"] for p in content)
    raise RowError(f"{where}.content is a {type(content).__name__}, expected a string (or text parts)")


def read_tool_call(call: Any, where: str) -> dict:
    """A tool call as chat templates read it, `{type, id?, function: {name, arguments: object}}`, from the shapes
    datasets, models and clients write: OpenAI's (arguments a JSON string or an object) or a flat `{name,
    arguments}` (`parameters` in Llama's). The one reader of calls: training rows, model output (`tool_calls.py`)
    and served requests. A RowError names `where`."""
    if not isinstance(call, dict):
        raise RowError(f"{where} is not an object")
    function = call.get("function", call)
    if not isinstance(function, dict) or not isinstance(function.get("name"), str) or not function["name"]:
        raise RowError(f"{where} has no function name")
    arguments = _arguments(function.get("arguments", function.get("parameters")), where)
    own = ("function", "name", "arguments", "parameters")
    kept = {key: value for key, value in call.items() if key not in own and value is not None}
    extra = {key: value for key, value in function.items() if key not in own and value is not None}
    return {"type": "function", **kept, "function": {"name": function["name"], "arguments": arguments, **extra}}


def _arguments(arguments: Any, where: str) -> dict:
    if arguments is None:
        return {}
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except json.JSONDecodeError as error:
            raise RowError(f"{where}.arguments is not valid JSON ({error.msg})") from None
        except RecursionError:
            raise RowError(f"{where}.arguments is not valid JSON (nested too deeply)") from None
        except ValueError as error:  # an integer longer than Python's conversion limit
            raise RowError(f"{where}.arguments is not valid JSON ({error})") from None
    if not isinstance(arguments, dict):
        raise RowError(f"{where}.arguments is a {type(arguments).__name__}, expected a JSON object")
    return arguments


def _tools(value: Any) -> list[dict] | None:
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except (json.JSONDecodeError, RecursionError):
            raise RowError("`tools` is not valid JSON") from None
    if not isinstance(value, list) or not all(isinstance(tool, dict) for tool in value):
        raise RowError("`tools` must be a list of JSON schemas")
    for index, tool in enumerate(value):
        function = tool.get("function", tool)
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise RowError(f"tools[{index}] has no name")
    return [json_schema(tool) for tool in value]


# Python and BFCL type names some datasets use (xLAM, glaive, BFCL) -> JSON Schema's, which templates show.
PYTHON_TYPES = {
    "str": "string",
    "int": "integer",
    "float": "number",
    "bool": "boolean",
    "list": "array",
    "tuple": "array",
    "set": "array",
    "dict": "object",
    "none": "null",
}
SCHEMA_VALUES = ("default", "enum", "const", "example", "examples")  # data, not schemas: kept as they are
TYPE_WITH_ELEMENTS = re.compile(r"^(\w+)\[(.*)\]$")


def json_schema(schema: Any) -> Any:
    """A tool schema with every `type` a JSON Schema type: `str` -> string, `List[int]` -> an array of integers,
    `str, optional` -> string (and out of `required`); names it does not know stay as they are."""
    if isinstance(schema, list):
        return [json_schema(value) for value in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: value if key in SCHEMA_VALUES else json_schema(value) for key, value in schema.items()}
    if isinstance(out.get("type"), str):
        out.update(_json_type(out["type"]))
    properties = out.get("properties")
    if isinstance(properties, dict) and isinstance(schema.get("properties"), dict):
        optional = {
            name
            for name, spec in schema["properties"].items()
            if isinstance(spec, dict) and isinstance(spec.get("type"), str) and _is_optional(spec["type"])
        }
        if optional and isinstance(out.get("required"), list):
            out["required"] = [name for name in out["required"] if name not in optional]
    return out


def _is_optional(kind: str) -> bool:
    return kind.replace(" ", "").lower().endswith(",optional") or kind.startswith("Optional[")


def _json_type(kind: str) -> dict:
    kind = re.sub(r",\s*optional$", "", kind.strip(), flags=re.IGNORECASE)
    wrapped = TYPE_WITH_ELEMENTS.match(kind)
    if wrapped and wrapped.group(1) == "Optional":
        return _json_type(wrapped.group(2))
    if wrapped and wrapped.group(1).lower() in ("list", "tuple", "set", "sequence"):
        element = _json_type(wrapped.group(2))
        return {"type": "array", "items": element} if element["type"] in PYTHON_TYPES.values() else {"type": "array"}
    if wrapped and wrapped.group(1).lower() in ("dict", "mapping"):
        return {"type": "object"}
    return {"type": PYTHON_TYPES.get(kind.lower(), kind)}


def fold_reasoning(row: dict) -> dict:
    """The row with each `reasoning_content` written into its message as a `<think>` block, for templates
    that do not read the field (they would drop the trace silently)."""

    def fold(message: dict) -> dict:
        reasoning = message.get("reasoning_content")
        if not reasoning:
            return message
        rest = {key: value for key, value in message.items() if key != "reasoning_content"}
        return {**rest, "content": f"<think>\n{reasoning.strip()}\n</think>\n\n{message.get('content') or ''}"}

    conversation_keys = ("messages", "prompt", "completion")
    return {key: [fold(m) for m in value] if key in conversation_keys else value for key, value in row.items()}


def tools_of(row: dict) -> list[dict] | None:
    tools = row.get("tools")
    return json.loads(tools) if isinstance(tools, str) else tools or None


def conversation_of(row: dict) -> list[dict]:
    """The whole conversation of a canonical row, whichever its format."""
    return row["messages"] if "messages" in row else row["prompt"] + row["completion"]
