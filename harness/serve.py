"""`harness serve`: a small OpenAI-compatible server over the transformers backend.

For trying a trained model with any OpenAI client, and for testing the openai backend against a real
server. Binds 127.0.0.1 unless told otherwise. `/v1/completions` takes rendered prompt text;
`/v1/chat/completions` renders the conversation with the model's chat template and returns parsed
`tool_calls` (parsed with json, never executed).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from harness.evaluate.backends import Request
from harness.evaluate.backends.transformers import TransformersBackend
from harness.evaluate.scorers.toolcall import ParseError, parse_tool_calls
from harness.recipe import GenerationSettings

log = logging.getLogger(__name__)


def make_server(backend: TransformersBackend, model_name: str, host: str = "127.0.0.1", port: int = 8000):
    lock = threading.Lock()  # one generate at a time: the model is not thread-safe

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format, *args):  # stdlib signature
            log.debug(format, *args)

        def _send(self, status: int, payload: dict) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):  # stdlib name
            if self.path.rstrip("/") == "/v1/models":
                return self._send(200, {"object": "list", "data": [{"id": model_name, "object": "model"}]})
            return self._send(404, {"error": {"message": f"no route {self.path}"}})

        def do_POST(self):  # stdlib name
            try:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                settings = GenerationSettings(
                    max_new_tokens=body.get("max_tokens") or 256,
                    temperature=body.get("temperature") or 0.0,
                    top_p=body.get("top_p") or 1.0,
                    n=body.get("n") or 1,
                    seed=body.get("seed") or 0,
                    stop=[body["stop"]] if isinstance(body.get("stop"), str) else body.get("stop") or [],
                )
                if self.path.rstrip("/") == "/v1/completions":
                    return self._completions(body, settings)
                if self.path.rstrip("/") == "/v1/chat/completions":
                    return self._chat(body, settings)
                return self._send(404, {"error": {"message": f"no route {self.path}"}})
            except (ValueError, KeyError, TypeError) as error:
                return self._send(400, {"error": {"message": str(error)}})

        def _generate(self, request: Request, settings: GenerationSettings):
            with lock:
                return backend.generate([request], settings)[0]

        def _completions(self, body: dict, settings: GenerationSettings):
            generations = self._generate(Request(prompt=body["prompt"], messages=[]), settings)
            choices = [
                {"index": i, "text": g.text, "finish_reason": g.finish_reason} for i, g in enumerate(generations)
            ]
            return self._send(
                200,
                {
                    "id": f"cmpl-{time.time_ns()}",
                    "object": "text_completion",
                    "model": model_name,
                    "created": int(time.time()),
                    "choices": choices,
                },
            )

        def _chat(self, body: dict, settings: GenerationSettings):
            messages, tools = body["messages"], body.get("tools")
            prompt = backend.tokenizer.apply_chat_template(
                messages, tools=tools, tokenize=False, add_generation_prompt=True
            )
            choices = []
            for index, generation in enumerate(self._generate(Request(prompt, messages, tools), settings)):
                message = {"role": "assistant", "content": generation.text}
                try:
                    calls = parse_tool_calls(generation.text) if tools else []
                except ParseError:
                    calls = []
                if calls:
                    message = {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [
                            {
                                "id": f"call_{index}_{n}",
                                "type": "function",
                                "function": {"name": c["name"], "arguments": json.dumps(c["arguments"])},
                            }
                            for n, c in enumerate(calls)
                        ],
                    }
                reason = "tool_calls" if calls else generation.finish_reason
                choices.append({"index": index, "message": message, "finish_reason": reason})
            return self._send(
                200,
                {
                    "id": f"chatcmpl-{time.time_ns()}",
                    "object": "chat.completion",
                    "model": model_name,
                    "created": int(time.time()),
                    "choices": choices,
                },
            )

    return ThreadingHTTPServer((host, port), Handler)
