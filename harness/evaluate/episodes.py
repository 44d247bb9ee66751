"""Conversations with tools, evaluated by acting in them: the model answers, its tool calls run in the item's
environment and come back as `tool` messages, until it answers without a call or spends the turn's step
limit; then the next user turn comes.

Many conversations advance together: each round sends the next step of every live conversation to the
backend in one `generate` call (one vLLM batch, one transformers batch, concurrent server requests), so a
backend serves an episode suite as it serves any other. Calls are read by `models.tool_calls` (JSON, never
run) and dispatched by name to the environment, which decides what a call may do.

What a conversation gives back is BFCL's result format (per turn, per step: the step's calls as
`{name: arguments-JSON}`, or its text when it made none), as a JSON string the suite's scorer reads, so live
runs and result files saved by BFCL are judged by one scorer; the `trajectory` beside it keeps every step
(output, parsed calls, results or why it failed: the conversation, step by step) and the environment's end
state.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from harness.evaluate.backends import Generation, Request
from harness.models.tool_calls import ParseError, parse_tool_calls

STEP_LIMIT = 20  # BFCL's MAXIMUM_STEP_LIMIT: a turn ends, and the conversation with it, after 20 + 1 steps


class Environment(Protocol):
    """The world a conversation's tool calls act on (a file system, a shop), fresh for each conversation."""

    def call(self, name: str, arguments: dict) -> str:
        """The result the model reads; a failed call answers with its error, it does not raise."""

    def state(self) -> dict:
        """What the environment holds now, as JSON-able data, for the sample."""


@dataclass
class Episode:
    """What an item whose answer is a conversation adds to it: the later user turns (the first is the item's
    messages), the tools that become available at a turn, and how to make its environment."""

    turns: list[list[dict]]
    environment: Callable[[], Environment]
    added_tools: dict[int, list[dict]] = field(default_factory=dict)  # turn index -> tools offered from then on


@dataclass
class _Conversation:
    messages: list[dict]
    tools: list[dict]
    episode: Episode
    environment: Environment
    turn: int = 0
    steps_in_turn: int = 0
    result: list[list] = field(default_factory=lambda: [[]])
    steps: list[dict] = field(default_factory=list)
    tokens: int = 0
    cut_steps: int = 0  # steps cut at max_new_tokens
    finish: str = "stop"  # "step_limit": a turn took too many steps; "error": generation failed
    error: str | None = None
    done: bool = False

    def act(self, output: Generation) -> None:
        """One model step: run its calls and go on, or end the turn (and the conversation after the last)."""
        self.tokens += output.tokens
        step = {"turn": self.turn, "output": output.text, "finish_reason": output.finish_reason}
        self.steps.append(step)
        if output.finish_reason == "error":
            step["error"] = output.error
            self.finish, self.error, self.done = "error", output.error, True
            return
        if output.finish_reason == "length":
            self.cut_steps += 1
        try:
            calls = parse_tool_calls(output.text)
        except ParseError as error:  # BFCL: a step it cannot decode ends the turn
            step["error"] = f"unparseable tool call: {error}"
            calls = []
        if not calls:
            self.result[-1].append(output.text)
            self.messages.append({"role": "assistant", "content": output.text})
            self._next_turn()
            return
        self.result[-1].append([{c["name"]: json.dumps(c["arguments"], ensure_ascii=False)} for c in calls])
        results = [self._run(call) for call in calls]
        step |= {"calls": calls, "results": results}
        ids = [f"call_{len(self.steps)}_{index}" for index in range(len(calls))]
        content = output.text.split("<tool_call>", 1)[0].strip() if "<tool_call>" in output.text else ""
        self.messages.append(
            {
                "role": "assistant",
                "content": content,
                "tool_calls": [
                    {"id": i, "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
                    for i, c in zip(ids, calls, strict=True)
                ],
            }
        )
        self.messages += [
            {"role": "tool", "tool_call_id": i, "name": c["name"], "content": r}
            for i, c, r in zip(ids, calls, results, strict=True)
        ]
        self.steps_in_turn += 1
        if self.steps_in_turn > STEP_LIMIT:
            step["error"] = f"step limit: more than {STEP_LIMIT} steps in turn {self.turn}"
            self.finish, self.done = "step_limit", True

    def _run(self, call: dict) -> str:
        try:
            return str(self.environment.call(call["name"], call["arguments"]))
        except Exception as error:  # an environment that raises fails the call, not the evaluation
            return f"Error during execution: {type(error).__name__}: {error}"

    def _next_turn(self) -> None:
        if self.turn >= len(self.episode.turns):
            self.done = True
            return
        self.turn, self.steps_in_turn = self.turn + 1, 0
        self.tools = self.tools + self.episode.added_tools.get(self.turn, [])
        self.messages += self.episode.turns[self.turn - 1]
        self.result.append([])

    def generation(self) -> Generation:
        try:
            state = self.environment.state()
        except Exception as error:
            state = {"error": f"{type(error).__name__}: {error}"}
        trajectory = {"steps": self.steps, "state": state}  # the conversation is the steps' outputs and results
        finish = "length" if self.finish == "stop" and self.cut_steps else self.finish
        return Generation(json.dumps(self.result, ensure_ascii=False), finish, self.tokens, self.error, trajectory)


def run_episodes(
    items: list,
    render: Callable[[list[dict], list[dict] | None], str | Generation],
    generate: Callable[[list[Request]], list[Generation]],
) -> list[Generation]:
    """Play one conversation per item, each in a fresh environment. `render(messages, tools)` gives the
    prompt (or a failed Generation when the template cannot render it); `generate(requests)` one Generation
    per request."""
    conversations = [
        _Conversation([*item.messages], list(item.tools or []), item.episode, item.episode.environment())
        for item in items
    ]
    while live := [c for c in conversations if not c.done]:
        prompts = [render(c.messages, c.tools or None) for c in live]
        requests = [
            Request(p, [*c.messages], c.tools or None)
            for c, p in zip(live, prompts, strict=True)
            if not isinstance(p, Generation)
        ]
        outputs = iter(generate(requests) if requests else [])
        for conversation, prompt in zip(live, prompts, strict=True):
            conversation.act(prompt if isinstance(prompt, Generation) else next(outputs))
    return [conversation.generation() for conversation in conversations]


def read_result(prediction: str) -> list[list] | None:
    """A conversation's result (JSON text: per turn, per step) as a list of turns; None when it is not one."""
    try:
        result = json.loads(prediction)
    except (ValueError, RecursionError):
        return None
    return result if isinstance(result, list) else None


def step_calls(step) -> list[dict]:
    """One step of a result -> its calls `[{name, arguments}]`, as BFCL's function-calling decoder reads it
    (`{name: arguments-JSON}` objects); [] for a text step or one it cannot decode."""
    if isinstance(step, dict):
        step = [step]
    if not isinstance(step, list):
        return []
    calls = []
    try:
        for call in step:
            for name, arguments in call.items():
                arguments = json.loads(arguments) if isinstance(arguments, str) else arguments
                if not isinstance(arguments, dict):
                    return []
                calls.append({"name": name, "arguments": arguments})
    except (AttributeError, ValueError, RecursionError):
        return []
    return calls
