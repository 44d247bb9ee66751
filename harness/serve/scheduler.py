"""Token-by-token generation for the transformers engine of `harness serve`.

One worker thread owns the model. Every active request advances one token per turn, round robin, so a
request with a long completion cannot hold the others back, a request whose client went away stops at
its next turn, and every token can be streamed as it comes. Greedy decoding runs the same forward calls
(KV cache, explicit positions) as the transformers evaluation backend, so it gives the same tokens.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from harness.evaluate.backends import cut_at_stop
from harness.evaluate.backends.transformers import keeps_logits

log = logging.getLogger(__name__)


@dataclass
class TokenLogprob:
    token: str
    logprob: float | None  # None: the first prompt token, which nothing precedes
    top: list[tuple[str, float]]  # the most likely tokens at this position, most likely first


@dataclass
class Piece:
    """New text, and the log-probabilities of the tokens generated since the last piece."""

    text: str
    logprobs: list[TokenLogprob] = field(default_factory=list)


@dataclass
class Finished:
    reason: str  # "stop" (end of turn or stop string) or "length"
    prompt_tokens: int
    completion_tokens: int
    prompt_logprobs: list[TokenLogprob] | None = None  # echo: one per prompt token


@dataclass
class Failed:
    message: str


Event = Piece | Finished | Failed


@dataclass
class Job:
    prompt_ids: list[int]
    max_tokens: int
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    stop: list[str] = field(default_factory=list)
    logprobs: int | None = None  # alternatives per token (0: the chosen token only); None: no log-probabilities
    echo_logprobs: bool = False  # log-probabilities of the prompt tokens too
    ignore_eos: bool = False  # vLLM's option: generate max_tokens whatever the model says (benchmarks, tests)
    cancelled: threading.Event = field(default_factory=threading.Event)
    emit: Callable[[Event], None] | None = None  # called from the worker thread; set before submitting


class Scheduler:
    def __init__(self, model, tokenizer, stop_ids: set[int]):
        self.model, self.tokenizer, self.stop_ids = model, tokenizer, stop_ids
        self.keeps_logits = keeps_logits(model)  # read once: a signature lookup per token would be waste
        self._incoming: queue.Queue[Job] = queue.Queue()
        self.running = 0  # jobs being generated, for /health
        self._thread = threading.Thread(target=self._loop, name="harness-serve-generation", daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def submit(self, job: Job) -> None:
        if job.emit is None:
            raise ValueError("a job needs somewhere to emit its events")
        self._incoming.put(job)

    def _loop(self) -> None:
        import torch

        active: list[_Running] = []
        with torch.inference_mode():
            while True:
                try:
                    while True:
                        job = self._incoming.get(block=not active)
                        active.append(_Running(job, self))
                except queue.Empty:
                    pass
                self.running = len(active)
                for running in list(active):
                    if running.job.cancelled.is_set():
                        active.remove(running)
                        continue
                    try:
                        finished = running.step()
                    except Exception as error:  # one request's failure must not stop the others
                        log.exception("generation failed")
                        running.job.emit(Failed(f"generation failed: {type(error).__name__}: {error}"))
                        finished = True
                    if finished:
                        active.remove(running)
                self.running = len(active)


class _Running:
    """One job's decoding state: its KV cache, tokens so far, and how much text has gone out."""

    def __init__(self, job: Job, scheduler: Scheduler):
        import torch

        self.job, self.scheduler = job, scheduler
        self.model, self.tokenizer, self.stop_ids = scheduler.model, scheduler.tokenizer, scheduler.stop_ids
        self.device = next(self.model.parameters()).device
        self.cache = None
        self.prompt_logprobs: list[TokenLogprob] | None = None
        self.generated: list[int] = []
        self.sent = 0  # characters of text already emitted
        self.pending_logprobs: list[TokenLogprob] = []
        self.generator = None
        if job.temperature > 0:
            self.generator = torch.Generator(self.device)
            if job.seed is None:
                self.generator.seed()
            else:
                self.generator.manual_seed(job.seed)
        # Text that may be the start of a stop string is held back until it is known not to be one.
        self.hold_back = max((len(s) for s in job.stop), default=1) - 1

    def step(self) -> bool:
        """Generate one token (the first call also reads the prompt); True when the job has finished."""
        import torch
        from transformers import DynamicCache

        job = self.job
        if self.cache is None:
            self.cache = DynamicCache(config=self.model.config)
            ids = torch.tensor([job.prompt_ids], device=self.device)
            logits = self._forward(ids, torch.arange(len(job.prompt_ids), device=self.device)[None], job.echo_logprobs)
            if job.echo_logprobs:
                self.prompt_logprobs = self._prompt_logprobs(logits[0])
            if job.max_tokens == 0:
                return self._finish("length")
            logits = logits[0, -1]
        else:
            length = len(job.prompt_ids) + len(self.generated)
            ids = torch.tensor([[self.generated[-1]]], device=self.device)
            logits = self._forward(ids, torch.tensor([[length - 1]], device=self.device), False)[0, -1]
        token = self._choose(logits)
        if job.logprobs is not None:
            self.pending_logprobs.append(self._logprob(logits, token, job.logprobs))
        if token in self.stop_ids and not job.ignore_eos:
            return self._finish("stop", stop_token=True)
        self.generated.append(token)
        text = self.tokenizer.decode(self.generated, skip_special_tokens=True)
        cut, stopped = cut_at_stop(text, job.stop)
        if stopped:
            return self._finish("stop", cut)
        if len(self.generated) >= job.max_tokens:
            return self._finish("length", text)
        safe = len(text) - self.hold_back - (1 if text.endswith("\ufffd") else 0)  # an incomplete character waits
        if safe > self.sent:
            job.emit(Piece(text[self.sent : safe], self._take_logprobs()))
            self.sent = safe
        return False

    def _forward(self, ids, positions, all_logits: bool):
        import torch

        length = positions[0, -1].item() + 1
        extra = {"logits_to_keep": 1} if self.scheduler.keeps_logits and not all_logits else {}
        return self.model(
            input_ids=ids,
            attention_mask=torch.ones((1, length), dtype=torch.long, device=self.device),
            position_ids=positions,
            past_key_values=self.cache,
            use_cache=True,
            **extra,
        ).logits

    def _choose(self, logits) -> int:
        import torch

        if self.generator is None:
            return int(logits.argmax(-1))
        from transformers import TopPLogitsWarper

        scores = logits.float()[None] / self.job.temperature
        if self.job.top_p < 1.0:
            scores = TopPLogitsWarper(self.job.top_p)(None, scores)
        probabilities = torch.softmax(scores, -1)
        return int(torch.multinomial(probabilities, 1, generator=self.generator))

    def _logprob(self, logits, token: int, top: int) -> TokenLogprob:
        import torch

        logprobs = torch.log_softmax(logits.float(), -1)
        best = torch.topk(logprobs, top) if top else None
        alternatives = [] if best is None else list(zip(best.indices.tolist(), best.values.tolist(), strict=True))
        return TokenLogprob(
            self.tokenizer.decode([token]),
            float(logprobs[token]),
            [(self.tokenizer.decode([t]), value) for t, value in alternatives],
        )

    def _prompt_logprobs(self, logits) -> list[TokenLogprob]:
        """Each prompt token's log-probability given the tokens before it (the first has none)."""
        top = self.job.logprobs or 0
        ids = self.job.prompt_ids
        first = TokenLogprob(self.tokenizer.decode(ids[:1]), None, [])
        return [first] + [self._logprob(logits[i - 1], ids[i], top) for i in range(1, len(ids))]

    def _take_logprobs(self) -> list[TokenLogprob]:
        taken, self.pending_logprobs = self.pending_logprobs, []
        return taken

    def _finish(self, reason: str, text: str | None = None, stop_token: bool = False) -> bool:
        if text is None:
            text = self.tokenizer.decode(self.generated, skip_special_tokens=True)
        if len(text) > self.sent or self.pending_logprobs:
            self.job.emit(Piece(text[self.sent :], self._take_logprobs()))
        # The end-of-turn token counts as generated (as vLLM and OpenAI count it) though it is not in the text.
        completion_tokens = len(self.generated) + stop_token
        self.job.emit(Finished(reason, len(self.job.prompt_ids), completion_tokens, self.prompt_logprobs))
        return True
