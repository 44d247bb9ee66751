"""The embedded default model: a small Llama-architecture LM with random weights and a locally trained tokenizer.

Nothing is downloaded. The build is deterministic from its spec and seed and cached on disk, and the
result is an ordinary `save_pretrained` folder that any transformers/TRL/vLLM code loads as it would a
hub model.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

from harness.recipe import TinySpec

log = logging.getLogger(__name__)

TEMPLATE_PATH = Path(__file__).with_name("chat_template.jinja")
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
# Markup the templates and generators use: single tokens keep sequences short and parsing exact.
MARKUP_TOKENS = [
    "<think>",
    "</think>",
    "<tool_call>",
    "</tool_call>",
    "<tool_response>",
    "</tool_response>",
    "<tools>",
    "</tools>",
]
BUILD_VERSION = 4  # bump when the build recipe changes, so old caches are not reused


def cache_root() -> Path:
    return Path(os.environ.get("HARNESS_CACHE", Path.home() / ".cache" / "harness"))


def tiny_model_path(spec: TinySpec | None = None, seed: int = 0) -> Path:
    """Folder of the tiny model for this spec and seed, building it on first use."""
    spec = spec or TinySpec()
    fingerprint = json.dumps(
        {"spec": spec.model_dump(), "seed": seed, "version": BUILD_VERSION, "template": TEMPLATE_PATH.read_text()},
        sort_keys=True,
    )
    path = cache_root() / "tiny" / hashlib.sha256(fingerprint.encode()).hexdigest()[:16]
    if not (path / "config.json").exists():
        build_tiny_model(path, spec, seed)
    return path


def train_tokenizer(spec: TinySpec, seed: int):
    """Byte-level BPE on text from the built-in generators, digits split one by one (arithmetic needs it).

    A space before a number stays with its first digit (" 84" -> " 8", "4"), saving a token per number."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from harness.data.builtin import MODES, generate, iter_text

    corpus = []
    for mode in MODES:
        corpus.extend(iter_text(generate(mode, "train", spec.tokenizer_corpus_rows, seed)))
    # The chat template's own words, as often as the turns they start.
    corpus += [TEMPLATE_PATH.read_text()] + ["system\nuser\nassistant\ntool\n"] * len(corpus)

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(r" ?\p{N}"), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=spec.vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(corpus, trainer=trainer)
    # Markup tokens are ordinary (not special) added tokens: decoding with skip_special_tokens keeps them.
    tokenizer.add_tokens([AddedToken(token, special=False, normalized=False) for token in MARKUP_TOKENS])
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=["<|im_start|>"],
        chat_template=TEMPLATE_PATH.read_text(),
        model_max_length=spec.max_position_embeddings,
    )


def build_tiny_model(path: Path, spec: TinySpec, seed: int) -> None:
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    log.info("building the embedded tiny model in %s", path)
    tokenizer = train_tokenizer(spec, seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_hidden_layers,
        num_attention_heads=spec.num_attention_heads,
        num_key_value_heads=spec.num_key_value_heads,
        max_position_embeddings=spec.max_position_embeddings,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(
        eos_token_id=[tokenizer.eos_token_id, tokenizer.pad_token_id],
        pad_token_id=tokenizer.pad_token_id,
        do_sample=False,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".building-", dir=path.parent))
    try:
        model.save_pretrained(staging, safe_serialization=True)
        tokenizer.save_pretrained(staging)
        _pin_tokenizer_class(staging)
        os.replace(staging, path) if not path.exists() else shutil.rmtree(staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _pin_tokenizer_class(folder: Path) -> None:
    """Name the generic class so AutoTokenizer loads tokenizer.json exactly as trained.

    This is also why the tiny model is a Llama and not a Qwen2: for model_type qwen2, transformers 5
    overrides the saved class with Qwen2Tokenizer, which swaps in Qwen's own pre-tokenizer."""
    config_file = folder / "tokenizer_config.json"
    config = json.loads(config_file.read_text())
    config["tokenizer_class"] = "PreTrainedTokenizerFast"
    config_file.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n")
