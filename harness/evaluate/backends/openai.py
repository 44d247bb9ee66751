"""Any OpenAI-compatible server (`vllm serve`, SGLang, TGI, `harness serve`, a hosted API).

By default the rendered prompt text goes to `/v1/completions`, so the server sees exactly what every
other backend sees. `chat: true` sends the conversation and tools to `/v1/chat/completions` instead,
for hosted APIs that render it themselves; returned `tool_calls` come back as `<tool_call>` text so the
scorers read every backend's output the same way. The API key is read from the environment only.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from harness.evaluate.backends import Generation, Request, cut_at_stop
from harness.recipe import GenerationSettings

RETRYABLE = {408, 409, 429, 500, 502, 503, 504}


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

    def generate(self, requests: list[Request], settings: GenerationSettings) -> list[list[Generation]]:
        with ThreadPoolExecutor(self.concurrency) as pool:
            return list(pool.map(lambda request: self._one(request, settings), requests))

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
        if self.chat:
            body["messages"] = request.messages
            if request.tools:
                body["tools"] = request.tools
            endpoint = "/chat/completions"
        else:
            body["prompt"] = request.prompt
            endpoint = "/completions"
        try:
            response = self._post(endpoint, body)
        except RuntimeError as error:
            return [Generation("", "error", error=str(error)) for _ in range(settings.n)]
        generations = []
        for choice in sorted(response["choices"], key=lambda c: c.get("index", 0)):
            text = choice.get("text") if not self.chat else _chat_text(choice.get("message") or {})
            text, _ = cut_at_stop(text or "", settings.stop)
            reason = "length" if choice.get("finish_reason") == "length" else "stop"
            generations.append(Generation(text, reason, 0))
        return generations

    def _post(self, endpoint: str, body: dict) -> dict:
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        data = json.dumps(body).encode()
        last_error = None
        for attempt in range(self.max_retries + 1):
            request = urllib.request.Request(self.base_url + endpoint, data=data, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:  # configured URL
                    return json.loads(response.read())
            except urllib.error.HTTPError as error:
                last_error = f"HTTP {error.code} from {self.base_url}{endpoint}"
                if error.code not in RETRYABLE:
                    break
            except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
                last_error = f"{self.base_url}{endpoint}: {getattr(error, 'reason', error)}"
            time.sleep(min(2**attempt, 30) * 0.5)
        raise RuntimeError(last_error)


def _chat_text(message: dict) -> str:
    text = message.get("content") or ""
    if message.get("reasoning_content"):
        text = f"<think>\n{message['reasoning_content']}\n</think>\n\n{text}"
    for call in message.get("tool_calls") or []:
        function = call.get("function", {})
        arguments = function.get("arguments", "{}")
        arguments = arguments if isinstance(arguments, str) else json.dumps(arguments)
        text += f'<tool_call>{{"name": {json.dumps(function.get("name"))}, "arguments": {arguments}}}</tool_call>'
    return text
