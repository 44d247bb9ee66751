"""Tool calls in model output, read with `json` and never executed: the `<tool_call>{...}</tool_call>` blocks of
Hermes/Qwen-style chat templates, or a plain JSON call or list of calls.

The scorers judge what this reads (a server's OpenAI `tool_calls` reach them as such blocks, written by the
openai backend), and `harness serve` returns it as OpenAI `tool_calls`.
"""

from __future__ import annotations

import json

from harness.data.formats import TOOL_CALL, RowError, read_tool_call

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


def _loads(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ParseError(f"invalid JSON in tool call ({error.msg})") from None
    except RecursionError:
        raise ParseError("JSON nested too deeply") from None
    except ValueError as error:  # an integer longer than Python's conversion limit
        raise ParseError(f"unreadable JSON in tool call ({error})") from None


def _call(data, where: str) -> dict:
    try:
        function = read_tool_call(data, where)["function"]
    except RowError as error:
        raise ParseError(str(error)) from None
    return {"name": function["name"], "arguments": function["arguments"]}
