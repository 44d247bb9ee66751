"""Stand-in models of the chat-template families users bring: each family's real chat template (TRL's
shipped copies, Apache-2.0) or a stand-in written for the tests (`fixtures/templates/`, see its header),
on a small tokenizer trained here that carries the family's special tokens. The weights are random and tiny:
these models exist to check templates, masks and stops, not to generate well."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures" / "templates"
CHATML = ["<|im_start|>", "<|im_end|>", "<|endoftext|>"]
QWEN_TOOLS = ["<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>", "<think>", "</think>"]
LLAMA3 = [
    "<|begin_of_text|>",
    "<|start_header_id|>",
    "<|end_header_id|>",
    "<|eot_id|>",
    "<|eom_id|>",
    "<|python_tag|>",
    "<|end_of_text|>",
]
DEEPSEEK = [
    "<｜begin▁of▁sentence｜>",
    "<｜end▁of▁sentence｜>",
    "<｜User｜>",
    "<｜Assistant｜>",
    "<think>",
    "</think>",
    "<｜tool▁calls▁begin｜>",
    "<｜tool▁calls▁end｜>",
    "<｜tool▁call▁begin｜>",
    "<｜tool▁call▁end｜>",
    "<｜tool▁sep｜>",
    "<｜tool▁outputs▁begin｜>",
    "<｜tool▁outputs▁end｜>",
    "<｜tool▁output▁begin｜>",
    "<｜tool▁output▁end｜>",
]
GEMMA = ["<bos>", "<eos>", "<start_of_turn>", "<end_of_turn>"]
MISTRAL = [
    "<s>",
    "</s>",
    "[INST]",
    "[/INST]",
    "[TOOL_CALLS]",
    "[AVAILABLE_TOOLS]",
    "[/AVAILABLE_TOOLS]",
    "[TOOL_RESULTS]",
    "[/TOOL_RESULTS]",
]
PHI3 = ["<|system|>", "<|user|>", "<|assistant|>", "<|end|>", "<|endoftext|>"]


@dataclass(frozen=True)
class Family:
    name: str
    template: str  # "trl:<file stem>" or a fixture file name
    special_tokens: list[str]
    eos: str
    bos: str | None = None
    end_of_turn: str | None = None  # the token that ends an assistant turn, where it is not eos
    trl_trains: bool = True  # TRL 1.16 has a training template for it (or it has markers already)
    notes: dict = field(default_factory=dict)

    def template_text(self) -> str:
        if self.template.startswith("trl:"):
            import trl

            return (Path(trl.__file__).parent / "chat_templates" / f"{self.template[4:]}.jinja").read_text()
        return (FIXTURES / self.template).read_text()


FAMILIES = {
    family.name: family
    for family in [
        Family("qwen2.5", "trl:qwen2_5", CHATML + QWEN_TOOLS, eos="<|im_end|>"),
        Family("qwen3", "trl:qwen3", CHATML + QWEN_TOOLS, eos="<|im_end|>"),
        Family("llama3", "trl:llama3", LLAMA3, eos="<|eot_id|>", bos="<|begin_of_text|>"),
        Family("llama3.1", "trl:llama3_1", LLAMA3, eos="<|eot_id|>", bos="<|begin_of_text|>", trl_trains=False),
        Family("llama3.2", "trl:llama3_2", LLAMA3, eos="<|eot_id|>", bos="<|begin_of_text|>", trl_trains=False),
        Family("gemma2", "trl:gemma", GEMMA, eos="<eos>", bos="<bos>", end_of_turn="<end_of_turn>"),
        Family("gemma3", "trl:gemma3", GEMMA, eos="<eos>", bos="<bos>", end_of_turn="<end_of_turn>"),
        Family(
            "deepseek-r1-distill",
            "trl:deepseek_r1_distill",
            DEEPSEEK,
            eos="<｜end▁of▁sentence｜>",
            bos="<｜begin▁of▁sentence｜>",
        ),
        Family("phi3.5", "trl:phi3_5", PHI3, eos="<|endoftext|>", end_of_turn="<|end|>"),
        Family("phi4", "phi4.jinja", [*CHATML, "<|im_sep|>"], eos="<|im_end|>", trl_trains=False),
        Family("mistral-v0.3", "mistral_v3.jinja", MISTRAL, eos="</s>", bos="<s>", trl_trains=False),
        Family(
            "smollm2", "chatml_plain.jinja", CHATML, eos="<|endoftext|>", end_of_turn="<|im_end|>", trl_trains=False
        ),
        Family("smollm3", "smollm3.jinja", CHATML + QWEN_TOOLS, eos="<|im_end|>", trl_trains=False),
        Family("hermes3", "hermes3.jinja", CHATML + QWEN_TOOLS, eos="<|im_end|>", trl_trains=False),
    ]
}


def build_stand_in(family: Family, out: Path) -> Path:
    """A model folder: a 1-layer Llama over a small byte-level BPE whose only special tokens are the family's
    (so no other family's template fits it by accident), with the family's chat template."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from harness.data.builtin import MODES, generate, iter_text

    if (out / "config.json").exists():
        return out
    corpus = [text for mode in MODES for text in iter_text(generate(mode, "train", 100, 0))]
    corpus += [family.template_text(), "system user assistant tool model"] * 20
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=1200,
        special_tokens=family.special_tokens,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    bpe.train_from_iterator(corpus, trainer=trainer)
    pad = "<|endoftext|>" if "<|endoftext|>" in family.special_tokens else family.eos
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        eos_token=family.eos,
        bos_token=family.bos,
        pad_token=pad,
        chat_template=family.template_text(),
    )
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=4096,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    config_file = out / "tokenizer_config.json"
    config_file.write_text(
        json.dumps({**json.loads(config_file.read_text()), "tokenizer_class": "PreTrainedTokenizerFast"})
    )
    return out
