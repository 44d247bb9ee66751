"""The transformers engine of `harness serve`: an ASGI app (Starlette, run by uvicorn, as vLLM's server is).

Routes: `/v1/chat/completions` (rendered with the model's chat template; `<tool_call>` blocks come back as
`tool_calls`, parsed with json, never executed), `/v1/completions` (text or token-id prompts, one or
many; `echo` and `logprobs` for lm-eval's log-likelihood requests), `/v1/models`, `/health`. Both
completion routes stream as server-sent events. A prompt and its completion must fit the model's context
(400 otherwise); a request stops when its client goes away.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from inspect import signature

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from harness.models.tool_calls import ParseError, parse_tool_calls
from harness.serve.api import APIError, ChatRequest, CompletionRequest, parse_body, read_body
from harness.serve.scheduler import Failed, Finished, Job, Piece, Scheduler, TokenLogprob

log = logging.getLogger(__name__)

TOOL_CALL_START = "<tool_call>"


def build_app(model, tokenizer, served_name: str) -> Starlette:
    from harness.data.formats import RENDER_ERRORS
    from harness.models.template_checks import stop_token_ids

    # The worker thread decodes with its own copy: a fast tokenizer is not safe to share between threads.
    scheduler = Scheduler(
        model, copy.deepcopy(tokenizer), stop_token_ids(tokenizer, model.generation_config.eos_token_id)
    )
    template_parameters = set(signature(tokenizer.apply_chat_template).parameters)  # not for chat_template_kwargs
    context = getattr(model.config, "max_position_embeddings", None)
    vocabulary = model.get_input_embeddings().num_embeddings
    created = int(time.time())
    model_card = {"id": served_name, "object": "model", "created": created, "owned_by": "harness"}
    if context:
        model_card["max_model_len"] = context

    def check_model(requested: str | None) -> None:
        if requested is not None and requested != served_name:
            raise APIError(404, f"The model `{requested}` does not exist; this server serves `{served_name}`.", "model")

    def budget(prompt_tokens: int, requested: int | None, param: str) -> int:
        """max_tokens as asked, or what the context leaves; a request that cannot fit is refused."""
        if context is None:
            return requested or 256
        wanted = requested if requested is not None else context - prompt_tokens
        if prompt_tokens + wanted > context or (requested is None and wanted <= 0):
            asked = requested or 0
            raise APIError(
                400,
                f"This model's maximum context length is {context} tokens. However, you requested "
                f"{prompt_tokens + asked} tokens ({prompt_tokens} in the {param}, {asked} in the "
                "completion). Please reduce the length of the prompt or the completion.",
                param,
                "context_length_exceeded",
            )
        return wanted

    def jobs_for(prompt_ids: list[int], max_tokens: int, body, logprobs: int | None, echo: bool) -> list[Job]:
        return [
            Job(
                prompt_ids,
                max_tokens,
                temperature=body.temperature,
                top_p=body.top_p,
                seed=None if body.seed is None else body.seed + i,
                stop=body.stop_strings,
                logprobs=logprobs,
                echo_logprobs=echo and logprobs is not None,
                ignore_eos=body.ignore_eos,
            )
            for i in range(body.n)
        ]

    async def chat(request: Request) -> Response:
        body = parse_body(await read_body(request), ChatRequest)
        check_model(body.model)
        messages = body.template_messages()
        tools = [tool.model_dump(exclude_none=True) for tool in body.tools] if body.tools else None
        reserved = sorted(set(body.chat_template_kwargs or {}) & template_parameters)
        if reserved:
            raise APIError(400, f"chat_template_kwargs may not set {', '.join(reserved)}", "chat_template_kwargs")
        try:
            prompt = tokenizer.apply_chat_template(
                messages, tools=tools, tokenize=False, add_generation_prompt=True, **(body.chat_template_kwargs or {})
            )
        except RENDER_ERRORS as error:
            raise APIError(400, f"the chat template cannot render these messages: {error}", "messages") from None
        prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        max_tokens = budget(len(prompt_ids), body.requested_tokens, "messages")
        top = (body.top_logprobs or 0) if body.logprobs else None
        jobs = jobs_for(prompt_ids, max_tokens, body, top, echo=False)
        parse_calls = bool(tools) and body.tool_choice != "none"
        reply = _Reply("chatcmpl", served_name)
        if body.stream:
            return _stream(scheduler, jobs, reply.chat_chunks(jobs, parse_calls, body.include_usage))
        results = await _collect(request, scheduler, jobs)
        if results is None:
            return Response(status_code=499)  # nobody is listening
        choices = []
        for index, (text, logprobs, finished) in enumerate(results):
            message, reason = _assistant_message(text, parse_calls, finished.reason)
            choice = {"index": index, "message": message, "logprobs": None, "finish_reason": reason}
            if body.logprobs:
                choice["logprobs"] = {"content": [_chat_logprob(entry) for entry in logprobs]}
            choices.append(choice)
        return JSONResponse(reply.body("chat.completion", choices, _usage(results)))

    async def completions(request: Request) -> Response:
        body = parse_body(await read_body(request), CompletionRequest)
        check_model(body.model)
        jobs, prompt_texts = [], []
        for prompt in body.prompts():
            if isinstance(prompt, str):
                prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
            else:
                if max(prompt, default=0) >= vocabulary:
                    raise APIError(400, f"token id {max(prompt)} is outside the vocabulary of {vocabulary}", "prompt")
                prompt_ids = prompt
            if not prompt_ids:
                raise APIError(400, "a prompt has no tokens", "prompt")
            max_tokens = budget(len(prompt_ids), body.max_tokens, "prompt")
            jobs += jobs_for(prompt_ids, max_tokens, body, body.logprobs, body.echo)
            text = prompt if isinstance(prompt, str) else tokenizer.decode(prompt_ids)
            prompt_texts += [text] * body.n
        reply = _Reply("cmpl", served_name)
        if body.stream:
            return _stream(scheduler, jobs, reply.completion_chunks(jobs, prompt_texts, body))
        results = await _collect(request, scheduler, jobs)
        if results is None:
            return Response(status_code=499)  # nobody is listening
        choices = []
        for index, (text, logprobs, finished) in enumerate(results):
            choice = {"index": index, "text": text, "logprobs": None, "finish_reason": finished.reason}
            if body.echo:
                choice["text"] = prompt_texts[index] + text
            if body.logprobs is not None:
                entries = (finished.prompt_logprobs or []) if body.echo else []
                choice["logprobs"] = _completion_logprobs(entries + logprobs)
            choices.append(choice)
        return JSONResponse(reply.body("text_completion", choices, _usage(results)))

    async def models(request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [model_card]})

    async def one_model(request: Request) -> Response:
        check_model(request.path_params["name"])
        return JSONResponse(model_card)

    async def health(request: Request) -> Response:
        if not scheduler.alive:
            return JSONResponse({"status": "generation worker stopped"}, status_code=503)
        return JSONResponse({"status": "ok", "running": scheduler.running})

    async def api_error(request: Request, error: APIError) -> Response:
        return JSONResponse(error.body(), status_code=error.status)

    async def http_error(request: Request, error: HTTPException) -> Response:
        return JSONResponse(
            APIError(error.status_code, f"{error.detail}: {request.method} {request.url.path}").body(),
            status_code=error.status_code,
        )

    async def server_error(request: Request, error: Exception) -> Response:
        log.exception("request failed")
        return JSONResponse(APIError(500, f"internal error: {type(error).__name__}").body(), status_code=500)

    return Starlette(
        routes=[
            Route("/v1/chat/completions", chat, methods=["POST"]),
            Route("/v1/completions", completions, methods=["POST"]),
            Route("/v1/models", models, methods=["GET"]),
            Route("/v1/models/{name:path}", one_model, methods=["GET"]),
            Route("/health", health, methods=["GET"]),
        ],
        exception_handlers={APIError: api_error, HTTPException: http_error, Exception: server_error},
    )


def _connect(scheduler: Scheduler, jobs: list[Job]) -> asyncio.Queue:
    """Submit the jobs; their events arrive on one queue as (choice index, event)."""
    loop = asyncio.get_running_loop()
    events: asyncio.Queue = asyncio.Queue()
    for index, job in enumerate(jobs):
        job.emit = lambda event, index=index: loop.call_soon_threadsafe(events.put_nowait, (index, event))
        scheduler.submit(job)
    return events


async def _collect(request: Request, scheduler: Scheduler, jobs: list[Job]):
    """[(text, logprobs, Finished)] per job, in order; None, and the jobs cancelled, if the client goes away."""
    events = _connect(scheduler, jobs)
    texts = [[] for _ in jobs]
    logprobs: list[list[TokenLogprob]] = [[] for _ in jobs]
    finished: list[Finished | None] = [None] * len(jobs)
    try:
        while any(f is None for f in finished):
            try:
                index, event = await asyncio.wait_for(events.get(), timeout=0.5)
            except asyncio.TimeoutError:
                if await request.is_disconnected():
                    log.info("client went away: request cancelled")
                    return None
                continue
            if isinstance(event, Failed):
                raise APIError(500, event.message)
            if isinstance(event, Piece):
                texts[index].append(event.text)
                logprobs[index] += event.logprobs
            else:
                finished[index] = event
    finally:
        for job in jobs:
            job.cancelled.set()
    return [("".join(t), lp, f) for t, lp, f in zip(texts, logprobs, finished, strict=True)]


def _stream(scheduler: Scheduler, jobs: list[Job], chunks) -> StreamingResponse:
    events = _connect(scheduler, jobs)

    async def body() -> AsyncIterator[str]:
        try:
            async for chunk in chunks(events):
                yield f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"
        except _GenerationFailed as failure:  # the status line has gone out: the error travels as an event
            yield f"data: {json.dumps(APIError(500, str(failure)).body())}\n\n"
        finally:  # also when the client disconnects and the response task is cancelled
            for job in jobs:
                job.cancelled.set()
        yield "data: [DONE]\n\n"

    return StreamingResponse(body(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


class _GenerationFailed(Exception):
    pass


async def _until_finished(events: asyncio.Queue, count: int) -> AsyncIterator[tuple[int, Piece | Finished]]:
    """(choice index, event) until all `count` jobs have finished; a failed job ends the stream."""
    remaining = count
    while remaining:
        index, event = await events.get()
        if isinstance(event, Failed):
            raise _GenerationFailed(event.message)
        remaining -= isinstance(event, Finished)
        yield index, event


class _Reply:
    """What every response of one request shares: its id, creation time and model name."""

    def __init__(self, prefix: str, model: str):
        self.id, self.created, self.model = f"{prefix}-{uuid.uuid4().hex}", int(time.time()), model

    def body(self, kind: str, choices: list[dict], usage: dict | None = None) -> dict:
        body = {"id": self.id, "object": kind, "created": self.created, "model": self.model, "choices": choices}
        if usage is not None:
            body["usage"] = usage
        return body

    def chat_chunks(self, jobs: list[Job], parse_calls: bool, include_usage: bool):
        async def chunks(events: asyncio.Queue):
            def chunk(index: int, delta: dict, reason: str | None = None, logprobs=None) -> dict:
                choice = {"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": reason}
                return self.body("chat.completion.chunk", [choice], None) | ({"usage": None} if include_usage else {})

            for index in range(len(jobs)):
                yield chunk(index, {"role": "assistant", "content": ""})
            texts = [""] * len(jobs)
            sent = [0] * len(jobs)  # characters of each choice's text sent as content
            usage = _Usage()
            async for index, event in _until_finished(events, len(jobs)):
                logprobs = None
                if isinstance(event, Piece):
                    texts[index] += event.text
                    if event.logprobs and jobs[index].logprobs is not None:
                        logprobs = {"content": [_chat_logprob(entry) for entry in event.logprobs]}
                    # Content goes out until a tool call may be starting; the call itself is sent whole.
                    end = _content_end(texts[index]) if parse_calls else len(texts[index])
                    if end > sent[index] or logprobs:
                        yield chunk(index, {"content": texts[index][sent[index] : end]}, logprobs=logprobs)
                        sent[index] = max(end, sent[index])
                    continue
                usage.add(event)
                message, reason = _assistant_message(texts[index], parse_calls, event.reason)
                if message.get("tool_calls"):
                    rest = (message["content"] or "")[sent[index] :]
                    if rest:
                        yield chunk(index, {"content": rest})
                    calls = [dict(call, index=n) for n, call in enumerate(message["tool_calls"])]
                    yield chunk(index, {"tool_calls": calls})
                elif len(texts[index]) > sent[index]:
                    yield chunk(index, {"content": texts[index][sent[index] :]})
                yield chunk(index, {}, reason)
            if include_usage:
                yield self.body("chat.completion.chunk", [], usage.body())

        return chunks

    def completion_chunks(self, jobs: list[Job], prompt_texts: list[str], body: CompletionRequest):
        async def chunks(events: asyncio.Queue):
            def chunk(index: int, text: str, reason: str | None = None, logprobs=None) -> dict:
                choice = {"index": index, "text": text, "logprobs": logprobs, "finish_reason": reason}
                return self.body("text_completion", [choice], None) | ({"usage": None} if body.include_usage else {})

            if body.echo:
                for index, text in enumerate(prompt_texts):
                    yield chunk(index, text)
            usage = _Usage()
            async for index, event in _until_finished(events, len(jobs)):
                if isinstance(event, Piece):
                    logprobs = _completion_logprobs(event.logprobs) if body.logprobs is not None else None
                    yield chunk(index, event.text, logprobs=logprobs)
                    continue
                usage.add(event)
                yield chunk(index, "", event.reason)
            if body.include_usage:
                yield self.body("text_completion", [], usage.body())

        return chunks


class _Usage:
    """Token counts of one request: each prompt once (the n choices of a prompt share it), every completion."""

    def __init__(self):
        self.prompt_tokens, self.completion_tokens = 0, 0

    def add(self, finished: Finished) -> None:
        self.prompt_tokens += finished.prompt_tokens
        self.completion_tokens += finished.completion_tokens

    def body(self) -> dict:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
        }


def _usage(results) -> dict:
    usage = _Usage()
    for _, _, finished in results:
        usage.add(finished)
    return usage.body()


def _content_end(text: str) -> int:
    """How much of `text` is surely content: up to a tool call, or to what may be the start of one."""
    start = text.find(TOOL_CALL_START)
    if start >= 0:
        return start
    for keep in range(min(len(TOOL_CALL_START) - 1, len(text)), 0, -1):
        if TOOL_CALL_START.startswith(text[-keep:]):
            return len(text) - keep
    return len(text)


def _assistant_message(text: str, parse_calls: bool, reason: str) -> tuple[dict, str]:
    """The assistant message and finish reason; text before a tool call stays as content. Output that looks
    like a call but does not parse is returned as content, as it was written."""
    start = text.find(TOOL_CALL_START) if parse_calls else -1
    if start < 0:
        return {"role": "assistant", "content": text}, reason
    try:
        calls = parse_tool_calls(text[start:])
    except ParseError:
        return {"role": "assistant", "content": text}, reason
    content = text[:start].strip() or None
    tool_calls = [
        {
            "id": f"call_{uuid.uuid4().hex[:24]}",
            "type": "function",
            "function": {"name": call["name"], "arguments": json.dumps(call["arguments"], ensure_ascii=False)},
        }
        for call in calls
    ]
    return {"role": "assistant", "content": content, "tool_calls": tool_calls}, "tool_calls"


def _chat_logprob(entry: TokenLogprob) -> dict:
    return {
        "token": entry.token,
        "logprob": entry.logprob,
        "bytes": list(entry.token.encode()),
        "top_logprobs": [{"token": t, "logprob": v, "bytes": list(t.encode())} for t, v in entry.top],
    }


def _completion_logprobs(entries: list[TokenLogprob]) -> dict:
    """OpenAI's completions logprobs: parallel lists, None for the first prompt token of an echo."""
    tokens, values, tops, offsets, offset = [], [], [], [], 0
    for entry in entries:
        tokens.append(entry.token)
        values.append(entry.logprob)
        tops.append(None if entry.logprob is None else dict(entry.top))
        offsets.append(offset)
        offset += len(entry.token)
    return {"tokens": tokens, "token_logprobs": values, "top_logprobs": tops, "text_offset": offsets}
