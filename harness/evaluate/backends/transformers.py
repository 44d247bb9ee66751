"""Batched generation with left padding and length-sorted batches; CPU or GPU.

Greedy decoding (what evaluation uses) runs its own short loop over the model's forward and KV cache
instead of `generate`: each sequence leaves the batch, and its cache rows are dropped, the step it
ends, so no compute goes to sequences that are done (`generate` keeps computing them until the
longest ends). The outputs are the same tokens `generate` gives. Sampling uses `generate`.
"""

from __future__ import annotations

import logging

from harness.evaluate.backends import Generation, Request, cut_at_stop
from harness.models.loading import load_model, load_tokenizer
from harness.models.template_checks import stop_token_ids
from harness.recipe import GenerationSettings

log = logging.getLogger(__name__)


class TransformersBackend:
    name = "transformers"

    def __init__(
        self,
        model_path: str,
        dtype: str = "auto",
        batch_size: int = 64,
        trust_remote_code: bool = False,
        chat_template: str | None = None,
        max_batch_tokens: int = 32_768,
    ):
        import torch

        from harness.launch import distributed_state

        tokenizer = load_tokenizer(model_path, chat_template, trust_remote_code=trust_remote_code)
        model = load_model(model_path, dtype, trust_remote_code, merge_adapter=True).eval()
        group = distributed_state()  # one launched process per GPU: each takes its own
        device = group.device if group else ("cuda" if torch.cuda.is_available() else "cpu")
        self._setup(model.to(device), tokenizer, batch_size, max_batch_tokens)

    @classmethod
    def from_objects(
        cls, model, tokenizer, batch_size: int = 64, max_batch_tokens: int = 32_768
    ) -> TransformersBackend:
        """Over a model already in memory (evaluation during training)."""
        backend = cls.__new__(cls)
        backend._setup(model, tokenizer, batch_size, max_batch_tokens)
        return backend

    def _setup(self, model, tokenizer, batch_size: int, max_batch_tokens: int) -> None:
        import copy

        self.model, self.batch_size, self.max_batch_tokens = model, batch_size, max_batch_tokens
        # Prompts that leave no room for max_new_tokens are refused, as OpenAI-style servers refuse them.
        self.context = getattr(model.config, "max_position_embeddings", None)
        self.device = next(model.parameters()).device
        self.tokenizer = copy.copy(tokenizer)
        self.tokenizer.padding_side = "left"
        # The template's end-of-turn token too: a Gemma turn ends with <end_of_turn>, not eos.
        self.stop_ids = stop_token_ids(self.tokenizer, self.model.generation_config.eos_token_id)

    def generate(self, requests: list[Request], settings: GenerationSettings) -> list[list[Generation]]:
        import torch

        encoded = [self.tokenizer(r.prompt, add_special_tokens=False)["input_ids"] for r in requests]
        results: list[list[Generation]] = [[] for _ in requests]
        fitting = []
        for index, ids in enumerate(encoded):
            if self.context and len(ids) + settings.max_new_tokens > self.context:
                error = (
                    f"prompt of {len(ids)} tokens + max_new_tokens {settings.max_new_tokens} exceeds the model's "
                    f"context of {self.context} tokens"
                )
                results[index] = [Generation("", "error", 0, error)] * settings.n
            else:
                fitting.append(index)
        # Longest first, so each batch pads little and an out-of-memory shows up in the first batch.
        order = sorted(fitting, key=lambda i: -len(encoded[i]))
        sampling = settings.temperature > 0
        for start, batch in self._batches(order, [len(ids) for ids in encoded], settings.n):
            inputs = self.tokenizer.pad({"input_ids": [encoded[i] for i in batch]}, return_tensors="pt").to(self.device)
            was_training = self.model.training
            self.model.eval()
            if not sampling and settings.n == 1:
                with torch.inference_mode():
                    new_tokens = self._greedy(inputs["input_ids"], inputs["attention_mask"], settings)
                self.model.train(was_training)
                for row, tokens in enumerate(new_tokens):
                    results[batch[row]].append(self._decode(tokens, settings))
                continue
            if sampling:
                torch.manual_seed(settings.seed + start)
            with torch.inference_mode():
                output = self.model.generate(
                    **inputs,
                    max_new_tokens=settings.max_new_tokens,
                    do_sample=sampling,
                    temperature=settings.temperature if sampling else None,
                    top_p=settings.top_p if sampling else None,
                    top_k=None,
                    num_return_sequences=settings.n,
                    eos_token_id=sorted(self.stop_ids),
                    pad_token_id=self.tokenizer.pad_token_id,
                    stop_strings=settings.stop or None,
                    tokenizer=self.tokenizer if settings.stop else None,
                )
            self.model.train(was_training)
            new_tokens = output[:, inputs["input_ids"].shape[1] :].tolist()
            for row, tokens in enumerate(new_tokens):
                results[batch[row // settings.n]].append(self._decode(tokens, settings))
        return results

    def _batches(self, order: list[int], lengths: list[int], n: int):
        """(start, rows): at most batch_size rows and max_batch_tokens padded tokens (rows x longest x n), so
        a batch of long prompts stays small (attention memory grows with the square of the length)."""
        start = 0
        while start < len(order):
            longest = lengths[order[start]] + 1
            size = max(1, min(self.batch_size, self.max_batch_tokens // (longest * n)))
            yield start, order[start : start + size]
            start += size

    def _greedy(self, input_ids, attention_mask, settings: GenerationSettings) -> list[list[int]]:
        """Greedy decoding that drops each sequence from the batch (and the KV cache) when it ends."""
        import torch
        from transformers import DynamicCache

        cache = DynamicCache(config=self.model.config)
        stop_ids = torch.tensor(sorted(self.stop_ids), device=self.device)
        positions = (attention_mask.cumsum(-1) - 1).clamp(min=0)  # as generate derives them from left padding
        active = list(range(len(input_ids)))  # original row of each row still generating
        generated: list[list[int]] = [[] for _ in active]
        step_ids = input_ids
        extra = {"logits_to_keep": 1} if keeps_logits(self.model) else {}
        for _ in range(settings.max_new_tokens):
            logits = self.model(
                input_ids=step_ids,
                attention_mask=attention_mask,
                position_ids=positions,
                past_key_values=cache,
                use_cache=True,
                **extra,
            ).logits[:, -1, :]
            next_ids = logits.argmax(-1)
            for row, token in zip(active, next_ids.tolist(), strict=True):
                generated[row].append(token)
            ended = torch.isin(next_ids, stop_ids)
            if settings.stop:
                texts = [self.tokenizer.decode(generated[row][-32:]) for row in active]
                ended |= torch.tensor([any(s in t for s in settings.stop) for t in texts], device=self.device)
            if ended.all():
                break
            if ended.any():
                keep = (~ended).nonzero().squeeze(1)
                cache.batch_select_indices(keep)
                active = [active[i] for i in keep.tolist()]
                next_ids, attention_mask, positions = next_ids[keep], attention_mask[keep], positions[keep]
            attention_mask = torch.cat([attention_mask, attention_mask.new_ones((len(active), 1))], dim=1)
            positions = positions[:, -1:] + 1
            step_ids = next_ids[:, None]
        return generated

    def _decode(self, tokens: list[int], settings: GenerationSettings) -> Generation:
        end = next((i for i, t in enumerate(tokens) if t in self.stop_ids), None)
        kept = tokens if end is None else tokens[:end]
        text, stopped = cut_at_stop(self.tokenizer.decode(kept, skip_special_tokens=True), settings.stop)
        finished = end is not None or stopped
        return Generation(text, "stop" if finished else "length", len(kept))


def keeps_logits(model) -> bool:
    """Whether the model's forward takes `logits_to_keep` (then only the last position's logits are computed)."""
    import inspect

    return "logits_to_keep" in inspect.signature(model.forward).parameters
