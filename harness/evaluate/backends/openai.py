"""Any OpenAI-compatible server (vLLM's, SGLang, TGI, `harness serve`, a hosted API).

By default the rendered prompt text goes to `/v1/completions`, so the server sees exactly what every
other backend sees. `chat: true` sends the conversation and tools to `/v1/chat/completions` instead,
for hosted APIs that render it themselves; returned `tool_calls` come back as `<tool_call>` text so the
scorers read every backend's output the same way. The API key is read from the environment only.

A server that cannot answer fails the evaluation, loudly and early, instead of producing a summary of
zeros: it is asked for its models first (an unreachable server or a model it does not serve stops the
run, naming what it does serve), and connection failures, 401/403/404, 429 and 5xx end the run with the
server's own message after bounded retries. A 400 judges one request (a prompt past the context, a
conversation the template refuses): that sample is an error, with the server's message, and the rest go on.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from harness.evaluate.backends import BackendError, Generation, Request, cut_at_stop
from harness.recipe import GenerationSettings

log = logging.getLogger(__name__)

RETRYABLE = {408, 409, 429, 500, 502, 503, 504}
PER_REQUEST = {400, 413, 422}  # the server judged this request; others may pass


class OpenAIBackend:
    name = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key_env: str = "OPENAI_API_KEY",
        concurrency: int = 8,
        max_retries: int = 3,
        timeout: float = 300,
        chat: bool = False,
    ):
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key_env = api_key_env  # the name, never the key: nothing here is written to a run folder
        self.concurrency, self.max_retries, self.timeout, self.chat = concurrency, max_retries, timeout, chat
        self.usage = {"requests": 0, "prompt_tokens": 0, "completion_tokens": 0}
        self._lock = threading.Lock()
        self._answered = False  # some request has been answered: a failing batch is not a misconfiguration
        self._check_model()

    def describe(self) -> dict:
        """Where the generations came from, for the summary (never the key)."""
        return {"base_url": self.base_url, "model": self.model, "chat": self.chat, **self.usage}

    def _check_model(self) -> None:
        try:
            listing = self._call("GET", "/models")
        except _HTTPError as error:
            if error.status == 404:
                log.warning("%s has no /models route: the model name %r is not checked", self.base_url, self.model)
                return
            raise BackendError(str(error)) from None
        served = [entry.get("id") for entry in listing.get("data", []) if isinstance(entry, dict)]
        if served and self.model not in served:
            shown = ", ".join(repr(name) for name in served[:10]) + (" ..." if len(served) > 10 else "")
            raise BackendError(
                f"{self.base_url} does not serve {self.model!r} (it serves {shown}): "
                "set eval.backend_options.model to the served name"
            )

    def generate(self, requests: list[Request], settings: GenerationSettings) -> list[list[Generation]]:
        with ThreadPoolExecutor(self.concurrency) as pool:
            results = list(pool.map(lambda request: self._one(request, settings), requests))
        failed = [g[0] for g in results if g and g[0].finish_reason == "error"]
        if not self._answered and len(requests) > 1 and len(failed) == len(requests):
            raise BackendError(f"{self.base_url} refused every request of the first batch: {failed[0].error}")
        return results

    def _one(self, request: Request, settings: GenerationSettings) -> list[Generation]:
        body = {
            "model": self.model,
            "max_tokens": settings.max_new_tokens,
            "temperature": settings.temperature,
            "top_p": settings.top_p,
            "n": settings.n,
            "seed": settings.seed,
        }
        if settings.stop:
            body["stop"] = settings.stop
        names = {}
        if self.chat:
            names = api_names(request.tools or [])
            body["messages"] = openai_messages(request.messages, names)
            if request.tools:
                body["tools"] = [_renamed_tool(tool, names) for tool in request.tools]
            endpoint = "/chat/completions"
        else:
            body["prompt"] = request.prompt
            endpoint = "/completions"
        try:
            response = self._post(endpoint, body)
        except _HTTPError as error:  # only the per-request kinds reach here
            return [Generation("", "error", error=str(error)) for _ in range(settings.n)]
        usage = response.get("usage") or {}
        with self._lock:
            self._answered = True
            self.usage["requests"] += 1
            self.usage["prompt_tokens"] += usage.get("prompt_tokens") or 0
            self.usage["completion_tokens"] += usage.get("completion_tokens") or 0
        choices = sorted(response.get("choices") or [], key=lambda c: c.get("index", 0))
        generations = []
        for choice in choices:
            text = choice.get("text") if not self.chat else _chat_text(choice.get("message") or {}, names)
            text, _ = cut_at_stop(text or "", settings.stop)
            reason = "length" if choice.get("finish_reason") == "length" else "stop"
            tokens = usage.get("completion_tokens", 0) if len(choices) == 1 else 0
            generations.append(Generation(text, reason, tokens))
        if len(generations) != settings.n:
            message = f"{self.base_url}{endpoint} returned {len(generations)} choices for n={settings.n}"
            return [Generation("", "error", error=message) for _ in range(settings.n)]
        return generations

    def _post(self, endpoint: str, body: dict) -> dict:
        """The server's answer; a per-request refusal raises _HTTPError, anything else BackendError."""
        try:
            return self._call("POST", endpoint, body)
        except _HTTPError as error:
            if error.status in PER_REQUEST:
                raise
            raise BackendError(str(error)) from None

    def _call(self, method: str, endpoint: str, body: dict | None = None) -> dict:
        """One request with bounded retries of what may pass on a second try."""
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        data = None if body is None else json.dumps(body).encode()
        url = self.base_url + endpoint
        for attempt in range(self.max_retries + 1):
            request = urllib.request.Request(url, data=data, headers=headers, method=method)
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:  # the configured URL
                    return json.loads(response.read())
            except urllib.error.HTTPError as error:
                failure = _HTTPError(error.code, f"{method} {url}: HTTP {error.code}: {_server_message(error)}")
                if error.code not in RETRYABLE or attempt == self.max_retries:
                    raise failure from None
            except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
                if attempt == self.max_retries:
                    reason = getattr(error, "reason", error)
                    raise BackendError(
                        f"{method} {url}: {reason} (after {self.max_retries + 1} tries; is the server running?)"
                    ) from None
            except json.JSONDecodeError:
                raise BackendError(f"{method} {url}: the answer is not JSON") from None
            time.sleep(min(2**attempt, 30) * 0.5)
        raise AssertionError("unreachable")


class _HTTPError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _server_message(error: urllib.error.HTTPError) -> str:
    """The server's own explanation: OpenAI's {"error": {"message"}}, FastAPI's {"detail"}, or the text."""
    try:
        raw = error.read().decode("utf-8", "replace")
    except OSError:
        return error.reason or ""
    try:
        body = json.loads(raw)
    except json.JSONDecodeError:
        return raw[:500] or str(error.reason)
    if isinstance(body, dict):
        inner = body.get("error")
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])[:1000]
        for key in ("message", "detail", "error"):
            if body.get(key):
                return str(body[key])[:1000]
    return raw[:500]


def api_names(tools: list[dict]) -> dict[str, str]:
    """{name: the name sent}: OpenAI takes function names of letters, digits, _ and - only (64 at most), so BFCL's
    `math.factorial` goes as `math_factorial` and the answer's calls are named back (as BFCL does for such APIs)."""
    names = {}
    for tool in tools:
        name = tool.get("function", tool).get("name", "")
        names[name] = re.sub(r"[^A-Za-z0-9_-]", "_", name)[:64] or "_"
    if len(set(names.values())) < len(names):  # two names would collide: send them as they are
        return {name: name for name in names}
    return names


def openai_messages(messages: list[dict], names: dict[str, str] | None = None) -> list[dict]:
    """The conversation as OpenAI's API takes it: no null fields, every tool call with an id and its arguments
    as a JSON string, every tool result naming the call it answers (calls are answered in order)."""
    names = names or {}
    converted, unanswered = [], []
    for turn, message in enumerate(messages):
        entry = {key: value for key, value in message.items() if value is not None}
        if entry.get("tool_calls"):
            calls = []
            for number, call in enumerate(entry["tool_calls"]):
                function = call.get("function", call)
                arguments = function.get("arguments", {})
                call_id = call.get("id") or f"call_{turn}_{number}"
                unanswered.append(call_id)
                calls.append(
                    {
                        "id": call_id,
                        "type": "function",
                        "function": {
                            "name": names.get(function.get("name"), function.get("name")),
                            "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments),
                        },
                    }
                )
            entry["tool_calls"] = calls
        if entry.get("role") == "tool" and not entry.get("tool_call_id") and unanswered:
            entry["tool_call_id"] = unanswered.pop(0)
        converted.append(entry)
    return converted


def _renamed_tool(tool: dict, names: dict[str, str]) -> dict:
    function = tool.get("function", tool)
    renamed = {**function, "name": names.get(function.get("name"), function.get("name"))}
    return {"type": "function", "function": renamed}


def _chat_text(message: dict, names: dict[str, str]) -> str:
    original = {sent: name for name, sent in names.items()}
    text = message.get("content") or ""
    if message.get("reasoning_content"):
        text = f"<think>\n{message['reasoning_content']}\n</think>\n\n{text}"
    for call in message.get("tool_calls") or []:
        function = call.get("function", {})
        arguments = function.get("arguments", "{}")
        arguments = arguments if isinstance(arguments, str) else json.dumps(arguments)
        name = original.get(function.get("name"), function.get("name"))
        text += f'<tool_call>{{"name": {json.dumps(name)}, "arguments": {arguments}}}</tool_call>'
    return text
