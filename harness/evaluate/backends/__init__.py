"""Backends: rendered prompts and generation settings in, generated texts out. They never score.

Every backend receives the same prompt text, rendered once by `runner.render_prompt` with the chat
template saved in the model folder, so the same model gives the same greedy output everywhere.
"""

from __future__ import annotations

import importlib.util
import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from harness.recipe import EvalSettings, GenerationSettings

log = logging.getLogger(__name__)


class BackendError(RuntimeError):
    """The backend cannot generate at all (a server down, a model it does not serve): the evaluation stops."""


@dataclass
class Request:
    prompt: str  # rendered with the model's chat template, generation prompt included
    messages: list[dict]  # the same conversation, for chat-completions APIs that render it themselves
    tools: list[dict] | None = None


@dataclass
class Generation:
    text: str
    finish_reason: str  # "stop" (end of turn or stop string), "length" (hit max_new_tokens) or "error"
    tokens: int = 0
    error: str | None = None
    trajectory: dict | None = None  # a conversation played with tools (episodes.py): every step, end state


class Backend(Protocol):
    name: str

    def generate(self, requests: list[Request], settings: GenerationSettings) -> list[list[Generation]]:
        """One list of `settings.n` generations per request, in request order."""


def cut_at_stop(text: str, stop: list[str]) -> tuple[str, bool]:
    """Text up to the first stop string (excluded, as vLLM and OpenAI servers do) and whether one was hit."""
    positions = [text.find(s) for s in stop if s and s in text]
    return (text[: min(positions)], True) if positions else (text, False)


def vllm_available() -> bool:
    return importlib.util.find_spec("vllm") is not None


# Eval-set size (prompts) from which vLLM's engine start-up pays for itself, per device. CPU: measured by
# benchmarks/vllm_vs_transformers.py (start-up 47 s, 1.09x the tokens per second: 32,300 prompts). GPU:
# an estimate until that script runs on one (start-up about a minute, at least 10x the throughput).
VLLM_PAYS_OFF_FROM = {"cpu": 32_000, "cuda": 100}


def pick_backend(name: str, n_items: int | None = None, sharded: bool = False) -> str:
    """`auto`: transformers when the evaluation is sharded over launched processes (the one backend that
    shards); else vLLM when it is importable and the eval set is large enough for its start-up to pay off
    on this device (unknown size: vLLM on a GPU, transformers on a CPU); else transformers."""
    if name != "auto":
        return name
    if sharded:
        return "transformers"
    import torch

    if not vllm_available():
        return "transformers"
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if n_items is None:
        return "vllm" if device == "cuda" else "transformers"
    return "vllm" if n_items >= VLLM_PAYS_OFF_FROM[device] else "transformers"


@dataclass(frozen=True)
class BackendKind:
    """Everything the harness knows about one backend. The recipe's `eval.backend`, `harness eval --backend`,
    the lm-eval model type of `lm_eval` suites and `harness serve --engine` all read `BACKENDS`; a new backend is
    one module and one `register(BackendKind(...))`."""

    name: str
    # (model path, eval settings, model settings, the reference the user gave) -> the backend
    make: Callable[[str, EvalSettings, Any, str | None], Backend]
    lm_eval_model: str = "hf"  # the lm-eval model type that runs `lm_eval` suites for this backend
    serve_engine: bool = False  # `harness serve` can run it as its engine


def _transformers(model_path: str, settings: EvalSettings, model_settings, reference: str | None) -> Backend:
    from harness.evaluate.backends.transformers import TransformersBackend

    return TransformersBackend(
        model_path,
        model_settings.dtype,
        settings.batch_size,
        trust_remote_code=model_settings.trust_remote_code,
        chat_template=model_settings.chat_template,
    )


def _vllm(model_path: str, settings: EvalSettings, model_settings, reference: str | None) -> Backend:
    from harness.evaluate.backends.vllm import VllmBackend

    return VllmBackend(
        model_path,
        model_settings.dtype,
        trust_remote_code=model_settings.trust_remote_code,
        chat_template=model_settings.chat_template,
        **settings.backend_options,
    )


def _openai(model_path: str, settings: EvalSettings, model_settings, reference: str | None) -> Backend:
    from harness.evaluate.backends.openai import OpenAIBackend
    from harness.models.loading import served_name

    if not settings.base_url:
        raise ValueError("the openai backend needs eval.base_url (the server's /v1 URL)")
    options = dict(settings.backend_options)
    model = options.pop("model", None) or served_name(reference or model_path)  # as `harness serve` names it
    accepted = set(inspect.signature(OpenAIBackend).parameters) - {"base_url", "model"}
    if unknown := sorted(set(options) - accepted):
        raise ValueError(
            f"eval.backend_options: the openai backend takes {sorted(accepted | {'model'})}, not {unknown}"
        )
    return OpenAIBackend(settings.base_url, model, **options)


BACKENDS: dict[str, BackendKind] = {
    kind.name: kind
    for kind in (
        BackendKind("transformers", _transformers, lm_eval_model="hf", serve_engine=True),
        BackendKind("vllm", _vllm, lm_eval_model="vllm", serve_engine=True),
        BackendKind("openai", _openai),  # a server's model; lm_eval suites load the local one with hf
    )
}


def register(kind: BackendKind) -> BackendKind:
    """Add a backend (from a project's own code, before recipes are read); a name is registered once."""
    if kind.name in BACKENDS or kind.name == "auto":
        raise ValueError(f"a backend named {kind.name!r} is already registered")
    BACKENDS[kind.name] = kind
    return kind


def backend_names() -> tuple[str, ...]:
    """What `eval.backend` and `--backend` take: `auto` and every registered backend."""
    return ("auto", *BACKENDS)


def make_backend(
    name: str, settings: EvalSettings, model_path: str, model_settings=None, reference: str | None = None
) -> Backend:
    """The backend `name` (as `pick_backend` decided it) for the model."""
    from harness.recipe import ModelSettings

    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; expected one of {list(BACKENDS)}")
    return BACKENDS[name].make(model_path, settings, model_settings or ModelSettings(), reference)
