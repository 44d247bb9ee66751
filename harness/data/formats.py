"""Rows in any format TRL accepts -> one canonical row per mode, or a `RowError` saying what is wrong.

Canonical rows (what SFTTrainer receives):
- `instruct`: conversational prompt/completion, `{"prompt": [messages], "completion": [assistant message]}`;
  the loss falls on the completion.
- `chat`, `tools`, `reasoning`: `{"messages": [...]}`; the loss falls on assistant turns.
Every row also has `tools` (a JSON string of the offered tool schemas, or None) and every message has
`role`, `content` and `tool_calls` (None, or calls whose `arguments` are JSON strings: Arrow cannot hold
argument values of mixed types). A `reasoning_content` field is folded into the content as a
`<think>` block so every source shares one schema.
"""

from __future__ import annotations

import json
from typing import Any

ROLES = ("system", "user", "assistant", "tool")
CONVERSATION_MODES = ("chat", "tools", "reasoning")


class RowError(ValueError):
    """A malformed row; the message is the reason, reported with the row's index."""


def canonical_row(row: Any, mode: str) -> dict:
    if not isinstance(row, dict):
        raise RowError(f"row is a {type(row).__name__}, not an object")
    tools = _tools(row.get("tools"))
    if row.get("messages") is not None:
        messages = _messages(row["messages"], "messages")
        if mode in CONVERSATION_MODES:
            return {"messages": messages, "tools": tools}
        if messages[-1]["role"] != "assistant":
            raise RowError("the last message must be the assistant's answer")
        return {"prompt": messages[:-1], "completion": messages[-1:], "tools": tools}
    if row.get("prompt") is not None and row.get("completion") is not None:
        prompt = _as_messages(row["prompt"], "user", "prompt")
        completion = _as_messages(row["completion"], "assistant", "completion")
        if mode in CONVERSATION_MODES:
            return {"messages": _messages(prompt + completion, "messages"), "tools": tools}
        return {"prompt": _messages(prompt, "prompt", need_assistant=False),
                "completion": _messages(completion, "completion"), "tools": tools}  # fmt: skip
    if "text" in row:
        raise RowError("plain `text` rows have no turns to train on in a chat-template recipe; "
                       "map them to prompt/completion or messages")  # fmt: skip
    present = sorted(row) or "none"
    raise RowError(f"no `messages` and no `prompt`+`completion` field (fields: {present})")


def _as_messages(value: Any, role: str, field: str) -> list:
    if isinstance(value, str):
        return [{"role": role, "content": value}]
    if isinstance(value, list):
        return value
    raise RowError(f"`{field}` is a {type(value).__name__}, expected a string or a list of messages")


def _messages(value: Any, field: str, need_assistant: bool = True) -> list[dict]:
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
    content = message.get("content")
    if content is None:
        content = ""
    if not isinstance(content, str):
        raise RowError(f"{where}.content is a {type(content).__name__}, expected a string")
    reasoning = message.get("reasoning_content")
    if reasoning:
        if not isinstance(reasoning, str):
            raise RowError(f"{where}.reasoning_content is not a string")
        content = f"<think>\n{reasoning.strip()}\n</think>\n\n{content}"
    tool_calls = message.get("tool_calls")
    if tool_calls:
        if role != "assistant":
            raise RowError(f"{where}: only assistant turns make tool calls")
        tool_calls = [_tool_call(call, f"{where}.tool_calls[{i}]") for i, call in enumerate(tool_calls)]
    elif not content.strip() and role != "tool":
        raise RowError(f"{where} ({role}) is empty")
    return {"role": role, "content": content, "tool_calls": tool_calls or None}


def _tool_call(call: Any, where: str) -> dict:
    function = call.get("function", call) if isinstance(call, dict) else None
    if not isinstance(function, dict) or not isinstance(function.get("name"), str) or not function["name"]:
        raise RowError(f"{where} has no function name")
    arguments = function.get("arguments", {})
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except json.JSONDecodeError as error:
            raise RowError(f"{where}.arguments is not valid JSON ({error.msg})") from None
    if not isinstance(arguments, dict):
        raise RowError(f"{where}.arguments is a {type(arguments).__name__}, expected a JSON object")
    return {"type": "function", "function": {"name": function["name"], "arguments": json.dumps(arguments)}}


def _tools(value: Any) -> str | None:
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as error:
            raise RowError(f"`tools` is not valid JSON ({error.msg})") from None
    if not isinstance(value, list) or not all(isinstance(tool, dict) for tool in value):
        raise RowError("`tools` must be a list of JSON schemas")
    for index, tool in enumerate(value):
        function = tool.get("function", tool)
        if not isinstance(function.get("name"), str):
            raise RowError(f"tools[{index}] has no name")
    return json.dumps(value)


def tools_of(row: dict) -> list[dict] | None:
    return json.loads(row["tools"]) if row.get("tools") else None


def conversation_of(row: dict) -> list[dict]:
    """The whole conversation of a canonical row, whichever its format."""
    return row["messages"] if "messages" in row else row["prompt"] + row["completion"]
