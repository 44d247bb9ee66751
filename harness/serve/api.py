"""OpenAI's request bodies, checked field by field, and its error shape.

Every way a body can be wrong becomes a 400 naming the field (`messages.0.role: Field required`), in the
error object OpenAI's SDKs read. Fields this engine cannot honour are refused, not ignored.
"""

from __future__ import annotations

import json
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from harness.data.formats import RowError, read_tool_call

MAX_BODY_BYTES = 16 * 1024 * 1024


class APIError(Exception):
    """A request the server answers with `status` and OpenAI's error object."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code

    def body(self) -> dict:
        kind = {400: "invalid_request_error", 404: "not_found_error", 413: "invalid_request_error"}
        return {
            "error": {
                "message": self.message,
                "type": kind.get(self.status, "server_error"),
                "param": self.param,
                "code": self.code,
            }
        }


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class TextPart(_Body):
    type: Literal["text"]
    text: str


class Function(_Body):
    name: str
    arguments: str | dict


class ToolCall(_Body):
    id: str | None = None
    type: Literal["function"] = "function"
    function: Function


class Message(_Body):
    model_config = ConfigDict(extra="allow")  # template-specific keys (reasoning_content, ...) reach the template
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None
    name: str | None = None

    @model_validator(mode="after")
    def _has_content(self):
        if self.content is None and not (self.role == "assistant" and self.tool_calls):
            raise ValueError(f"a {self.role} message needs content")
        return self


class FunctionSpec(_Body):
    model_config = ConfigDict(extra="allow")
    name: str = Field(min_length=1)
    description: str | None = None
    parameters: dict | None = None


class Tool(_Body):
    type: Literal["function"]
    function: FunctionSpec


class StreamOptions(_Body):
    include_usage: bool = False


class _Sampling(_Body):
    model: str | None = None
    temperature: float = Field(1.0, ge=0, le=2)
    top_p: float = Field(1.0, gt=0, le=1)
    n: int = Field(1, ge=1, le=16)
    seed: int | None = None
    stop: str | list[str] | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    logit_bias: dict | None = None
    user: str | None = None
    ignore_eos: bool = False  # vLLM's extension

    @model_validator(mode="after")
    def _supported(self):
        for name in ("presence_penalty", "frequency_penalty", "logit_bias"):
            if getattr(self, name):
                raise ValueError(f"{name} is not supported by the transformers engine (serve with --engine vllm)")
        return self

    @property
    def stop_strings(self) -> list[str]:
        return [self.stop] if isinstance(self.stop, str) else [s for s in self.stop or [] if s]

    @property
    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)


class ChatRequest(_Sampling):
    messages: list[Message] = Field(min_length=1)
    tools: list[Tool] | None = None
    tool_choice: Literal["none", "auto"] | dict | None = None
    parallel_tool_calls: bool | None = None
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    logprobs: bool = False
    top_logprobs: int | None = Field(None, ge=0, le=20)
    response_format: dict | None = None
    chat_template_kwargs: dict | None = None  # vLLM's extension: enable_thinking and the like

    @model_validator(mode="after")
    def _supported_chat(self):
        if isinstance(self.tool_choice, dict):
            raise ValueError("a named tool_choice is not supported by the transformers engine: use auto or none")
        if self.response_format and self.response_format.get("type", "text") != "text":
            raise ValueError("response_format other than text is not supported by the transformers engine")
        return self

    @property
    def requested_tokens(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens

    def template_messages(self) -> list[dict]:
        """The conversation as chat templates read it: text parts joined, tool-call arguments as objects."""
        rendered = []
        for index, message in enumerate(self.messages):
            entry = message.model_dump(exclude_none=True)
            entry["role"] = "system" if message.role == "developer" else message.role
            if isinstance(message.content, list):
                entry["content"] = "".join(part.text for part in message.content)
            for number, call in enumerate(message.tool_calls or []):
                where = f"messages.{index}.tool_calls.{number}"
                given = {"id": call.id, "function": {"name": call.function.name, "arguments": call.function.arguments}}
                try:
                    entry["tool_calls"][number] = read_tool_call(given, where)
                except RowError as error:
                    raise APIError(400, str(error), where) from None
            rendered.append(entry)
        return rendered


TokenIds = list[Annotated[int, Field(ge=0)]]


class CompletionRequest(_Sampling):
    prompt: str | list[str] | TokenIds | list[TokenIds]
    max_tokens: int = Field(16, ge=0)  # OpenAI's default for completions; 0 only with echo
    echo: bool = False
    logprobs: int | None = Field(None, ge=0, le=20)
    suffix: str | None = None
    best_of: int | None = None

    @model_validator(mode="after")
    def _supported_completion(self):
        if self.suffix:
            raise ValueError("suffix is not supported by the transformers engine")
        if self.best_of not in (None, self.n):
            raise ValueError("best_of other than n is not supported by the transformers engine")
        if self.max_tokens == 0 and not self.echo:
            raise ValueError("max_tokens must be at least 1 (0 only with echo)")
        if self.prompt == [] or self.prompt == [[]]:
            raise ValueError("prompt is empty")
        return self

    def prompts(self) -> list[str | list[int]]:
        """One entry per prompt: text, or token ids."""
        if isinstance(self.prompt, str):
            return [self.prompt]
        if all(isinstance(p, int) for p in self.prompt):
            return [list(self.prompt)]
        return list(self.prompt)


async def read_body(request) -> bytes:
    """The request's body, refused (413) once it passes MAX_BODY_BYTES, before more of it is read."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise APIError(413, f"request body of {declared} bytes exceeds the limit of {MAX_BODY_BYTES}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise APIError(413, f"request body exceeds the limit of {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_body(raw: bytes, schema: type[_Body]) -> _Body:
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as error:
        raise APIError(400, f"request body is not valid JSON: {error}") from None
    if not isinstance(body, dict):
        raise APIError(400, f"request body must be a JSON object, not {type(body).__name__}")
    try:
        return schema.model_validate(body)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        message = first["msg"].removeprefix("Value error, ")
        count = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
        raise APIError(400, f"{where}: {message}{count}" if where else f"{message}{count}", where or None) from None
