"""The embedded tiny model: built offline, deterministic, and an ordinary save_pretrained folder."""

import json

import pytest
import torch
from tokenizers import Tokenizer
from transformers import AutoModelForCausalLM, AutoTokenizer

from harness.data import builtin
from harness.models.tiny import build_tiny_model
from harness.recipe import TinySpec

SMALL = TinySpec(
    vocab_size=512,
    hidden_size=32,
    intermediate_size=64,
    num_hidden_layers=1,
    num_attention_heads=2,
    num_key_value_heads=1,
    tokenizer_corpus_rows=100,
)


def test_auto_tokenizer_gives_back_the_trained_tokenizer_token_for_token(tiny_path):
    trained = Tokenizer.from_file(str(tiny_path / "tokenizer.json"))
    loaded = AutoTokenizer.from_pretrained(tiny_path)
    texts = [
        m["content"]
        for mode in builtin.MODES
        for row in builtin.generate(mode, "test", 20)
        for m in row.get("messages", row.get("prompt", []))
    ]
    texts += ["  spaces\tand\ttabs\n\n", "Übersetze 1234567 😀", "<|im_start|>user\n<think>x</think><|im_end|>"]
    for text in texts:
        assert loaded(text, add_special_tokens=False)["input_ids"] == trained.encode(text).ids, text
        assert loaded.decode(trained.encode(text).ids) == text


def test_digits_are_single_tokens_and_markup_is_one_token(tokenizer):
    assert tokenizer.tokenize("1234") == ["1", "2", "3", "4"]
    for markup in ("<think>", "</think>", "<tool_call>", "</tool_call>", "<|im_end|>"):
        assert len(tokenizer(markup, add_special_tokens=False)["input_ids"]) == 1
    # Markup is kept when decoding with skip_special_tokens; only ChatML control tokens are dropped.
    ids = tokenizer("<think>a</think><|im_end|>", add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(ids, skip_special_tokens=True) == "<think>a</think>"


def test_model_loads_like_a_hub_model_and_generates(tiny_path, tokenizer):
    model = AutoModelForCausalLM.from_pretrained(tiny_path)
    assert 0.5e6 < sum(p.numel() for p in model.parameters()) < 3e6
    assert (tiny_path / "model.safetensors").exists()
    assert json.loads((tiny_path / "tokenizer_config.json").read_text())["tokenizer_class"] == "PreTrainedTokenizerFast"
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Hi"}], add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    out = model.generate(**prompt, max_new_tokens=5, do_sample=False)
    assert out.shape[1] > prompt["input_ids"].shape[1]


def test_build_is_deterministic_from_spec_and_seed(tmp_path):
    build_tiny_model(tmp_path / "a", SMALL, seed=3)
    build_tiny_model(tmp_path / "b", SMALL, seed=3)
    build_tiny_model(tmp_path / "c", SMALL, seed=4)
    assert (tmp_path / "a" / "tokenizer.json").read_text() == (tmp_path / "b" / "tokenizer.json").read_text()
    weights = [AutoModelForCausalLM.from_pretrained(tmp_path / name).state_dict() for name in "abc"]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    assert not all(torch.equal(weights[0][k], weights[2][k]) for k in weights[0])


def test_the_cache_is_reused(harness_cache):
    from harness.models.tiny import tiny_model_path

    first = tiny_model_path()
    stamp = (first / "model.safetensors").stat().st_mtime_ns
    assert tiny_model_path() == first and (first / "model.safetensors").stat().st_mtime_ns == stamp
    assert first.is_relative_to(harness_cache)


@pytest.mark.parametrize("bad", [{"hidden_size": "big"}, {"layers": 3}])
def test_bad_tiny_spec_is_rejected(bad):
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        TinySpec(**bad)
