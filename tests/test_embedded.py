"""The pretraining corpus and the pretraining script of the embedded base, on a few real steps."""

import json
import re

import pytest

from harness.data.builtin import corpus, generate
from harness.models.loading import EMBEDDED_PATH, resolve_model


def test_corpus_is_deterministic_and_every_kind_is_in_it():
    first, again = corpus.documents(70, seed=3), corpus.documents(70, seed=3)
    assert first == again and first != corpus.documents(70, seed=4)
    assert len(set(first)) > 60
    assert any("<tool_call>" in d for d in first) and any(" = " in d and d[0].isdigit() for d in first)


def test_record_documents_copy_the_sentences_values_into_json():
    records = [d for d in corpus.documents(700, seed=0) if d.count("\n") >= 1 and "{" in d]
    assert len(records) > 50
    for document in records:
        block = re.search(r"<tool_call>(.*)</tool_call>", document)
        data = json.loads(block.group(1))["arguments"] if block else None
        if data is None:
            line = next(line for line in document.splitlines() if line.startswith("{"))
            data = json.loads(line)
        text = document.split("\n")[0] if not document.startswith("{") else document.split("\n")[1]
        for value in data.values():
            shown = ("yes" if value else "no") if isinstance(value, bool) else str(value)
            assert shown in text, (document, value)


def test_corpus_holds_no_evaluation_item():
    """No tool name of the generators, and no test conversation of the chat generator, appears verbatim."""
    text = "\n".join(corpus.documents(2000, seed=0))
    assert not any(f'"name": "{name}"' in text for name in corpus.GENERATOR_TOOLS)
    for row in generate("chat", "test", 50):
        assert row["messages"][-1]["content"] not in text or len(row["messages"][-1]["content"]) < 12


@pytest.mark.slow
def test_pretraining_writes_a_loadable_base_with_its_model_card(tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from harness.models.pretrain import pretrain

    facts = pretrain(tmp_path / "base", steps=4, batch_size=2, length=64, learning_rate=1e-3, seed=0)
    assert facts["tokens_seen"] == 4 * 2 * 64 and facts["train_loss"] > 0
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "base")
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "base")
    assert model.num_parameters() == facts["parameters"] and tokenizer.chat_template
    card = (tmp_path / "base" / "README.md").read_text()
    assert "--steps 4 " in card and json.loads((tmp_path / "base" / "pretraining.json").read_text()) == facts
    assert not list(tmp_path.glob(".pretraining-*"))  # the staging folder is gone


def test_embedded_resolves_to_the_shipped_base():
    assert resolve_model("embedded") == str(EMBEDDED_PATH)
    assert (EMBEDDED_PATH / "model.safetensors").stat().st_size < 25 * 2**20
