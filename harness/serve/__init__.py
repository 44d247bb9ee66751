"""`harness serve`: a model, a run folder or a LoRA adapter behind an OpenAI-compatible API.

Two engines. `vllm` launches vLLM's own OpenAI server (`python -m vllm.entrypoints.openai.api_server`: the
entry point that works in the `vllm` extra, whose `vllm serve` command does not), configured with the
model's chat template, the tool-call parser matching it (`<tool_call>` -> hermes), the served name and,
on a CPU, the same float32 weights the transformers backend uses. `transformers` runs this package's
ASGI app over transformers (`harness.serve.app`): for machines without vLLM and for quick starts (one
second against vLLM's CPU engine's minute). `auto` takes vLLM where it is installed.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from harness.evaluate.backends import BACKENDS

log = logging.getLogger(__name__)

ENGINES = ("auto", *(kind.name for kind in BACKENDS.values() if kind.serve_engine))
VLLM_SERVER = "vllm.entrypoints.openai.api_server"


def pick_engine(name: str) -> str:
    from harness.evaluate.backends import vllm_available

    if name == "auto":
        return "vllm" if vllm_available() else "transformers"
    return name


def vllm_command(
    model_path: str,
    name: str,
    host: str,
    port: int,
    dtype: str = "auto",
    trust_remote_code: bool = False,
    engine_args: tuple[str, ...] = (),
) -> tuple[list[str], dict[str, str]]:
    """The command line and environment that serve `model_path` with vLLM as the transformers engine would."""
    from harness.evaluate.backends.vllm import as_flags, engine_options

    options = engine_options(model_path, dtype, trust_remote_code)  # sets vLLM's CPU memory in os.environ
    command = [sys.executable, "-m", VLLM_SERVER, *as_flags(options), "--host", host, "--port", str(port)]
    if options.get("enable_lora"):
        # The adapter is served unmerged under the served name; the base keeps a name of its own.
        command += ["--served-model-name", f"{name}-base", "--lora-modules", f"{name}={model_path}"]
    else:
        command += ["--served-model-name", name]
    template = Path(model_path) / "chat_template.jinja"
    if template.exists():
        command += ["--chat-template", str(template)]
        if "<tool_call>" in template.read_text(encoding="utf-8"):
            command += ["--enable-auto-tool-choice", "--tool-call-parser", "hermes"]
    return command + list(engine_args), dict(os.environ)


def run_transformers(
    model_path: str, name: str, host: str, port: int, dtype: str = "auto", trust_remote_code: bool = False
) -> None:
    import uvicorn

    from harness.models.loading import load_model, load_tokenizer
    from harness.serve.app import build_app

    tokenizer = load_tokenizer(model_path, trust_remote_code=trust_remote_code)
    model = load_model(model_path, dtype, trust_remote_code, merge_adapter=True).eval()
    import torch

    model.to("cuda" if torch.cuda.is_available() else "cpu")
    app = build_app(model, tokenizer, name)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="info", timeout_graceful_shutdown=5))
    server.run()
